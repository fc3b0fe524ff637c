"""Lexical (full-text) index over transcript segments: the port and its SQLite FTS5 adapter.

The FTS table lives in the metadata database, so entries are written in the same
transaction as the segments they index and vanish with them.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class LexicalHit:
    segment_id: int
    video_id: str
    score: float  # higher is better, >= 0


class LexicalIndex(Protocol):
    def add(self, session: Session, *, tenant_id: str, index_id: str, video_id: str,
            segment_id: int, content: str) -> None: ...

    def delete_video(self, session: Session, video_id: str) -> None: ...

    def delete_index(self, session: Session, index_id: str) -> None: ...

    def search(self, session: Session, *, tenant_id: str, index_id: str, query: str, limit: int,
               common: Collection[str] = ()) -> list[LexicalHit]: ...


_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts_stages(query: str, common: Collection[str] = ()) -> list[str]:
    """Free text as safe FTS5 expressions, most to least specific: the exact phrase, all words, any word.
    `common` words (function words: "the", "of") count only inside the phrase when the query has other words:
    matching every segment that holds "the" would rank most of the index for nothing.

    Every token is double-quoted, so user input can never inject FTS operators.
    """
    said = _TOKEN.findall(query.lower())
    tokens = list(dict.fromkeys(said))
    if not tokens:
        return []
    if len(tokens) == 1:
        return [f'"{tokens[0]}"']
    quoted = [f'"{t}"' for t in tokens if t not in common] or [f'"{t}"' for t in tokens]
    stages = ['"' + " ".join(said) + '"', " AND ".join(quoted)]
    if len(quoted) > 1:
        stages.append(" OR ".join(quoted))
    return stages


class SqliteLexicalIndex:
    """FTS5 with the Porter stemmer ("running" finds "run") and diacritic folding."""

    @staticmethod
    def create_schema(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(text(
                "CREATE VIRTUAL TABLE IF NOT EXISTS speech_fts USING fts5("
                "content, tenant_id UNINDEXED, index_id UNINDEXED, video_id UNINDEXED, "
                "segment_id UNINDEXED, tokenize='porter unicode61 remove_diacritics 2')"
            ))

    def add(self, session: Session, *, tenant_id: str, index_id: str, video_id: str,
            segment_id: int, content: str) -> None:
        session.execute(
            text("INSERT INTO speech_fts(content, tenant_id, index_id, video_id, segment_id) "
                 "VALUES (:c, :t, :i, :v, :s)"),
            {"c": content, "t": tenant_id, "i": index_id, "v": video_id, "s": segment_id},
        )

    def delete_video(self, session: Session, video_id: str) -> None:
        session.execute(text("DELETE FROM speech_fts WHERE video_id = :v"), {"v": video_id})

    def delete_index(self, session: Session, index_id: str) -> None:
        session.execute(text("DELETE FROM speech_fts WHERE index_id = :i"), {"i": index_id})

    def search(self, session: Session, *, tenant_id: str, index_id: str, query: str, limit: int,
               common: Collection[str] = ()) -> list[LexicalHit]:
        """Up to `limit` segments: those holding the phrase, then all the words, then any of them (BM25 order
        within each stage; `common` words only in the phrase, see `fts_stages`). A later stage runs only while
        the earlier ones found fewer than `limit`: ranking every segment that holds one frequent word is what
        makes full-text search slow on a large index."""
        hits: dict[int, LexicalHit] = {}
        for expr in fts_stages(query, common):
            rows = session.execute(
                text("SELECT segment_id, video_id, bm25(speech_fts) AS score FROM speech_fts "
                     "WHERE speech_fts MATCH :q AND tenant_id = :t AND index_id = :i "
                     "ORDER BY score LIMIT :n"),
                {"q": expr, "t": tenant_id, "i": index_id, "n": limit},
            ).all()
            for r in rows:  # bm25() is negative, more negative = better
                hits.setdefault(int(r[0]), LexicalHit(int(r[0]), str(r[1]), float(-r[2])))
            if len(hits) >= limit:
                break
        return list(hits.values())[:limit]


def lexical_index_for(dialect: str) -> LexicalIndex:
    if dialect == "sqlite":
        return SqliteLexicalIndex()
    if dialect == "postgresql":
        from framedex.storage.lexical_postgres import PostgresLexicalIndex

        return PostgresLexicalIndex()
    raise NotImplementedError(f"no lexical index adapter for {dialect!r} yet")
