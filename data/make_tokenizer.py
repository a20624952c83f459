"""Train the tiny ALBERT tokenizer on the embedded sample and write the tiny model config.

    python data/make_tokenizer.py [--out-dir DIR] [--vocab-size N]

writes ``DIR/spiece.model``, ``DIR/tokenizer_config.json`` and ``DIR/config.json`` (default:
``data/tiny-albert``). The SentencePiece unigram model copies the conventions of albert-base-v2's
``spiece.model``: ``<pad>``=0, ``<unk>``=1, control symbols ``[CLS]``=2, ``[SEP]``=3, ``[MASK]``=4, the same
user-defined symbols, NMT-NFKC normalisation and lower-cased training text (lower-casing at encode time is
the tokenizer's ``do_lower_case``). Run ``data/make_sample.py`` first: the tokenizer is trained on its files.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
from pathlib import Path

import sentencepiece as spm

DATA_DIR = Path(__file__).resolve().parent
DEFAULT_OUT_DIR = DATA_DIR / "tiny-albert"
DEFAULT_SAMPLE_DIR = DATA_DIR / "sample"
SAMPLE_NAMES = ("train-v2.0.json", "dev-v2.0.json")
DEFAULT_VOCAB_SIZE = 1000

SPECIAL_TOKENS = {"pad": "<pad>", "unk": "<unk>", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
CONTROL_SYMBOLS = ["[CLS]", "[SEP]", "[MASK]"]
USER_DEFINED_SYMBOLS = ["(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac"]  # as in albert-base-v2

TOKENIZER_CONFIG = {
    "tokenizer_class": "AlbertTokenizer",
    "do_lower_case": True,
    "keep_accents": False,
    "remove_space": True,
    "bos_token": "[CLS]",
    "eos_token": "[SEP]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "[MASK]",
    "model_max_length": 512,
}


def tiny_albert_config(vocab_size: int) -> dict:
    """The tiny ALBERT: 12 layers sharing one block, hidden 128; dropouts and ids as albert-base-v2."""
    return {
        "architectures": ["AlbertForMaskedLM"],
        "model_type": "albert",
        "vocab_size": vocab_size,
        "embedding_size": 64,
        "hidden_size": 128,
        "num_hidden_layers": 12,
        "num_hidden_groups": 1,
        "inner_group_num": 1,
        "num_attention_heads": 4,
        "intermediate_size": 512,
        # gelu_new (albert-base-v2's activation) computed by one fused PyTorch op: the same tanh formula, and
        # several times faster on a CPU than transformers' elementwise gelu_new
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_dropout_prob": 0,
        "attention_probs_dropout_prob": 0,
        "classifier_dropout_prob": 0.1,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
    }


def sample_sentences(sample_dir: Path = DEFAULT_SAMPLE_DIR) -> list[str]:
    """Every context and question of the sample, lower-cased, in file order (titles are in the contexts).

    The distinct words follow, one per line: SentencePiece seeds its vocabulary with substrings that are
    followed by more than one distinct character, so in a corpus this small a word that is always followed
    by a space ('was', 'what') would never become a piece on its own.
    """
    lines: list[str] = []
    for name in SAMPLE_NAMES:
        with open(sample_dir / name, encoding="utf-8") as handle:
            squad = json.load(handle)
        for article in squad["data"]:
            for paragraph in article["paragraphs"]:
                lines.append(paragraph["context"].lower())
                lines.extend(qa["question"].lower() for qa in paragraph["qas"])
    return lines + sorted({word for line in lines for word in line.split()})


def train_spiece(sentences: list[str], vocab_size: int) -> bytes:
    """A deterministic SentencePiece unigram model (single thread, no input shuffling) as bytes.

    The vocabulary size is an upper bound (a soft limit): a corpus this small supports about 1,000 pieces.
    """
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=buffer,
        model_type="unigram",
        vocab_size=vocab_size,
        character_coverage=1.0,
        normalization_rule_name="nmt_nfkc",
        split_by_unicode_script=True,
        split_by_number=True,
        split_by_whitespace=True,
        max_sentencepiece_length=16,
        shuffle_input_sentence=False,
        num_threads=1,
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        control_symbols=CONTROL_SYMBOLS,
        user_defined_symbols=USER_DEFINED_SYMBOLS,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return buffer.getvalue()


def write_atomic(path: Path, payload: bytes) -> None:
    """Write bytes through a temporary file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_bytes(obj: dict) -> bytes:
    """Pretty JSON with a trailing newline."""
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def build(out_dir: Path, vocab_size: int = DEFAULT_VOCAB_SIZE, sample_dir: Path = DEFAULT_SAMPLE_DIR) -> int:
    """Write spiece.model, tokenizer_config.json and config.json; return the vocabulary size."""
    model = train_spiece(sample_sentences(sample_dir), vocab_size)
    processor = spm.SentencePieceProcessor(model_proto=model)
    expected = ["<pad>", "<unk>", *CONTROL_SYMBOLS]
    if [processor.id_to_piece(i) for i in range(len(expected))] != expected:
        raise RuntimeError("special pieces are not at ids 0-4")
    write_atomic(out_dir / "spiece.model", model)
    write_atomic(out_dir / "tokenizer_config.json", json_bytes(TOKENIZER_CONFIG))
    write_atomic(out_dir / "config.json", json_bytes(tiny_albert_config(processor.get_piece_size())))
    return processor.get_piece_size()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where to write the files")
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE, help="SentencePiece pieces")
    parser.add_argument("--sample-dir", type=Path, default=DEFAULT_SAMPLE_DIR,
                        help="the folder with train-v2.0.json and dev-v2.0.json to train on")
    args = parser.parse_args(argv)
    size = build(args.out_dir, args.vocab_size, args.sample_dir)
    print(f"{args.out_dir}: spiece.model ({size} pieces), tokenizer_config.json, config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
