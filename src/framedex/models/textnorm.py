"""Text folding shared by ingest (merging OCR reads of one line) and search (lexical matching, quotes).

It sits in `models/` because both layers above may import it and it depends on nothing of ours.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


@lru_cache(maxsize=32768)
def fold(text: str) -> str:
    """Lowercase without diacritics (café → cafe), the way the full-text index folds."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def squash(text: str) -> str:
    """Folded letters and digits only: "Post-age stamp," → "postagestamp" (OCR splits and glues words and
    reads punctuation unreliably; a quote compared this way survives that)."""
    return _NOT_ALNUM.sub("", fold(text))
