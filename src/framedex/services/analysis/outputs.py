"""What ``/summarize`` and ``/gist`` produce, as domain objects (``Summary``, ``Gist``): the API layer shapes
them into its wire bodies (``api/schemas/analyze.py``).

``to_record``/``from_record`` are their stored form in the prepared-output blobs (``prepared.py``). That form
is the wire body of when preparation was written, and it stays so whatever the wire becomes: blobs prepared by
earlier versions must stay readable (a blob's key does not change with this code, see
``prepared.template_version``). Values are passed through as stored, never coerced, so that what is served
from a blob is what was generated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

# A gist's wanted type → its field.
GIST_FIELDS = {"title": "title", "topic": "topics", "hashtag": "hashtags"}


@dataclass(frozen=True)
class Usage:
    output_tokens: int
    input_tokens: int

    def to_record(self) -> dict[str, int]:
        return {"output_tokens": self.output_tokens, "input_tokens": self.input_tokens}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Usage:
        return cls(record["output_tokens"], record["input_tokens"])


@dataclass(frozen=True)
class Chapter:
    number: int
    start: int  # whole seconds, as the API also gives them
    end: int
    start_sec: float
    end_sec: float
    title: str
    summary: str

    def to_record(self) -> dict[str, Any]:
        return {"chapter_number": self.number, "start": self.start, "end": self.end, "start_sec": self.start_sec,
                "end_sec": self.end_sec, "chapter_title": self.title, "chapter_summary": self.summary}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Chapter:
        return cls(record["chapter_number"], record["start"], record["end"], record["start_sec"], record["end_sec"],
                   record["chapter_title"], record["chapter_summary"])


@dataclass(frozen=True)
class Highlight:
    start: int  # whole seconds, as the API also gives them
    end: int
    start_sec: float
    end_sec: float
    title: str
    summary: str

    def to_record(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "start_sec": self.start_sec, "end_sec": self.end_sec,
                "highlight": self.title, "highlight_summary": self.summary}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Highlight:
        return cls(record["start"], record["end"], record["start_sec"], record["end_sec"], record["highlight"],
                   record["highlight_summary"])


@dataclass(frozen=True)
class Summary:
    """A ``/summarize`` answer: ``text`` for kind summary, ``chapters`` for chapter, ``highlights`` for highlight."""

    id: str
    kind: str  # summary | chapter | highlight
    usage: Usage
    text: str | None = None
    chapters: tuple[Chapter, ...] | None = None
    highlights: tuple[Highlight, ...] | None = None

    def to_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "summarize_type": self.kind}
        if self.kind == "summary":
            out["summary"] = self.text
        elif self.kind == "chapter":
            out["chapters"] = [c.to_record() for c in self.chapters or ()]
        else:
            out["highlights"] = [h.to_record() for h in self.highlights or ()]
        out["usage"] = self.usage.to_record()
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Summary:
        kind = record["summarize_type"]
        usage = Usage.from_record(record["usage"])
        if kind == "summary":
            return cls(record["id"], kind, usage, text=record["summary"])
        if kind == "chapter":
            return cls(record["id"], kind, usage, chapters=tuple(Chapter.from_record(c) for c in record["chapters"]))
        return cls(record["id"], kind, usage,
                   highlights=tuple(Highlight.from_record(h) for h in record["highlights"]))


@dataclass(frozen=True)
class Gist:
    """A ``/gist`` answer: each field is None when its type was not asked for."""

    id: str
    usage: Usage
    title: str | None = None
    topics: tuple[str, ...] | None = None
    hashtags: tuple[str, ...] | None = None

    def has(self, types: tuple[str, ...]) -> bool:
        """Whether it holds the fields of every type in ``types``."""
        return all(getattr(self, GIST_FIELDS[t]) is not None for t in types)

    def only(self, types: tuple[str, ...]) -> Gist:
        """The fields of ``types`` only."""
        return replace(self, title=self.title if "title" in types else None,
                       topics=self.topics if "topic" in types else None,
                       hashtags=self.hashtags if "hashtag" in types else None)

    def to_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "usage": self.usage.to_record()}
        for name in GIST_FIELDS.values():
            value = getattr(self, name)
            if value is not None:
                out[name] = value if isinstance(value, str) else list(value)
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Gist:
        return cls.of_fields(record["id"], Usage.from_record(record["usage"]), record)

    @classmethod
    def of_fields(cls, gist_id: str, usage: Usage, fields: Mapping[str, Any]) -> Gist:
        """The gist whose ``title``, ``topics`` and ``hashtags`` are those in ``fields`` (stored names)."""
        topics, hashtags = fields.get("topics"), fields.get("hashtags")
        return cls(gist_id, usage, title=fields.get("title"), topics=None if topics is None else tuple(topics),
                   hashtags=None if hashtags is None else tuple(hashtags))
