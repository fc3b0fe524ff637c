"""`LexicalIndex` on PostgreSQL full-text search, with the behaviour of the SQLite FTS5 adapter.

Parity with FTS5 (``porter unicode61 remove_diacritics 2``) and how it is reached:

* Tokens: the same ``\\w+`` tokenisation as `fts_stages`, done here in Python on the way in and on the way
  out, so PostgreSQL's own parser never splits or joins words differently from SQLite.
* Diacritics: folded in Python (NFKD, combining marks dropped): "Zürich" is stored and searched as
  "zurich". The ``unaccent`` contrib extension would do it in SQL, but the ``pgserver`` wheel (our test and
  try-out PostgreSQL) ships no contrib modules, and managed PostgreSQL services differ in what they allow.
* Stemming: a ``framedex`` text search configuration = ``english`` with a Snowball English stemmer *without
  a stop-word list*. FTS5 has no stop words: "the" alone must still find segments, and the phrase stage
  must keep function words in place. The caller's `common` words are handled by the stages as in SQLite.
* Stages: phrase (``<->``), all words (``&``), any word (``|``), most to least specific, a later stage only
  while the earlier ones found fewer than `limit`; ranked by ``ts_rank_cd`` (cover density: a BM25-like
  "more and closer matches rank higher") within a stage.
* Fuzzy matching: none, as in SQLite (misheard words are handled by the search service's Metaphone keys),
  so ``pg_trgm`` is not needed; it is also absent from the pgserver wheel.

Entries live in the metadata database (table ``speech_fts``), written in the caller's session, so they
are committed or rolled back with the segments they index.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from framedex.storage.lexical import LexicalHit

_TOKEN = re.compile(r"\w+", re.UNICODE)
CONFIG = "framedex"


def fold(value: str) -> str:
    """Lower case, diacritics removed, words separated by single spaces (the FTS5 unicode61 view of text)."""
    decomposed = unicodedata.normalize("NFKD", value.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    # "_" is a word character to `\w` but a separator to FTS5's unicode61 and to the tsquery parser
    return " ".join(_TOKEN.findall(plain.replace("_", " ")))


def pg_stages(query: str, common: Collection[str] = ()) -> list[str]:
    """`fts_stages` as ``to_tsquery`` strings. Tokens are ``\\w+`` only, so no tsquery operator (``& | ! <-> ( )
    : * '``) can come from user input; underscores are the one word character the parser splits on, and
    they are turned into spaces by `fold`."""
    said = fold(query).split()
    tokens = list(dict.fromkeys(said))
    if not tokens:
        return []
    if len(tokens) == 1:
        return [tokens[0]]
    folded_common = {fold(c) for c in common}
    kept = [t for t in tokens if t not in folded_common] or tokens
    stages = [" <-> ".join(said), " & ".join(kept)]
    if len(kept) > 1:
        stages.append(" | ".join(kept))
    return stages


class PostgresLexicalIndex:
    @staticmethod
    def create_schema(engine: Engine) -> None:
        with engine.begin() as conn:
            # One transaction-level advisory lock: several processes may create the schema at once.
            conn.execute(text("SELECT pg_advisory_xact_lock(7316001)"))
            exists = conn.execute(text("SELECT 1 FROM pg_ts_config WHERE cfgname = :n"), {"n": CONFIG}).first()
            if exists is None:
                conn.execute(text(
                    "CREATE TEXT SEARCH DICTIONARY framedex_stem (TEMPLATE = snowball, Language = english)"))
                conn.execute(text(f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = english)"))
                conn.execute(text(
                    f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} ALTER MAPPING FOR asciiword, asciihword, "
                    "hword_asciipart, word, hword, hword_part WITH framedex_stem"))
            conn.execute(text(
                "CREATE TABLE IF NOT EXISTS speech_fts ("
                " id BIGSERIAL PRIMARY KEY, tenant_id VARCHAR(64) NOT NULL, index_id VARCHAR(64) NOT NULL,"
                " video_id VARCHAR(64) NOT NULL, segment_id BIGINT NOT NULL, content TEXT NOT NULL,"
                " tsv TSVECTOR NOT NULL)"))
            conn.execute(text("CREATE INDEX IF NOT EXISTS ix_speech_fts_tsv ON speech_fts USING gin (tsv)"))
            conn.execute(text("CREATE INDEX IF NOT EXISTS ix_speech_fts_scope ON speech_fts (tenant_id, index_id)"))
            conn.execute(text("CREATE INDEX IF NOT EXISTS ix_speech_fts_video ON speech_fts (video_id)"))

    def add(self, session: Session, *, tenant_id: str, index_id: str, video_id: str,
            segment_id: int, content: str) -> None:
        session.execute(
            text("INSERT INTO speech_fts(tenant_id, index_id, video_id, segment_id, content, tsv) "
                 f"VALUES (:t, :i, :v, :s, :c, to_tsvector('{CONFIG}', :f))"),
            {"t": tenant_id, "i": index_id, "v": video_id, "s": segment_id, "c": content,
             "f": fold(content)},
        )

    def delete_video(self, session: Session, video_id: str) -> None:
        session.execute(text("DELETE FROM speech_fts WHERE video_id = :v"), {"v": video_id})

    def delete_index(self, session: Session, index_id: str) -> None:
        session.execute(text("DELETE FROM speech_fts WHERE index_id = :i"), {"i": index_id})

    def search(self, session: Session, *, tenant_id: str, index_id: str, query: str, limit: int,
               common: Collection[str] = ()) -> list[LexicalHit]:
        """As `SqliteLexicalIndex.search`: phrase, then all words, then any word, each stage only while
        fewer than `limit` were found."""
        hits: dict[int, LexicalHit] = {}
        for expr in pg_stages(query, common):
            rows = session.execute(
                text(f"SELECT segment_id, video_id, ts_rank_cd(tsv, q) AS score "
                     f"FROM speech_fts, to_tsquery('{CONFIG}', :q) AS q "
                     "WHERE tsv @@ q AND tenant_id = :t AND index_id = :i "
                     "ORDER BY score DESC, id LIMIT :n"),
                {"q": expr, "t": tenant_id, "i": index_id, "n": limit},
            ).all()
            for r in rows:
                hits.setdefault(int(r[0]), LexicalHit(int(r[0]), str(r[1]), float(r[2])))
            if len(hits) >= limit:
                break
        return list(hits.values())[:limit]
