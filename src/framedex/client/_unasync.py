"""Generate the sync client (``_sync/``) from the async one (``_async/``), as httpcore does.

    python -P src/framedex/client/_unasync.py           # rewrite _sync/*.py
    python -P src/framedex/client/_unasync.py --check   # exit 1 if _sync/ is stale (run by the tests)

(``-P``: the script's folder holds ``types.py``, which must not shadow the standard library.)

``_concurrency.py`` and ``__init__.py`` are written by hand in both packages and are not generated.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE / "_async"
TARGET = HERE / "_sync"
HAND_WRITTEN = {"__init__.py", "_concurrency.py"}
HEADER = "# Generated from {name} in ../_async by `python -P src/framedex/client/_unasync.py`. Do not edit.\n"

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
    out: dict[Path, str] = {}
    for src in sorted(SOURCE.glob("*.py")):
        if src.name in HAND_WRITTEN:
            continue
        out[TARGET / src.name] = HEADER.format(name=src.name) + unasync(src.read_text())
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for target, text in generate().items():
        current = target.read_text() if target.exists() else None
        if current != text:
            stale.append(target)
            if not check:
                target.write_text(text)
    if check and stale:
        print("stale generated files: " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
