"""Generate the sync client (``_sync/``) from the async one (``_async/``), as httpcore does.

    python -P src/framedex/client/_unasync.py           # rewrite _sync/ (and delete orphans there)
    python -P src/framedex/client/_unasync.py --check   # exit 1 if _sync/ is stale (run by the tests)

(``-P``: the script's folder holds the ``types`` package, which must not shadow the standard library.)

Every ``.py`` file under ``_async/``, subpackages included (``resources/indexes.py`` ->
``_sync/resources/indexes.py``), has a generated sync twin, except the top-level ``_concurrency.py`` and
``__init__.py``, written by hand in both packages. A ``.py`` file under ``_sync/`` with no async twin is an
orphan (a resource moved or removed on the async side): ``--check`` reports it and a rewrite deletes it,
so the two trees cannot drift apart.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE / "_async"
TARGET = HERE / "_sync"
# relative to _async/ and _sync/: only these two top-level files differ in more than the renames below
HAND_WRITTEN = {Path("__init__.py"), Path("_concurrency.py")}
HEADER = "# Generated from _async/{name} by `python -P src/framedex/client/_unasync.py`. Do not edit.\n"

SUBS: list[tuple[str, str]] = [
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baclose\b", "close"),
    (r"\baiter_lines\b", "iter_lines"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\baread\b", "read"),
    (r"\bAsyncHTTP\b", "SyncHTTP"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\b_async\b", "_sync"),
    (r"\basync client\b", "sync client"),
    (r"\bthe async\b", "the sync"),
]


def _name_key(name: str) -> tuple[int, str]:
    """ruff's isort order: CONSTANTS, then Classes, then functions, each case-insensitively."""
    bare = name.split(" as ")[0]
    kind = 0 if bare.isupper() and len(bare) > 1 else 1 if bare[:1].isupper() else 2
    return (kind, bare.lower())


def _sort_imports(text: str) -> str:
    """Re-sort the names of ``from x import ...`` statements (renaming changes their order)."""

    def one_line(match: re.Match[str]) -> str:
        names = sorted((n.strip() for n in match.group(2).split(",")), key=_name_key)
        return f"{match.group(1)}{', '.join(names)}"

    def block(match: re.Match[str]) -> str:
        names = [n.strip() for n in match.group(2).split(",") if n.strip()]
        body = "".join(f"    {n},\n" for n in sorted(names, key=_name_key))
        return f"{match.group(1)}(\n{body})"

    text = re.sub(r"^(from [\w.]+ import )([^(\n]+)$", one_line, text, flags=re.M)
    return re.sub(r"^(from [\w.]+ import )\(\n([^)]*)\)", block, text, flags=re.M)


_YIELD_LOOP = re.compile(r"^(\s*)for (\w+) in (.+):\n\1    yield \2\n", re.M)


def unasync(text: str) -> str:
    for pattern, repl in SUBS:
        text = re.sub(pattern, repl, text)
    text = _YIELD_LOOP.sub(lambda m: f"{m.group(1)}yield from {m.group(3)}\n", text)
    return _sort_imports(text)


def generate() -> dict[Path, str]:
    """Every generated sync file (absolute path) and the text it must hold."""
    out: dict[Path, str] = {}
    for src in sorted(SOURCE.rglob("*.py")):
        rel = src.relative_to(SOURCE)
        if rel in HAND_WRITTEN:
            continue
        out[TARGET / rel] = HEADER.format(name=rel.as_posix()) + unasync(src.read_text())
    return out


def orphans(generated: dict[Path, str]) -> list[Path]:
    """Sync files that are neither generated nor hand-written: left over from an async file since removed."""
    return sorted(
        p for p in TARGET.rglob("*.py") if p not in generated and p.relative_to(TARGET) not in HAND_WRITTEN
    )


def main(argv: list[str]) -> int:
    check = "--check" in argv
    generated = generate()
    stale = []
    for target, text in generated.items():
        current = target.read_text() if target.exists() else None
        if current != text:
            stale.append(target)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    extra = orphans(generated)
    if not check:
        for orphan in extra:
            orphan.unlink()
    if check and (stale or extra):
        if stale:
            print("stale generated files: " + ", ".join(str(p) for p in stale), file=sys.stderr)
        if extra:
            print("sync files without an async twin: " + ", ".join(str(p) for p in extra), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
