"""CLI commands that work against a running server: search, analyze, summarize, index, videos, tasks.

`register(app)` adds them to the main app (`framedex.cli.main`); this module does not import that one,
so `python -m framedex.cli.main` (which runs as `__main__`) registers on the app it runs. Every command
prints a table for people or, with `--json`, the API's JSON for scripts. Exit codes mean something:
0 success, 1 the server refused or failed the request (or a deletion was declined), 3 the server could not
be reached, 4 what was asked for does not exist (usage errors, such as `index delete` without --yes and
no terminal to ask on, are typer's 2).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from framedex.errors import ApiError, FramedexError

EXIT_API_ERROR = 1
EXIT_UNREACHABLE = 3
EXIT_NOT_FOUND = 4

index_app = typer.Typer(help="List, create and delete indexes.", no_args_is_help=True)
videos_app = typer.Typer(help="List the videos of an index.", no_args_is_help=True)
tasks_app = typer.Typer(help="List and inspect upload tasks.", no_args_is_help=True)

console = Console(stderr=True)
out = Console()

ServerUrl = Annotated[str, typer.Option("--url", envvar="FRAMEDEX_URL", help="Base URL of a running server.")]
ApiKeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="FRAMEDEX_API_KEY",
                                               help="API key (x-api-key) for the server.")]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]
DEFAULT_URL = "http://127.0.0.1:8000"


def register(app: typer.Typer) -> None:
    for command in (search, analyze, summarize):
        app.command()(command)
    app.add_typer(index_app, name="index")
    app.add_typer(videos_app, name="videos")
    app.add_typer(tasks_app, name="tasks")


def _client(url: str, api_key: str | None) -> Any:
    from framedex import TwelveLabs

    return TwelveLabs(api_key=api_key or "", base_url=url)


@contextlib.contextmanager
def _api_errors() -> Iterator[None]:
    """The server's own code and message on stderr, and an exit code a script can branch on."""
    try:
        yield
    except ApiError as exc:
        console.print(f"[red]error[/red] {exc.status_code} {exc.code or ''}: {exc.message or exc.body}")
        raise typer.Exit(EXIT_NOT_FOUND if exc.status_code == 404 else EXIT_API_ERROR) from exc
    except httpx.TransportError as exc:
        console.print(f"[red]error[/red] cannot reach the server: {exc}")
        raise typer.Exit(EXIT_UNREACHABLE) from exc
    except FramedexError as exc:
        console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(EXIT_API_ERROR) from exc


def _dump(value: Any) -> None:
    """JSON on stdout, by wire names (`_id`), as the API sent it."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif isinstance(value, list):
        value = [v.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(v, BaseModel) else v
                 for v in value]
    out.print_json(json.dumps(value))


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(float(seconds), 60)
    return f"{int(minutes)}:{secs:04.1f}"


def _snippet(text: str | None, width: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def search(
    query: Annotated[str | None, typer.Argument(help="Text to search for (optional with --image).")] = None,
    index: Annotated[str, typer.Option("--index", "-i", help="Index id.")] = "",
    options: Annotated[str, typer.Option("--options", "-o",
                                         help="Comma-separated: visual, audio, transcription.")] = "visual,audio",
    image: Annotated[Path | None, typer.Option("--image", exists=True, dir_okay=False,
                                               help="Search with this picture (alone or with text).")] = None,
    operator: Annotated[str | None, typer.Option(help="How options combine: or | and.")] = None,
    group_by: Annotated[str | None, typer.Option("--group-by", help="clip | video.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=50, help="Results per page.")] = 10,
    url: ServerUrl = DEFAULT_URL, api_key: ApiKeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Search an index: video, start-end, score and transcript snippet of each hit."""
    if not index:
        console.print("[red]error[/red] --index is required.")
        raise typer.Exit(2)
    if not query and image is None:
        console.print("[red]error[/red] give a QUERY, an --image, or both.")
        raise typer.Exit(2)
    client = _client(url, api_key)
    search_options = [o.strip() for o in options.split(",") if o.strip()]
    with _api_errors(), contextlib.ExitStack() as files:
        media = files.enter_context(image.open("rb")) if image is not None else None
        page = client.search.create(
            index_id=index, search_options=search_options, query_text=query or None,
            query_media_type="image" if media is not None else None, query_media_file=media,
            operator=operator, group_by=group_by, page_limit=limit,
        )
    if as_json:
        _dump(page)
        return
    table = Table("#", "video", "start-end", "score", "confidence", "transcript", title=f"search: {query or image}")
    rank = 0
    for item in page.data or []:
        for hit in item.clips or [item]:
            rank += 1
            score = f"{hit.score:.1f}" if hit.score is not None else "-"
            table.add_row(str(rank), hit.video_id or item.id or "-", f"{_clock(hit.start)}-{_clock(hit.end)}",
                          score, hit.confidence or "-", _snippet(hit.transcription))
    out.print(table)
    total = page.page_info.total_results if page.page_info is not None else None
    console.print(f"{rank} shown" + (f" of {total}" if total is not None else "") + ".")


def analyze(
    video_id: Annotated[str, typer.Argument(help="Id of an indexed video.")],
    prompt: Annotated[str, typer.Argument(help="What to ask about the video.")],
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (0-1).")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Longest answer, in tokens.")] = None,
    stream: Annotated[bool, typer.Option(help="Print the answer as it is generated.")] = True,
    url: ServerUrl = DEFAULT_URL, api_key: ApiKeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Ask a question about a video; the answer streams to stdout as the model writes it."""
    client = _client(url, api_key)
    with _api_errors():
        if as_json or not stream:
            result = client.analyze(video_id=video_id, prompt=prompt, temperature=temperature,
                                    max_tokens=max_tokens)
            if as_json:
                _dump(result)
            else:
                out.print(result.data or "")
            return
        finish = None
        for event in client.analyze_stream(video_id=video_id, prompt=prompt, temperature=temperature,
                                           max_tokens=max_tokens):
            if event.event_type == "text_generation":
                # Plain writes, flushed per piece: a pipe sees the words as they come, not at the end.
                sys.stdout.write(getattr(event, "text", None) or "")
                sys.stdout.flush()
            elif event.event_type == "stream_end":
                finish = event
        sys.stdout.write("\n")
        sys.stdout.flush()
    error = getattr(finish, "error", None)
    if error is not None:
        console.print(f"[red]error[/red] {getattr(error, 'message', error)}")
        raise typer.Exit(EXIT_API_ERROR)


def summarize(
    video_id: Annotated[str, typer.Argument(help="Id of an indexed video.")],
    kind: Annotated[str, typer.Option("--type", "-t", help="summary | chapter | highlight.")] = "summary",
    prompt: Annotated[str | None, typer.Option(help="Extra instructions.")] = None,
    url: ServerUrl = DEFAULT_URL, api_key: ApiKeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """A summary, chapters or highlights of a video (chapters and highlights with their times)."""
    if kind not in ("summary", "chapter", "highlight"):
        console.print("[red]error[/red] --type is summary, chapter or highlight.")
        raise typer.Exit(2)
    client = _client(url, api_key)
    with _api_errors():
        result = client.summarize(video_id=video_id, type=kind, prompt=prompt)
    if as_json:
        _dump(result)
        return
    if kind == "summary":
        out.print(result.summary or "")
        return
    rows = (result.chapters if kind == "chapter" else result.highlights) or []
    table = Table("start-end", "title" if kind == "chapter" else "highlight", "summary")
    for r in rows:
        title = getattr(r, "chapter_title", None) or getattr(r, "highlight", None) or "-"
        text = getattr(r, "chapter_summary", None) or getattr(r, "highlight_summary", None) or ""
        table.add_row(f"{_clock(getattr(r, 'start_sec', None) or getattr(r, 'start', None))}-"
                      f"{_clock(getattr(r, 'end_sec', None) or getattr(r, 'end', None))}", title, _snippet(text, 80))
    out.print(table)


def _options(raw: str) -> list[str]:
    return [o.strip() for o in raw.split(",") if o.strip()]


@index_app.command("list")
def index_list(
    name: Annotated[str | None, typer.Option(help="Only the index with this name.")] = None,
    url: ServerUrl = DEFAULT_URL, api_key: ApiKeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Every index, newest first: id, name, models, video count, total duration."""
    client = _client(url, api_key)
    with _api_errors():
        items = list(client.indexes.list(index_name=name, sort_by="created_at", sort_option="desc"))
    if as_json:
        _dump(items)
        return
    table = Table("index id", "name", "models", "addons", "videos", "duration", "created at")
    for index in items:
        models = ", ".join(f"{m.model_name} ({'+'.join(m.model_options or [])})" for m in index.models or [])
        table.add_row(index.id or "-", index.index_name or "-", models or "-", ", ".join(index.addons or []) or "-",
                      str(int(index.video_count or 0)), _clock(index.total_duration or 0),
                      index.created_at or "-")
    out.print(table)
    console.print(f"{len(items)} index(es).")


@index_app.command("create")
def index_create(
    name: Annotated[str, typer.Argument(help="Index name.")],
    model: Annotated[str, typer.Option(help="Search model, as in the real API (empty: none).")] = "marengo3.0",
    options: Annotated[str, typer.Option(help="Comma-separated options of the search model.")] = "visual,audio",
    generation_model: Annotated[str | None, typer.Option(
        "--generation-model", help="Also a model for analyze/summarize, e.g. pegasus1.2.")] = None,
    generation_options: Annotated[str, typer.Option(
        "--generation-options", help="Comma-separated options of the generation model.")] = "visual,audio",
    thumbnails: Annotated[bool, typer.Option("--thumbnails", help="Add the thumbnail addon.")] = False,
    url: ServerUrl = DEFAULT_URL, api_key: ApiKeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create an index; prints its id (or, with --json, the API's answer)."""
    models = [{"model_name": m, "model_options": _options(o)}
              for m, o in ((model, options), (generation_model, generation_options)) if m]
    if not models:
        console.print("[red]error[/red] give a --model, a --generation-model, or both.")
        raise typer.Exit(2)
    client = _client(url, api_key)
    with _api_errors():
        extra = {"addons": ["thumbnail"]} if thumbnails else {}
        index = client.indexes.create(index_name=name, models=models, **extra)
    if as_json:
        _dump(index)
    else:
        out.print(index.id, highlight=False)


@index_app.command("delete")
def index_delete(
    index_id: Annotated[str, typer.Argument(help="Id of the index to delete, with all its videos.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: ServerUrl = DEFAULT_URL, api_key: ApiKeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Delete an index and every video in it. Asks first, unless --yes; a script must pass --yes."""
    client = _client(url, api_key)
    with _api_errors():
        index = client.indexes.retrieve(index_id)
        if not yes:
            if not sys.stdin.isatty():
                console.print("[red]error[/red] not deleted: pass --yes to delete without a terminal to ask on.")
                raise typer.Exit(2)
            videos = int(index.video_count or 0)
            if not typer.confirm(f"Delete index {index.index_name!r} ({index_id}) and its {videos} video(s)?",
                                 err=True):
                console.print("Not deleted.")
                raise typer.Exit(EXIT_API_ERROR)
        client.indexes.delete(index_id)
    if as_json:
        _dump({"_id": index_id, "index_name": index.index_name, "deleted": True})
    else:
        console.print(f"Deleted index {index.index_name!r} ({index_id}).")


@videos_app.command("list")
def videos_list(
    index: Annotated[str, typer.Option("--index", "-i", help="Index id.")],
    url: ServerUrl = DEFAULT_URL, api_key: ApiKeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Every video of an index: id, file name, duration, size, status."""
    client = _client(url, api_key)
    with _api_errors():
        items = list(client.indexes.videos.list(index))
    if as_json:
        _dump(items)
        return
    table = Table("video id", "filename", "duration", "size", "status", "indexed at")
    for v in items:
        meta = v.system_metadata
        size = getattr(meta, "size", None)
        table.add_row(v.id or "-", (getattr(meta, "filename", None) or "-"),
                      _clock(getattr(meta, "duration", None)),
                      f"{int(size) / 1e6:.1f} MB" if size else "-", getattr(v, "status", None) or "-",
                      getattr(v, "indexed_at", None) or "-")
    out.print(table)
    console.print(f"{len(items)} video(s).")


@tasks_app.command("list")
def tasks_list(
    index: Annotated[str | None, typer.Option("--index", "-i", help="Only this index's tasks.")] = None,
    status: Annotated[str | None, typer.Option(help="Only tasks in this status (e.g. ready, failed).")] = None,
    url: ServerUrl = DEFAULT_URL, api_key: ApiKeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Upload tasks, newest first: id, video, index, status, file name."""
    client = _client(url, api_key)
    with _api_errors():
        items = list(client.tasks.list(index_id=index, status=status))
    if as_json:
        _dump(items)
        return
    table = Table("task id", "video id", "index id", "status", "filename", "created at")
    for t in items:
        table.add_row(t.id or "-", t.video_id or "-", t.index_id or "-", t.status or "-",
                      getattr(t.system_metadata, "filename", None) or "-", t.created_at or "-")
    out.print(table)
    console.print(f"{len(items)} task(s).")


def _task_get(task_id: str, url: str, api_key: str | None, as_json: bool) -> None:
    client = _client(url, api_key)
    with _api_errors():
        task = client.tasks.retrieve(task_id)
    if as_json:
        _dump(task)
        return
    data = task.model_dump(mode="json", by_alias=True, exclude_none=True)
    table = Table("field", "value", show_header=False)
    for key in ("_id", "video_id", "index_id", "asset_id", "status", "created_at", "updated_at"):
        if key in data:
            table.add_row(key, str(data[key]))
    for key, value in (data.get("system_metadata") or {}).items():
        table.add_row(key, str(value))
    hls = data.get("hls")
    if isinstance(hls, dict):
        table.add_row("stream", f"{hls.get('status')} {hls.get('video_url') or ''}".strip())
    if data.get("error"):
        table.add_row("error", str(data["error"].get("message", data["error"])))
    out.print(table)
    if task.status == "failed":
        raise typer.Exit(EXIT_API_ERROR)


@tasks_app.command("get")
def tasks_get(task_id: Annotated[str, typer.Argument(help="Task id.")], url: ServerUrl = DEFAULT_URL,
              api_key: ApiKeyOpt = None, as_json: JsonOpt = False) -> None:
    """One task: status, video, metadata and stream. Exits 1 when the task failed."""
    _task_get(task_id, url, api_key, as_json)


@tasks_app.command("show", hidden=True)
def tasks_show(task_id: Annotated[str, typer.Argument(help="Task id.")], url: ServerUrl = DEFAULT_URL,
               api_key: ApiKeyOpt = None, as_json: JsonOpt = False) -> None:
    """Alias of `tasks get`."""
    _task_get(task_id, url, api_key, as_json)
