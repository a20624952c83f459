"""Benchmark 5: inference throughput of ``predict_file`` against the question-answering pipeline.

transformers 5 no longer ships ``pipeline("question-answering")``; the baseline is the bench's port of
the transformers 4.57 pipeline (see ``qa_pipeline_port``), run on the same tiny AVPool model (the pipeline
reads the span logits only; the answerability head runs and is ignored), the same questions and contexts,
384/128 windows, batch size 32, n-best / top_k 20, answers up to 30 tokens, impossible answers allowed.
Ours reads the questions from a JSON file (as ``albertzero predict --data`` does) and builds features with
the ``datasets`` cache disabled, so no run reuses another's work.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import datasets

from albertzero_utils import paths
from albertzero_utils.data import load_tokenizer
from albertzero_utils.features import FeatureConfig
from albertzero_utils.modeling import load_qa_model
from albertzero_utils.postprocess import PostprocessConfig
from albertzero_utils.predict import predict_file

from . import qa_pipeline_port
from .common import Timing, ratio, timed


def write_subset(source: Path, count: int, directory: Path) -> tuple[Path, list[str], list[str]]:
    """The first ``count`` questions of ``source`` as an official-format file, and their questions/contexts."""
    obj = json.loads(source.read_text(encoding="utf-8"))
    articles, questions, contexts = [], [], []
    for article in obj["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            qas = paragraph["qas"][:count - len(questions)]
            if qas:
                paragraphs.append({**paragraph, "qas": qas})
                questions += [qa["question"] for qa in qas]
                contexts += [paragraph["context"]] * len(qas)
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
        if len(questions) >= count:
            break
    path = directory / "questions.json"
    path.write_text(json.dumps({"version": "v2.0", "data": articles}), encoding="utf-8")
    return path, questions, contexts


def run(dev_file: Path, questions_count: int = 96, repeats: int = 2, batch_size: int = 32) -> dict:
    """Interleaved runs of each side on the first ``questions_count`` questions; throughput from the medians."""
    model = load_qa_model(paths.TINY_MODEL_DIR, seed=0).eval()
    tokenizer = load_tokenizer(paths.TINY_MODEL_DIR)
    cfg, feature_cfg = PostprocessConfig(n_best=20, max_answer_length=30), FeatureConfig()
    ours, pipeline = Timing(), Timing()
    caching = datasets.is_caching_enabled()
    datasets.disable_caching()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-predict-") as directory:
            path, questions, contexts = write_subset(dev_file, questions_count, Path(directory))
            for _ in range(repeats):
                with timed(ours):
                    predictions = predict_file(model, tokenizer, path, batch_size, cfg, feature_cfg)
                with timed(pipeline):
                    answers = qa_pipeline_port.answer_all(model, tokenizer, questions, contexts, top_k=20,
                                                          max_answer_len=30, batch_size=batch_size)
    finally:
        if caching:
            datasets.enable_caching()
    assert len(predictions.answers) == len(answers) == len(questions)
    windows = sum(len(qa_pipeline_port.preprocess(tokenizer, q, c, 384, 128)) for q, c in zip(questions, contexts))
    return {
        "what": "predict_file() vs a port of transformers 4.57 pipeline('question-answering') (removed in v5)",
        "model": f"{paths.TINY_MODEL_DIR.name} (random weights), both sides the same AVPool model",
        "questions": len(questions), "windows": windows, "batch_size": batch_size, "n_best": 20,
        "ours": ours.summary(), "pipeline_port": pipeline.summary(),
        "ours_questions_per_s": round(len(questions) / ours.wall, 2),
        "pipeline_questions_per_s": round(len(questions) / pipeline.wall, 2),
        "ratio": ratio(pipeline.wall, ours.wall), "ratio_cpu": ratio(pipeline.cpu, ours.cpu),
    }
