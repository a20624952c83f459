"""ALBERT's pretraining data: sentence-order pairs and n-gram masks (Lan et al. 2020, arXiv:1909.11942).

A corpus is plain text, one sentence per line and a blank line between documents (the input format of
ALBERT's ``create_pretraining_data.py``). :func:`build_segment_pairs` cuts each document into pieces of
consecutive sentences that fit one sequence and splits each piece into two segments A and B at a sentence
boundary. Each time an example is read, :class:`PretrainingDataset` decides, from (seed, epoch, index) alone:

- **sentence-order prediction (SOP)**: with probability 1/2 the two segments are swapped, label 1
  ("swapped"), else label 0. Both segments come from one document, so, unlike BERT's next-sentence
  prediction, topic gives nothing away: only coherence and order do (section 3.1 of the paper);
- **n-gram masking**: spans of n = 1, 2 or 3 tokens, n drawn with p(n) proportional to 1/n (section 4.1),
  are chosen until a share of the tokens is covered (``mask_probability``; ALBERT's 15% by default); each
  chosen token becomes ``[MASK]`` 80% of the time, a random token 10%, itself 10%, and is predicted by the
  masked-LM head.

Deciding from (seed, epoch, index) makes the data a function of the seed: a resumed run reads exactly the
examples the uninterrupted run would have. transformers' ``DataCollatorForLanguageModeling`` masks single
tokens with the global RNG, so it fits neither the n-grams nor exact resume: we mask (and pad) here.
"""
from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import DataError

#: ALBERT's (and BERT's) share of masked tokens. Held-out data is always masked at this share, so that
#: held-out MLM figures compare across runs whatever share a run trains with.
MASK_PROBABILITY = 0.15
MAX_NGRAM = 3
IGNORE_INDEX = -100  # labels of tokens that are not predicted


def read_documents(path: str | Path) -> list[list[str]]:
    """The documents of a corpus file as lists of sentences (one-line errors for a missing or empty file)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot read the corpus ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    documents = [[line.strip() for line in block.splitlines() if line.strip()] for block in text.split("\n\n")]
    documents = [doc for doc in documents if len(doc) >= 2]
    if not documents:
        raise DataError(f"{path}: no document with two or more sentences (one sentence per line, "
                        f"a blank line between documents)")
    return documents


def split_documents(documents: list[list[str]], heldout_share: float) -> tuple[list, list]:
    """Training and held-out documents: every k-th document is held out (no document is in both)."""
    every = max(2, round(1 / heldout_share)) if heldout_share > 0 else len(documents) + 1
    train = [doc for i, doc in enumerate(documents) if i % every != every - 1]
    heldout = [doc for i, doc in enumerate(documents) if i % every == every - 1]
    return train, heldout


@dataclass(frozen=True)
class SegmentPair:
    """Two runs of consecutive sentences of one document, in their original order (token ids)."""

    first: list[int]
    second: list[int]


def build_segment_pairs(documents: list[list[str]], tokenizer: Any, max_seq_length: int) -> list[SegmentPair]:
    """Cut each document into pieces that fit ``[CLS] A [SEP] B [SEP]`` and split each at its middle sentence.

    A sentence longer than the whole budget is truncated; a piece of one sentence is split at its middle token.
    """
    budget = max_seq_length - 3
    pairs: list[SegmentPair] = []
    for document in documents:
        sentences = [ids[:budget] for ids in tokenizer(document, add_special_tokens=False)["input_ids"]]
        piece: list[list[int]] = []
        for sentence in sentences:
            if piece and sum(map(len, piece)) + len(sentence) > budget:
                pairs += _split_piece(piece)
                piece = []
            piece.append(sentence)
        pairs += _split_piece(piece)
    return pairs


def _split_piece(piece: list[list[int]]) -> list[SegmentPair]:
    """One piece of sentences as a pair, split at the sentence boundary nearest its middle token."""
    tokens = [t for sentence in piece for t in sentence]
    if len(tokens) < 2:
        return []
    if len(piece) == 1:
        middle = len(tokens) // 2
        return [SegmentPair(tokens[:middle], tokens[middle:])]
    lengths = [len(s) for s in piece]
    cut = min(range(1, len(piece)), key=lambda k: abs(sum(lengths[:k]) - len(tokens) / 2))
    return [SegmentPair([t for s in piece[:cut] for t in s], [t for s in piece[cut:] for t in s])]


def example_rng(seed: int, epoch: int, index: int) -> random.Random:
    """The random stream of one example in one epoch: a fixed function of the three numbers."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def ngram_mask(input_ids: list[int], candidates: list[int], rng: random.Random, *, mask_id: int,
               vocab_size: int, special_ids: set[int],
               mask_probability: float = MASK_PROBABILITY) -> tuple[list[int], list[int]]:
    """Mask n-gram spans of ``candidates`` (positions) until ``mask_probability`` of them are covered; return
    ids and labels."""
    weights = [1 / n for n in range(1, MAX_NGRAM + 1)]
    target = max(1, round(mask_probability * len(candidates)))
    starts = candidates[:]
    rng.shuffle(starts)
    chosen: set[int] = set()
    allowed = set(candidates)
    for start in starts:
        if len(chosen) >= target:
            break
        n = rng.choices(range(1, MAX_NGRAM + 1), weights)[0]
        span = [p for p in range(start, start + n) if p in allowed]
        if len(span) < n or chosen.intersection(span) or len(chosen) + n > target + 1:
            continue
        chosen.update(span)
    masked, labels = list(input_ids), [IGNORE_INDEX] * len(input_ids)
    for position in sorted(chosen):
        labels[position] = input_ids[position]
        roll = rng.random()
        if roll < 0.8:
            masked[position] = mask_id
        elif roll < 0.9:
            masked[position] = _random_token(rng, vocab_size, special_ids)
    return masked, labels


def _random_token(rng: random.Random, vocab_size: int, special_ids: set[int]) -> int:
    while True:
        token = rng.randrange(vocab_size)
        if token not in special_ids:
            return token


class PretrainingDataset(torch.utils.data.Dataset):
    """SOP pairs, swapped and masked afresh each epoch from (seed, epoch, index): exact under resume.

    With ``vary_by_epoch=False`` (held-out data) every read gives the masks of epoch 0, so that evaluations
    are comparable (Accelerate calls ``set_epoch`` each time a loader is iterated).
    """

    def __init__(self, pairs: list[SegmentPair], tokenizer: Any, seed: int, *, vary_by_epoch: bool = True,
                 mask_probability: float = MASK_PROBABILITY) -> None:
        self.pairs, self.tokenizer, self.seed, self.epoch = pairs, tokenizer, seed, 0
        self.vary_by_epoch, self.mask_probability = vary_by_epoch, mask_probability
        self.special_ids = set(tokenizer.all_special_ids)

    def set_epoch(self, epoch: int) -> None:
        if self.vary_by_epoch:
            self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = example_rng(self.seed, self.epoch, index)
        pair = self.pairs[index]
        swapped = rng.random() < 0.5
        first, second = (pair.second, pair.first) if swapped else (pair.first, pair.second)
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        input_ids = [cls, *first, sep, *second, sep]
        candidates = [p for p, t in enumerate(input_ids) if t not in (cls, sep)]
        masked, labels = ngram_mask(input_ids, candidates, rng, mask_id=self.tokenizer.mask_token_id,
                                    vocab_size=len(self.tokenizer), special_ids=self.special_ids,
                                    mask_probability=self.mask_probability)
        return {"input_ids": masked, "token_type_ids": [0] * (len(first) + 2) + [1] * (len(second) + 1),
                "attention_mask": [1] * len(input_ids), "labels": labels, "sentence_order_label": int(swapped)}


def neighbour_table_accuracy(train_pairs: list[SegmentPair], heldout: PretrainingDataset) -> float:
    """The held-out masked-LM accuracy of a lookup table: a yardstick for a model's ``mlm_accuracy``.

    For each masked position of ``heldout`` (its fixed masks), the table guesses the token seen most often in
    the training pairs between the same left and right neighbours (as they appear in the masked input); it
    backs off to the left neighbour alone, then the right one, then the most frequent token. A model that
    uses its neighbours should get at least this far.
    """
    between, after, before, unigram = defaultdict(Counter), defaultdict(Counter), defaultdict(Counter), Counter()
    for pair in train_pairs:
        for segment in (pair.first, pair.second):
            unigram.update(segment)
            for left, token, right in zip(segment, segment[1:], segment[2:]):
                between[left, right][token] += 1
            for left, right in zip(segment, segment[1:]):
                after[left][right] += 1  # the tokens seen after `left`
                before[right][left] += 1  # the tokens seen before `right`
    fallback = unigram.most_common(1)[0][0]
    hits = total = 0
    for index in range(len(heldout)):
        example = heldout[index]
        ids = example["input_ids"]
        for position, label in enumerate(example["labels"]):
            if label == IGNORE_INDEX:
                continue
            left, right = ids[position - 1], ids[position + 1]
            table = between.get((left, right)) or after.get(left) or before.get(right)
            hits += (table.most_common(1)[0][0] if table else fallback) == label
            total += 1
    return hits / total


def render_example(example: dict[str, Any], tokenizer: Any) -> str:
    """One example as the model sees it, each masked position as ``SEEN(target)``, and its SOP label."""
    seen = tokenizer.convert_ids_to_tokens(example["input_ids"])
    shown = [token if label == IGNORE_INDEX else f"{token}({tokenizer.convert_ids_to_tokens(label)})"
             for token, label in zip(seen, example["labels"])]
    order = "swapped (label 1)" if example["sentence_order_label"] else "in order (label 0)"
    return f"{' '.join(shown)}\n-> segments {order}"


def collate(tokenizer: Any, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest example (labels with -100) and make tensors."""
    longest = max(len(e["input_ids"]) for e in examples)
    pad = {"input_ids": tokenizer.pad_token_id, "token_type_ids": 0, "attention_mask": 0, "labels": IGNORE_INDEX}
    batch = {key: torch.tensor([e[key] + [value] * (longest - len(e[key])) for e in examples])
             for key, value in pad.items()}
    batch["sentence_order_label"] = torch.tensor([e["sentence_order_label"] for e in examples])
    return batch
