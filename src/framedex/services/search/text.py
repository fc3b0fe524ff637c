"""Lexical matching for search: tokens, stop words, a light multilingual stemmer, phrase-aware coverage of a
query by a text (transcripts, label terms) and fuzzy matching for text read from frames (OCR errors).

Scores are in [0, 1] and are *features*: `search_calibration` turns them into probabilities of relevance.
"""

from __future__ import annotations

import re
from collections import Counter
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import pairwise

import jellyfish
import numpy as np

from framedex.models.textnorm import fold, squash

_WORD = re.compile(r"\w+", re.UNICODE)

# Function words of the languages Whisper transcribes most: they count little in a match.
_STOP_TEXT = """
a an the and or of to in on at by for with from as is are was were be been it its this that these those i you he she
we they me him her us them my your his our their not no do does did have has had will would can could should may
into onto than then there here what which who whom how when where why about over under up down out off so if but
el la los las un una unos unas y o de del al en con por para es son que se su sus lo le les
der die das den dem des ein eine einer eines und oder zu im am ist sind mit von auf für nicht
il lo gli le uno una e di da nel nella che per con non sono
o os as um uma e do da dos das no na nos nas em com por para que
le la les un une et ou de du des au aux en dans sur pour par avec est sont que qui ne pas
"""


STOP_WORDS = frozenset(fold(w) for w in _STOP_TEXT.split())


def tokens(text: str) -> list[str]:
    return list(_tokens(text))


@lru_cache(maxsize=32768)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(text)))


_SUFFIXES = ("ations", "ation", "ingly", "ings", "ing", "edly", "ies", "ied", "ness", "ment", "ers", "er", "ed",
             "es", "ly", "s", "en", "e")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A deliberately light suffix stripper (running → runn, runs → run): two words match when their stems are
    equal or one is a prefix of the other (see `same_word`)."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=1 << 18)
def same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    sa, sb = stem(a), stem(b)
    if sa == sb:
        return True
    short, long_ = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
    return len(short) >= 4 and long_.startswith(short) and len(long_) - len(short) <= 3


def word_weight(word: str) -> float:
    if word in STOP_WORDS:
        return 0.15
    if word.isdigit():
        return 0.8
    return 1.0


def _found(word: str, words: tuple[str, ...], stems: set[str], fuzzy: bool) -> float:
    if stem(word) in stems or any(same_word(word, t) for t in words):
        return 1.0
    return _near(word, words) if fuzzy else 0.0


def coverage(query: str, text: str, *, fuzzy: bool = True) -> float:
    """Weighted share of the query's words found in `text`, with credit for them appearing in order
    (the phrase). 1.0: every word, as a phrase. `fuzzy` gives partial credit to misrecognised words."""
    return _coverage(query, text, fuzzy)


@lru_cache(maxsize=65536)
def _coverage(query: str, text: str, fuzzy: bool) -> float:
    q = _tokens(query)
    if not q:
        return 0.0
    words = _tokens(text)
    if not words:
        return 0.0
    stems = {stem(w) for w in words}
    weights = [word_weight(w) for w in q]
    found = [_found(w, words, stems, fuzzy) for w in q]
    # compounds written apart or together: "sandcastle" said as "sand castle", "sand castle" as "sandcastle"
    glued = {a + b for a, b in pairwise(words)}
    whole = set(words)
    for j, w in enumerate(q):
        if found[j] < 1.0 and w in glued:
            found[j] = 1.0
        if j + 1 < len(q) and q[j] + q[j + 1] in whole:
            found[j] = found[j + 1] = 1.0
    cov = sum(wt * f for wt, f in zip(weights, found, strict=True)) / sum(weights)
    if len(q) == 1 or cov == 0:
        return cov
    # longest run of consecutive query words that appears consecutively in the text
    best = 0
    for i in range(len(words)):
        for j in range(len(q)):
            if best >= len(q) - j:
                break
            k = 0
            while i + k < len(words) and j + k < len(q) and same_word(q[j + k], words[i + k]):
                k += 1
            best = max(best, k)
    phrase = best / len(q)
    return min(1.0, 0.75 * cov + 0.25 * phrase * cov)


def best_window(query: str, words: list[str]) -> tuple[int, int, float]:
    """Where in a run of spoken words the query is said: ``(first, last, coverage)`` for the window of about the
    query's length with the best `coverage`, trimmed to its first and last matching word (indices into
    `words`); ``(-1, -1, 0.0)`` when no word matches. Lets a transcript hit point at the words, not at its
    whole segment, and find a phrase that runs across two segments."""
    q = _tokens(query)
    if not q:
        return -1, -1, 0.0
    flat: list[str] = []
    owner: list[int] = []
    for i, w in enumerate(words):
        for t in _tokens(w):
            flat.append(t)
            owner.append(i)
    content = [w for w in q if w not in STOP_WORDS] or list(q)

    def matches(t: str, among: tuple[str, ...] | list[str]) -> bool:
        return any(same_word(w, t) for w in among) or any(_near(w, (t,)) > 0 for w in among)

    anchors = [k for k, t in enumerate(flat) if matches(t, content)]
    span = len(q) + 1  # room for one inserted or misrecognised word
    best = (0.0, 0, -1, -1)
    seen: set[tuple[int, int]] = set()
    for k in anchors:
        for a, b in ((k, k + span), (k - span, k)):
            a, b = max(0, a), min(len(flat) - 1, b)
            if (a, b) in seen:
                continue
            seen.add((a, b))
            score = _coverage(query, " ".join(flat[a:b + 1]), True)
            matched = [i for i in range(a, b + 1) if matches(flat[i], q)]
            first, last = matched[0], matched[-1]
            if (score, first - last) > best[:2]:  # the best coverage in the tightest span
                best = (score, first - last, first, last)
    score, _, first, last = best
    if first < 0:
        return -1, -1, 0.0
    return owner[first], owner[last], score


def _near(word: str, words: tuple[str, ...]) -> float:
    """Partial credit for a misrecognised word: one spelled nearly the same ("regna" for "legna": speech or text
    recognition) or one that sounds the same ("rows" for "rose", "air" for "heir": speech recognition)."""
    key = _sound(word)
    for t in words:
        if key and _sound(t) == key:
            return 0.6
        if len(word) >= 5 and abs(len(t) - len(word)) <= 2 and _bound(word, t) >= 0.8 and _ratio(word, t) >= 0.8:
            return 0.6
    return 0.0


@lru_cache(maxsize=1 << 16)
def _sound(word: str) -> str:
    """The word's Metaphone key ("" when too short to tell homophones from chance: "to", "do", "tea")."""
    if len(word) < 3 or word.isdigit():
        return ""
    key: str = jellyfish.metaphone(word)
    return key if len(key) >= 2 else ""


@lru_cache(maxsize=1 << 18)
def _ratio(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


@lru_cache(maxsize=1 << 16)
def _chars(a: str) -> Counter[str]:
    return Counter(a)


def _bound(a: str, b: str) -> float:
    """An upper bound of `_ratio(a, b)` (difflib's quick_ratio: the shared character multiset), far cheaper."""
    total = len(a) + len(b)
    if not total:
        return 1.0
    ca, cb = _chars(a), _chars(b)
    if len(ca) > len(cb):
        ca, cb = cb, ca
    shared = sum(min(n, cb[c]) for c, n in ca.items())
    return 2.0 * shared / total


def _best_ratio(a: str, others: list[str], floor: float) -> float:
    """max(_ratio(a, b) for b in others) when it reaches `floor`, else 0.0 (pairs whose bound is under the
    floor, or under the best so far, are skipped: the same result as computing every ratio)."""
    bounded = sorted(((_bound(a, b), b) for b in others), reverse=True)
    best = 0.0
    for bound, b in bounded:
        if bound < floor or bound <= best:
            break
        best = max(best, _ratio(a, b))
    return best if best >= floor else 0.0


def fuzzy_coverage(query: str, text: str) -> float:
    """How well `text` (an OCR line or block, with recognition errors) contains `query`: the best of

    * each query word's best character-level similarity to a word of the text (below 0.7 counts as absent),
      weighted, within a stretch of the text about twice the query's length (in a long paragraph, words
      scattered over it do not make a match);
    * the best similarity of the whole query to any same-length window of the text;
    * the query with its words glued together ("grandopening" read for "grand opening");
    * for a query of two or more words, `phrase_match` (the query as one run of characters, whatever the
      spacing and punctuation: words split or glued by OCR)."""
    return _fuzzy_coverage(query, text)


@lru_cache(maxsize=65536)
def _fuzzy_coverage(query: str, text: str) -> float:
    q = _tokens(query)
    words = list(_tokens(text))
    if not q or not words:
        return 0.0
    weights = [word_weight(w) for w in q]
    n = len(q)
    span = 2 * n + 2
    if len(words) <= span:
        scores = [_best_ratio(w, words, 0.7) for w in q]  # below 0.7 counts as absent
        word_score = sum(wt * s for wt, s in zip(weights, scores, strict=True)) / sum(weights)
    else:  # per query word, its similarity to each word of the text; then the best stretch of `span` words
        table = np.zeros((n, len(words)), dtype=np.float32)
        for i, w in enumerate(q):
            for j, t in enumerate(words):
                if t == w:
                    table[i, j] = 1.0
                elif abs(len(t) - len(w)) <= max(2, len(w) // 3) and _bound(w, t) >= 0.7:
                    r = _ratio(w, t)
                    table[i, j] = r if r >= 0.7 else 0.0
        if not table.any():
            word_score = 0.0
        else:
            from numpy.lib.stride_tricks import sliding_window_view

            best = sliding_window_view(table, span, axis=1).max(axis=2)  # (n, windows)
            word_score = min(1.0, float((np.asarray(weights, dtype=np.float32) @ best).max()) / sum(weights))
    joined_q = " ".join(q)
    window = _best_ratio(joined_q, [" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))], 0.6)
    # glued words: "grandopening" read for "grand opening"
    glued = _best_ratio(joined_q.replace(" ", ""), ["".join(words)], 0.8) if len(words) <= 2 * n else 0.0
    phrase = phrase_match(query, text) if n >= 2 else 0.0
    return max(word_score, window, glued, phrase)


def phrase_match(query: str, text: str) -> float:
    """The query as one contiguous run of `text`, compared without spaces and punctuation: 1.0 when it is
    there verbatim (but for case, accents, spacing, punctuation, hyphenation), else the best character
    similarity of the query to a same-length stretch of the text (OCR errors) when that reaches 0.8, else 0.
    Queries of fewer than 6 letters/digits score 0 (too short to tell a phrase from a chance substring)."""
    return _phrase_match(query, text)


@lru_cache(maxsize=65536)
def _phrase_match(query: str, text: str) -> float:
    q, t = squash(query), squash(text)
    if len(q) < 6 or not t:
        return 0.0
    if q in t:
        return 1.0
    if len(t) < 0.8 * len(q):
        return 0.0
    matcher = SequenceMatcher(None, q, t, autojunk=False)
    best = 0.0
    tried: set[int] = set()
    for i, j, size in matcher.get_matching_blocks():
        if size < 3:
            continue
        start = max(0, min(len(t) - len(q), j - i))
        if start in tried:
            continue
        tried.add(start)
        piece = t[start:start + len(q)]
        if _bound(q, piece) > best:
            best = max(best, _ratio(q, piece))
    return best if best >= 0.8 else 0.0


def clear_caches() -> None:
    """Forget the memoised tokens, word comparisons and scores (benchmarks of the cold path)."""
    for cached in (fold, _tokens, stem, same_word, _coverage, _ratio, _chars, _fuzzy_coverage, _sound, _phrase_match):
        cached.cache_clear()
