"""Query words → visual labels through WordNet (`models/query_terms.py`): no model is loaded."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from framedex.models import query_terms
from framedex.models.query_terms import label_terms, widen


@pytest.fixture(scope="module")
def labels() -> list[str]:
    vocab = json.loads(resources.files("framedex.models").joinpath("data/imagenet_vocab.json").read_text())
    return [v["name"] for v in vocab] + ["dog", "person", "car", "cartoon", "night", "aerial view"]


def test_exact_label_name_counts_fully(labels: list[str]) -> None:
    assert label_terms("beach", labels) == {"beach": 1.0}
    assert label_terms("viaduct", labels)["viaduct"] == 1.0
    assert label_terms("pool table", labels) == {"pool table": 1.0}  # the pair, not "pool" and "table" alone
    got = label_terms("black dog in the forest", labels)
    assert got["dog"] == query_terms.PHRASE_WORD  # one word of a longer query
    assert label_terms("an aerial view of the coast", labels)["aerial view"] == 1.0


def test_category_reaches_its_classes(labels: list[str]) -> None:
    got = label_terms("bridge", labels)
    assert {"suspension bridge", "viaduct"} <= set(got)
    assert all(0.5 < got[c] < 1.0 for c in ("suspension bridge", "viaduct"))
    # a broad category is left to the embedding's own hypernym phrases
    assert "Angora rabbit" not in label_terms("animal", labels)


def test_kind_of_a_class_reaches_the_class(labels: list[str]) -> None:
    assert label_terms("canyon", labels).get("valley", 0) > 0.5  # canyon -> ravine -> valley
    assert label_terms("puppy", labels).get("dog", 0) > 0.5
    assert label_terms("seaside", labels).get("beach", 0) > 0.5  # a synonym of a class that is not its name


def test_plural_and_longer_query(labels: list[str]) -> None:
    one = label_terms("canyon", labels)["valley"]
    assert label_terms("canyons", labels)["valley"] == one
    assert label_terms("sunset over a canyon", labels)["valley"] < one  # one word of a longer query counts less


def test_compound_is_not_split(labels: list[str]) -> None:
    assert "tank" not in label_terms("fish tank", labels)  # an aquarium, not an armoured vehicle


def test_unknown_and_abstract_words_link_nothing(labels: list[str]) -> None:
    assert label_terms("qwertyuiop", labels) == {}
    assert label_terms("the of and", labels) == {}
    assert label_terms("happiness", labels) == {}


class _Space:
    def __init__(self) -> None:
        self.names = ["valley", "cliff", "person"]
        self.vectors = np.eye(3, dtype=np.float32)
        self.weights = {"person": 0.35}


def test_widen_merges_relevance_and_pulls_the_expanded_vector() -> None:
    space = _Space()
    base = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    rel, vec = widen(space, "canyon", {"cliff": 0.4, "valley": 0.9}, base)
    assert rel["cliff"] == 0.4 and rel["valley"] == 0.9  # the stronger of the two is kept
    assert vec is not None and vec[0] > 0.3 and vec[1] > 0.3 and abs(float(np.linalg.norm(vec)) - 1) < 1e-5
    rel, vec = widen(space, "canyon", {}, None)
    assert rel["valley"] == pytest.approx(label_terms("canyon", space.names)["valley"])
    assert vec is not None and vec[0] == pytest.approx(1.0)
    assert widen(space, "happiness", {"cliff": 0.2}, base) == ({"cliff": 0.2}, base)


def test_widen_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMEDEX_QUERY_TERMS", "0")
    space = _Space()
    rel, vec = widen(space, "canyon", {}, None)
    assert rel == {} and vec is None
    assert query_terms.EXACT == 1.0
