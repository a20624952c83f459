"""A literal port of the official SQuAD 2.0 ``evaluate-v2.0.py`` (Rajpurkar et al. 2018), one question at a time.

It is the reference that ``albertzero_utils.metrics`` must match to the last bit: the tests compare the two
on hand-made and random cases, and ``make bench`` times them against each other on the dev set.
"""
from __future__ import annotations

import collections
import re
import string

def official_normalize(s):
    def remove_articles(text):
        return re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def official_f1(a_gold, a_pred):
    gold_toks = official_normalize(a_gold).split() if a_gold else []
    pred_toks = official_normalize(a_pred).split() if a_pred else []
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def official_best_thresh(preds, scores, na_probs, qid_to_has_ans):
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = num_no_ans
    best_score = cur_score
    best_thresh = 0.0
    qid_list = sorted(na_probs, key=lambda k: na_probs[k])
    for qid in qid_list:
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def official_ap(scores, na_probs, num_true_pos, qid_to_has_ans):
    qid_list = sorted(na_probs, key=lambda k: na_probs[k])
    true_pos, recalls, avg_prec = 0.0, [0.0], 0.0
    for i, qid in enumerate(qid_list):
        if qid_to_has_ans[qid]:
            true_pos += scores[qid]
        cur_p = true_pos / float(i + 1)
        cur_r = true_pos / float(num_true_pos)
        if i == len(qid_list) - 1 or na_probs[qid] != na_probs[qid_list[i + 1]]:
            avg_prec += cur_p * (cur_r - recalls[-1])
            recalls.append(cur_r)
    return 100.0 * avg_prec


def reference_metrics(golds, preds, na_probs, thresh=1.0, *, pr_curves=True):
    has = {q: bool(a) for q, a in golds.items()}
    exact, f1 = {}, {}
    for q, answers in golds.items():
        gold_texts = [a for a in answers if official_normalize(a)] or [""]
        exact[q] = max(int(official_normalize(a) == official_normalize(preds[q])) for a in gold_texts)
        f1[q] = max(official_f1(a, preds[q]) for a in gold_texts)
    ex_t = {q: float(not has[q]) if na_probs[q] > thresh else s for q, s in exact.items()}
    f1_t = {q: float(not has[q]) if na_probs[q] > thresh else s for q, s in f1.items()}
    out = collections.OrderedDict(exact=100.0 * sum(ex_t.values()) / len(ex_t),
                                  f1=100.0 * sum(f1_t.values()) / len(f1_t), total=len(ex_t))
    for prefix, flag in (("HasAns", True), ("NoAns", False)):
        ids = [q for q in golds if has[q] == flag]
        if ids:
            out[f"{prefix}_exact"] = 100.0 * sum(ex_t[k] for k in ids) / len(ids)
            out[f"{prefix}_f1"] = 100.0 * sum(f1_t[k] for k in ids) / len(ids)
            out[f"{prefix}_total"] = len(ids)
    out["best_exact"], out["best_exact_thresh"] = official_best_thresh(preds, exact, na_probs, has)
    out["best_f1"], out["best_f1_thresh"] = official_best_thresh(preds, f1, na_probs, has)
    if not pr_curves:
        return out
    n_true = sum(has.values())
    out["pr_exact_ap"] = official_ap(exact, na_probs, n_true, has)
    out["pr_f1_ap"] = official_ap(f1, na_probs, n_true, has)
    out["pr_oracle_ap"] = official_ap({k: float(v) for k, v in has.items()}, na_probs, n_true, has)
    return out
