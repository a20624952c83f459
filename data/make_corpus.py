"""Generate the pretraining corpus of the embedded default (fictional documents, fixed seed).

    python data/make_corpus.py [--out FILE]

rewrites ``data/pretrain/corpus.txt`` byte-identically: one sentence per line and a blank line between
documents, the input format of BERT's and ALBERT's ``create_pretraining_data.py``. Each document describes one
invented entity with the sentence templates of the QA sample (``make_sample.py``), so a model pretrained on it
learns the sample's language, but

- **no paragraph is shared**: documents are written fresh, in a fixed order (a definition, then most of the
  kind's facts in the order of its slots, years in chronological order, then descriptive sentences), not as
  the sample's shuffled paragraphs;
- **no entity is shared**: names are built from the sample's syllables and words (so the tiny tokenizer,
  trained on the sample, knows their pieces), but every name the sample uses is excluded, so no town, person,
  ship, company, festival, river or mountain of the corpus appears in the sample, and the other way round
  (``tests/test_pretrain_corpus.py`` checks it).

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
DOCUMENTS = 540  # 90 per kind: about 100 ship names are free of the sample's names
STATED_SHARE = 0.8  # share of a kind's slots a document states
FILLERS = (3, 5)  # descriptive sentences at the end of a document

INTRODUCTIONS = {
    "town": "{E} is a small town.|{E} is an old market town.",
    "inventor": "{E} was an inventor.|{E} was an inventor and craftsman.",
    "ship": "{E} was a merchant ship.|{E} was a sailing ship.",
    "company": "{E} is a manufacturing company.|{E} is a family company.",
    "festival": "{E} is a yearly festival.|{E} is a popular summer festival.",
    "river": "{E} is a river.|{E} is a long river.",
}


class CorpusNames(sample.NameMaker):
    """Names from the sample's own syllables and words (so the tiny tokenizer knows their pieces), but never a
    name that the sample uses: a document's subject is unique in the corpus, other names may recur (towns and
    people recur in an encyclopedia too)."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        super().__init__(rng)
        self.taken = frozenset(taken)
        self.used = set(taken)  # so `value` (a subject) is neither a sample name nor an earlier subject
        self.drawn: set[str] = set()  # every name written into the corpus (the disjointness test reads it)

    def value(self, kind: str) -> str:
        """A document's subject: unique in the corpus and free of the sample's names."""
        return self._unique(lambda: self.any_value(kind))

    def any_value(self, kind: str) -> str:
        """A name of the given kind that neither is, contains nor is part of a sample name (it may recur in the
        corpus): a ship 'Crimson Lantern' would be part of the sample's 'Crimson Lantern Festival'."""
        for _ in range(10_000):
            name = self.draw(kind)
            if not any(name in taken or taken in name for taken in self.taken):
                self.drawn.add(name)
                return name
        raise RuntimeError("name pool exhausted")


def sample_names() -> set[str]:
    """Every name the QA sample uses (train and dev), drawn exactly as make_sample.py draws them."""
    rng = random.Random(sample.SEED)
    names = sample.NameMaker(rng)
    for split, n_paragraphs in sample.SPLITS.items():
        sample.build_split(split, n_paragraphs, names, rng)
    return names.used


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
    names = CorpusNames(rng, taken=sample_names())
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
