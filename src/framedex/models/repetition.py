"""Stop a generation that has fallen into a loop, and cut the loop off its text.

Greedy decoding (temperature 0, which prepared summaries use) of a small model sometimes repeats itself
until ``max_tokens``: "The next scene shows a kite and a violin. The next scene shows a kite and a violin. …".
Nothing after the second copy adds anything, and the answer is better ended at the first. A repetition
penalty is no cure here: llama.cpp applies it to the prompt's tokens too, which pushes answers away from the
very words of the transcript they should quote.

Three shapes of loop are caught: a whole sentence said a third time (the answer keeps the text before its
second occurrence), a short stretch of text repeated back to back four times with no sentence end in it
("kite, violin, kite, violin, …"; one copy is kept), and a long stretch (a list of several things, 120 to 400
characters) said twice back to back, as in "…, a terminal window, a Wikipedia article, a hand touching a tree,
a terminal window, a Wikipedia article, …": one run-on sentence that never reaches the sentence rule, and
whose copies are too long for four of them to fit in a short answer's token budget. Text that long is not
repeated word for word back to back on purpose. The copy kept of a back-to-back loop is trimmed to its last
sentence end (or whole word), since the copies rarely start on one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_MIN_SENTENCE_CHARS = 20  # shorter lines ("- None.", "Yes.") may fairly repeat
_SENTENCE_REPEATS = 3
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class _PeriodRule:
    periods: range  # characters in one copy of a back-to-back repeat
    copies: int  # copies back to back that make a loop
    distinct_words: int  # a copy must hold this many different words: "| --- | --- " or "- None." may repeat


_PERIOD_RULES = (_PeriodRule(range(8, 121), copies=4, distinct_words=2),
                 _PeriodRule(range(121, 401), copies=2, distinct_words=6))


def _normalised(sentence: str) -> str:
    return " ".join(sentence.lower().split())


class RepetitionGuard:
    """Fed the text of one generation piece by piece; ``feed`` says when it has started looping, and ``cut``
    is then the length of the text worth keeping."""

    def __init__(self) -> None:
        self.text = ""
        self.cut: int | None = None
        self._sentences: dict[str, list[int]] = {}  # normalised sentence -> its start offsets
        self._scanned = 0  # text before this offset has been split into sentences

    def feed(self, piece: str) -> bool:
        if self.cut is not None:
            return True
        self.text += piece
        self.cut = self._sentence_loop()
        if self.cut is None:
            self.cut = self._periodic_loop()
        return self.cut is not None

    def _sentence_loop(self) -> int | None:
        """Splits the newly completed sentences off; the third occurrence of one ends the answer before
        its second."""
        while True:
            end = _SENTENCE_END.search(self.text, self._scanned)
            if end is None:
                return None
            start, self._scanned = self._scanned, end.end()
            sentence = self.text[start:end.start()]
            key = _normalised(sentence)
            if len(key) < _MIN_SENTENCE_CHARS:
                continue
            offset = start + (len(sentence) - len(sentence.lstrip()))
            seen = self._sentences.setdefault(key, [])
            seen.append(offset)
            if len(seen) >= _SENTENCE_REPEATS:
                return len(self.text[:seen[1]].rstrip())

    def _periodic_loop(self) -> int | None:
        text = self.text
        for rule in _PERIOD_RULES:
            for period in rule.periods:
                span = period * rule.copies
                if span > len(text):
                    break
                if text[-1] != text[-1 - period] or text[-span:] != text[-period:] * rule.copies:
                    continue
                words = _WORD.findall(text[-span:].lower())[1:-1]  # the first and last may be cut in two
                if len(set(words)) < rule.distinct_words:
                    continue
                start = len(text) - span  # where the run really starts: the copies need not start on a piece
                while start > 0 and text[start - 1] == text[start - 1 + period]:
                    start -= 1
                return _clean_end(text, start + period)
        return None


_LAST_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def _clean_end(text: str, cut: int) -> int:
    """Where to end text whose loop starts at ``cut``: one copy of a loop rarely ends on a word ("...optical
    character recognitions agai"), so end at the last sentence end when that keeps at least half the text,
    else at the last whole word (without a dangling comma)."""
    kept = text[:cut]
    ends = [m.end() for m in _LAST_SENTENCE_END.finditer(kept)]
    if ends and ends[-1] >= cut / 2:
        return ends[-1]
    if cut < len(text) and text[cut].isalnum() and kept[-1:].isalnum():  # the copy ends inside a word
        space = kept.rfind(" ")
        kept = kept[:space] if space > 0 else kept
    return len(kept.rstrip().rstrip(",;:").rstrip())
