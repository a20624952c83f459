"""Generate the pretraining corpus of the embedded default (fictional documents, fixed seed).

    python data/make_corpus.py [--out FILE]

rewrites ``data/pretrain/corpus.txt`` byte-identically: one sentence per line and a blank line between
documents, the input format of BERT's and ALBERT's ``create_pretraining_data.py``. Each document describes one
invented entity with the sentence templates of the QA sample (``make_sample.py``), so a model pretrained on it
learns the sample's language, but

- **no paragraph is shared**: documents are written fresh, in a fixed order (a definition, then most of the
  kind's facts in the order of its slots, years in chronological order, then descriptive sentences), not as
  the sample's shuffled paragraphs;
- **no entity is shared**: every name is built from syllables and first names that the sample never uses
  (``CORPUS_*`` below), so no town, person, ship, company, festival, river or mountain of the corpus appears in
  the sample, and the other way round (``tests/test_pretrain_corpus.py`` checks it).

Unlike a sample paragraph, a document states several facts of the same type (when a town was founded *and*
when the railway came), so masked-LM pretraining must learn which relation a sentence expresses; and its
sentences come in a meaningful order, so sentence-order prediction has something to learn. Standard library
only; imports the templates from ``make_sample.py``.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_sample as sample  # noqa: E402  (data/ is not a package)

SEED = 20261202
DEFAULT_OUT = Path(__file__).resolve().parent / "pretrain" / "corpus.txt"
DOCUMENTS = 1200
STATED_SHARE = 0.8  # share of a kind's slots a document states
FILLERS = (3, 5)  # descriptive sentences at the end of a document

# Syllables and first names that the QA sample never uses: no corpus name can equal a sample name.
CORPUS_PLACE_PREFIXES = ("Abr Bryn Corv Delm Elst Farn Gilm Harr Istr Jorl Kelm Lorn Morv Norr Oxl Penm Quen "
                         "Rav Selm Tirr Umb Vorn Wyl Xand Yarr Zell").split()
CORPUS_SURNAME_PREFIXES = "Abb Bran Cott Dell Emb Fald Grem Holm Ick Jarv Kell Lamb Mott Nedd Ogg Pim Quill Rutt".split()
CORPUS_FIRST_NAMES = ("Agnes Bram Celia Dorian Elin Falk Greta Hugo Ilse Jonas Kaja Lars Maud Nils Olga Pavel "
                      "Rosa Soren Tove Ugo Vera Wim Xenia Yann Zora Alma Bo Cleo Dirk Esme").split()
CORPUS_SHIP_WORDS = ("Golden Swift Faithful Southern Brave Copper Gentle Lonely Bright Evening Stone Hazel".split(),
                     "Swallow Anchor Dolphin Falcon Beacon Comet Kestrel Meadow Voyager Robin Mariner Tern".split())
CORPUS_FESTIVAL_WORDS = "Drum Flag Apple Fire Honey Lamp Straw Flower Bread Snow Rope Feather".split()
CORPUS_MIDDLES = ("", "an", "er", "il", "o")  # a place name is prefix + middle + suffix
CORPUS_ORDINALS = ("", " II", " III")  # ships and festivals reuse names with an ordinal
INTRODUCTIONS = {
    "town": "{E} is a small town.|{E} is an old market town.",
    "inventor": "{E} was an inventor.|{E} was an inventor and craftsman.",
    "ship": "{E} was a merchant ship.|{E} was a sailing ship.",
    "company": "{E} is a manufacturing company.|{E} is a family company.",
    "festival": "{E} is a yearly festival.|{E} is a popular summer festival.",
    "river": "{E} is a river.|{E} is a long river.",
}


class CorpusNames(sample.NameMaker):
    """Names from the corpus's own syllables; a document's subject is never reused, its values may be."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.drawn: set[str] = set()  # every name written into the corpus (the test of disjointness reads it)

    def _place(self, suffixes: str) -> str:
        return (self.rng.choice(CORPUS_PLACE_PREFIXES) + self.rng.choice(CORPUS_MIDDLES)
                + self.rng.choice(sample.SUFFIXES[suffixes]))

    def _surname(self) -> str:
        return self.rng.choice(CORPUS_SURNAME_PREFIXES) + self.rng.choice(sample.SUFFIXES["surname"])

    def any_value(self, kind: str) -> str:
        """A name of the given kind that may repeat across documents (towns and people recur, as in an
        encyclopedia)."""
        rng = self.rng
        makers = {
            "person": lambda: f"{rng.choice(CORPUS_FIRST_NAMES)} {self._surname()}",
            "town": lambda: self._place("town"),
            "river": lambda: self._place("river") + " River",
            "mountain": lambda: "Mount " + self._place("mountain"),
            "sea": lambda: rng.choice(["Sea of ", "Gulf of "]) + self._place("mountain"),
            "ship": lambda: " ".join(rng.choice(words) for words in CORPUS_SHIP_WORDS) + rng.choice(CORPUS_ORDINALS),
            "company": lambda: rng.choice([
                lambda: f"{self._surname()} & {self._surname()}",
                lambda: f"{self._surname()} Brothers",
                lambda: f"{self._surname()} Ironworks",
                lambda: f"{rng.choice(CORPUS_SURNAME_PREFIXES)}ora Mills",
            ])(),
            "festival": lambda: (f"{rng.choice(CORPUS_SHIP_WORDS[0])} {rng.choice(CORPUS_FESTIVAL_WORDS)} Festival"
                                 + rng.choice(CORPUS_ORDINALS)),
        }
        name = makers[kind]()
        self.drawn.add(name)
        return name

    def value(self, kind: str) -> str:
        """A document subject: unique across the corpus."""
        return self._unique(lambda: self.any_value(kind))


def slot_value(slot: sample.Slot, names: CorpusNames, rng: random.Random) -> str:
    """A value for a slot; names come from the corpus's own pools."""
    if slot.source in ("year", "month") or slot.source.startswith(("number:", "list:")):
        return sample.draw_value(slot, names, rng)
    return names.any_value(slot.source)


def build_document(kind: str, names: CorpusNames, rng: random.Random) -> list[str]:
    """One document as a list of sentences: definition, facts in slot order, then descriptive sentences."""
    spec = sample.KINDS[kind]
    entity = sample.Entity(names.value(spec.name_source), spec.article)
    sentences = [sample.render(rng.choice(INTRODUCTIONS[kind].split("|")), entity, None)[0]]
    stated = [name for name in spec.slots if rng.random() < STATED_SHARE]
    years = iter(sorted(rng.randint(*sample.YEARS) for name in stated if spec.slots[name].source == "year"))
    for name in stated:
        slot = spec.slots[name]
        value = str(next(years)) if slot.source == "year" else slot_value(slot, names, rng)
        sentences.append(sample.render(rng.choice(slot.sentences), entity, value)[0])
    fillers = rng.sample(spec.fillers, rng.randint(*FILLERS))
    sentences += [sample.render(filler, entity, None)[0] for filler in fillers]
    return sentences


def build_corpus(n_documents: int = DOCUMENTS, seed: int = SEED) -> tuple[str, set[str]]:
    """The whole corpus as text (kinds in rotation, one sentence per line, a blank line between documents)
    and the set of names it uses."""
    rng = random.Random(seed)
    names = CorpusNames(rng)
    kinds = list(sample.KINDS)
    documents = ["\n".join(build_document(kinds[i % len(kinds)], names, rng)) for i in range(n_documents)]
    return "\n\n".join(documents) + "\n", names.drawn


def write_text_atomic(text: str, path: Path) -> None:
    """Write text through a temporary file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    tmp.chmod(0o644)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the corpus")
    args = parser.parse_args(argv)
    write_text_atomic(build_corpus()[0], args.out)
    print(f"corpus: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
