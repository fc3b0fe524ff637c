"""The loop guard ends a generation that repeats itself and keeps what came before the repeats; text that
merely repeats a short line, or a table rule, passes whole."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from framedex.config import Settings
from framedex.models.base import ChatMessage
from framedex.models.llm import LLMProxy
from framedex.models.repetition import RepetitionGuard
from tests.analysis.conftest import FakeLLM


def _generate(text: str, piece: int = 4) -> tuple[str, int]:
    """Feeds ``text`` as a model streams it; returns the text kept and how many characters were fed."""
    guard = RepetitionGuard()
    for i in range(0, len(text), piece):
        if guard.feed(text[i:i + piece]):
            assert guard.cut is not None
            return text[:guard.cut], i + piece
    return text, len(text)


def test_a_sentence_said_a_third_time_ends_the_answer_before_its_second() -> None:
    loop = "The next scene shows a kite and a violin. "
    kept, fed = _generate("The video opens on a beach at dawn. " + loop * 30)
    assert kept == "The video opens on a beach at dawn. The next scene shows a kite and a violin."
    assert fed < len("The video opens on a beach at dawn. ") + 3 * len(loop) + 4  # stopped at the third copy


def test_a_cycle_of_sentences_keeps_one_cycle() -> None:
    cycle = "A man plays the violin on a stage.\nA woman flies a red kite in a park.\n"
    kept, _ = _generate("Summary:\n" + cycle * 10)
    assert kept == "Summary:\n" + cycle.rstrip()


def test_a_short_run_repeated_back_to_back_keeps_one_copy() -> None:
    kept, _ = _generate("Objects seen: kite, violin, " + "kite, violin, " * 20)
    assert kept == "Objects seen: kite, violin"  # without the dangling comma


def test_answers_that_repeat_short_lines_or_rules_pass_whole() -> None:
    for text in ("- None.\n" * 6,
                 "| a | b |\n" + "| --- " * 12 + "|\n",
                 "Yes. Yes. Yes. Yes. Yes.",
                 "The speaker says hello. Then the speaker says goodbye. The speaker says hello again."):
        assert _generate(text) == (text, len(text))


def test_the_same_sentence_twice_is_not_a_loop() -> None:
    text = "The dog runs across the field. The cat sleeps. The dog runs across the field."
    assert _generate(text)[0] == text


class _Slot:
    def __init__(self, backend: FakeLLM) -> None:
        self.backend = backend

    @contextlib.contextmanager
    def use(self) -> Iterator[FakeLLM]:
        yield self.backend


def test_the_model_proxy_cuts_free_text_but_never_a_json_answer(tmp_path: Path) -> None:
    loop = "The next scene shows a kite and a violin. "
    backend = FakeLLM(reply="A beach at dawn. " + loop * 40, json_reply={"text": loop * 40})
    llm = LLMProxy(_Slot(backend), Settings(data_dir=tmp_path))
    streamed: list[str] = []
    gen = llm.complete([ChatMessage("user", "Summarise.")], max_tokens=1000, on_text=streamed.append)
    assert gen.text == "A beach at dawn. " + loop.strip()
    assert gen.finish_reason == "stop" and not gen.stopped
    assert len("".join(streamed)) < len("A beach at dawn. ") + 4 * len(loop)  # the model was stopped early
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    answer = llm.complete([ChatMessage("user", "Summarise.")], max_tokens=1000, json_schema=schema)
    assert json.loads(answer.text) == {"text": loop * 40}


def test_a_long_list_said_twice_back_to_back_keeps_one_copy() -> None:
    # What the packaged model answered to "Summarize this video in three sentences." on a real composite.
    cycle = ("a terminal window with commands, a Wikipedia article about optical character recognition, "
             "a hand touching the branches of a small tree in a garden, slides or document with text, ")
    opening = "The video shows the Earth at night from space, "
    kept, fed = _generate(opening + cycle * 6)
    assert kept == (opening + cycle).rstrip(", ")  # the copy kept ends where the repeats began
    assert fed < len(opening) + 2 * len(cycle) + 8  # stopped as the second copy ended


def test_a_loop_cut_inside_a_word_ends_on_a_sentence_end_or_a_whole_word() -> None:
    # The prepared summary of the 11-minute real composite ended "...optical character recognitions agai".
    loop = ("a terminal window where someone types commands again, followed by a Wikipedia article about optical "
            "character recognitions again, followed by ")
    opening = ("The video shows a series of scenes, each with a different subject. It starts with a view of Earth at "
               "night from space, followed by a terminal window where someone types commands. The video then moves "
               "on to a hand touching the branches of a small tree in a garden. ")
    kept, _ = _generate(opening + "The video then shows " + loop * 5)
    assert kept == opening.rstrip()
    kept, _ = _generate("Next it shows " + loop * 5)
    words = set(("Next it shows " + loop).replace(",", " ").split())
    assert kept.startswith("Next it shows a terminal window") and not kept.endswith((",", " "))
    assert kept.split()[-1].rstrip(",") in words, kept


def test_a_long_sentence_said_twice_with_other_text_between_passes() -> None:
    line = ("The presenter explains how optical character recognition reads the text of signs, billboards "
            "and subtitles in a landscape photo. ")
    text = line + "Then a terminal window shows commands. " + line
    assert _generate(text)[0] == text
