"""Direct evidence of task quality, from prefill passes only (docs/design.md §5c).

A verdict is cheapest and most portable when it rests on the quantity the task scores,
read on the calibration items, without ever letting the pruned model decode freely:

* **choice tasks** (classification, multiple-choice) are prefill-only already: option
  log-likelihoods give the pruned model's answer, scored exactly as ground truth scores it.
  **retrieval** too (embeddings), read as the reciprocal rank of the gold passage: the
  calibration corpus is smaller than the evaluation's, and the rank moves before recall@1.
* **short-answer tasks** (math, rag): greedy decoding is deterministic, so the pruned
  model's greedy output equals the dense one up to token k *exactly* when, reading the
  dense continuation teacher-forced, its argmax is the dense token at every step < k. One
  prefill over prompt + dense answer therefore tells on which items the pruned model gives
  the dense model's answer ("answer survival"), which keeps its score. A short answer
  survives only if every one of its tokens does: this is accumulation, to first order.
* **open-ended text** (generation, summarization): quality is judged against a reference,
  and greedy texts part after a few tokens even when quality holds, so survival says
  little. The evidence is the pruned model's excess negative log-likelihood of the
  reference text over the dense model's, ΔNLL in nats per token (a log perplexity ratio
  on text the task wants written) and, as its retention-like summary, exp(−ΔNLL).

Every per-item record is paired (dense, pruned) so retention gets a paired bootstrap
interval like ground truth (:func:`advisor.truth.retention.retention`). The dense side (greedy
answers, reference log-likelihoods) is cached on disk per dense model and items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from advisor import forward
from advisor.cache import cache_file
from advisor.forward.reuse import memoised
from advisor.measure.loss import loss_stats
from advisor.models.anatomy import head_logits, input_device
from advisor.models.loading import LoadedModel
from advisor.publish import read_checked_json, write_checked_json
from advisor.suites.items import Item, items_hash
from advisor.suites.tasks import TASK_TYPES
from advisor.truth import metrics
from advisor.truth.retention import retention
from advisor.truth.score import ItemResult, cut_at_stop, greedy_continuations, score_model

EVIDENCE_VERSION = "evidence-v4"  # v4: the dense side of short answers keeps their margins
# The evidence follows what the task type's metric scores (its suite spec names the metric).
EVIDENCE_BY_METRIC = {
    "accuracy": "answers",
    "recall@1": "ranking",
    "span-match": "survival",
    "exact-number": "survival",
    "chrf": "reference",
}
# Logits within this of the maximum count as the argmax: a dense-vs-dense comparison must
# not lose a token to the rounding difference between cached decoding and one prefill.
ARGMAX_SLACK = 1e-4
# Prompts per teacher-forced prefill. The pass is bound by arithmetic, so larger batches
# buy little time but hold every row's KV cache and activations at once (rag, 24 rows of
# ~250 tokens: ~0.8 GB at the peak of `assess --task rag` on SmolLM2-135M, against ~0.3 GB
# at 8 rows).
FORCED_BATCH = 8
# The kinds whose dense side (greedy answers, reference NLL) is measured and cached.
SIDED = ("survival", "reference")


@dataclass
class TaskEvidence:
    """What the calibration items say directly about one task type's quality.

    ``kind``: "answers" / "ranking" (pruned answers scored like ground truth), "survival"
    (dense answers reproduced under teacher forcing) or "reference" (ΔNLL of the
    reference text).
    ``dense`` / ``pruned``: paired per-item scores (for "reference": exp(−NLL) per token,
    so their ratio is exp(−ΔNLL)). ``retention`` / ``ci``: the paired estimate and its 95%
    bootstrap interval. ``stats``: kind-specific summaries (e.g. ``delta_nll``).
    ``look``: the sequential look it was read at (:mod:`advisor.rules.looks`), if any.
    ``positions``: the positions of the items read, where the reader records them.
    """

    task: str
    kind: str
    dense: list[float]
    pruned: list[float]
    retention: float | None
    ci: list[float] | None
    stats: dict[str, float] = field(default_factory=dict)
    look: dict[str, Any] | None = None
    positions: list[int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy without the per-item lists."""
        record = asdict(self)
        for per_item in ("dense", "pruned", "positions"):
            record.pop(per_item)
        if record["look"] is None:
            record.pop("look")
        return record | {"n": len(self.dense)}


def evidence_kind(task: str) -> str:
    """Which evidence a task type's verdict reads, by the metric its spec names (see the
    module docstring): "answers" for choice tasks, "ranking" for retrieval (answers too,
    ranked within the calibration corpus, smaller than the evaluation's), "survival" for
    short answers, "reference" for free text."""
    return EVIDENCE_BY_METRIC[TASK_TYPES[task].metric]


# --------------------------------------------------------------------------- dense side


def _answer_window(tokenizer: Any, tokens: Sequence[int], item: Item) -> tuple[int, bool]:
    """How many leading tokens of a greedy continuation decide its scored answer, and
    whether the last of them is only a word boundary.

    A span answer (rag) is decided once the gold span has appeared as whole words: the
    tokens up to it plus the next one, which must not extend the last word ("Egypt" must
    not grow into "Egyptian"). Otherwise the answer is the text up to its stop string plus
    the next token, which must end the answer (an answer "7" followed by "5" instead of a
    newline is "75"). Where the continuation ran to its horizon, every token counts.
    """

    def text_of(k: int) -> str:
        return tokenizer.decode(list(tokens[:k]), skip_special_tokens=True)

    if TASK_TYPES[item.task].metric == "span-match" and item.reference:
        for k in range(1, len(tokens) + 1):
            if metrics.span_match(text_of(k), item.reference):
                return (k + 1, True) if k < len(tokens) else (k, False)
    text = text_of(len(tokens))
    cut = cut_at_stop(text, item.meta.get("stop", []))
    if len(cut) >= len(text):
        return len(tokens), False
    for k in range(1, len(tokens) + 1):
        if len(text_of(k)) > len(cut):
            return k, True
    return len(tokens), False


def _reference_ids(tokenizer: Any, item: Item) -> tuple[list[int], list[int]]:
    """Prompt and reference token ids, the reference read as the prompt's continuation."""
    reference = (item.reference or "").strip()
    joiner = "" if item.prompt.endswith((" ", "\n")) else " "
    return forward.split_continuation(tokenizer, item.prompt, joiner + reference)


def _forced_logits(
    model: Any, tokenizer: Any, prompts: list[list[int]], conts: list[list[int]]
) -> list[torch.Tensor]:
    """Logits predicting each continuation token, teacher-forced after its prompt.

    One prefill per prompt through :func:`advisor.forward.decode` (a prefix that prompts
    share, such as a suite's demonstrations, runs once) and the continuation read from its
    cache; the single greedy step it also takes is not used.
    """
    decoded = forward.decode(model, tokenizer, prompts, 1, forced=conts, batch_size=FORCED_BATCH)
    with torch.inference_mode():
        return [head_logits(model, s).float() for s in decoded.forced or []]


def _margin(logits: torch.Tensor, targets: Sequence[int]) -> float:
    """The least, over the positions, of the target token's logit minus the largest other
    one: how close a reproduced answer is to flipping (negative where another token wins)."""
    target = torch.as_tensor(list(targets))[:, None]
    chosen = logits.gather(-1, target).squeeze(-1)
    return float((chosen - logits.scatter(-1, target, -math.inf).max(-1).values).min())


def _mean_nll(logits: torch.Tensor, targets: Sequence[int]) -> float:
    logp = torch.log_softmax(logits.double(), -1)
    picked = logp.gather(-1, torch.as_tensor(list(targets))[:, None]).squeeze(-1)
    return float(-picked.mean())


def dense_side(dense: LoadedModel, task: str, items: list[Item], *, cache: bool = True) -> dict:
    """The dense model's part of the evidence for one task type, cached on disk.

    short answers: greedy tokens, the answer window of each item and the dense model's
    margin on it (:func:`_margin`, read from the states greedy decoding picked its tokens
    from: what a screened reading orders items by, :mod:`advisor.guidance.screen`); open
    text: the reference's token ids and the dense mean NLL per item.
    """
    kind = evidence_kind(task)
    path = cache_file("evidence", EVIDENCE_VERSION, dense.cache_identity, kind, items_hash(items))
    record = read_checked_json(path) if cache else None
    if record is not None:
        return record
    record = {"kind": kind}
    if kind == "survival":
        decoded = greedy_continuations(dense, items)
        tokens = [t for t, _, _ in decoded]
        windows = [
            _answer_window(dense.tokenizer, t, item) for t, item in zip(tokens, items, strict=True)
        ]
        margins = []
        for (answer, _, states), (k, _) in zip(decoded, windows, strict=True):
            with torch.inference_mode():
                logits = head_logits(dense.model, states[:k].to(input_device(dense.model)))
            margins.append(_margin(logits.float().cpu(), answer[:k]) if k else None)
        record |= {
            "tokens": tokens,
            "window": [k for k, _ in windows],
            "boundary": [b for _, b in windows],
            "margins": margins,
        }
    elif kind == "reference":
        record["nll"] = reference_nll(dense.model, dense.tokenizer, items)
    if cache:
        write_checked_json(path, record)
    return record


# --------------------------------------------------------------------------- pruned side


def _ends_word(tokenizer: Any, token: int) -> bool:
    text = tokenizer.decode([token], skip_special_tokens=False)
    return not text or not (text[0].isalnum() or text[0] == "_")


def answer_reads(
    pruned: Any, tokenizer: Any, items: list[Item], side: dict[str, Any]
) -> list[tuple[bool, float]]:
    """Per item, read from one teacher-forced prefill along the dense answer window:
    whether the pruned model's greedy decoding reproduces it (:func:`survival`), and the
    pruned model's mean NLL per token of it (how far it is from reproducing it; 0.0 for an
    empty answer)."""
    prompts = [forward.encode(tokenizer, item.prompt) for item in items]
    conts = [list(t[:k]) for t, k in zip(side["tokens"], side["window"], strict=True)]
    keep = [n for n, c in enumerate(conts) if c]
    out = [(True, 0.0)] * len(items)  # an empty answer is reproduced trivially

    def read(todo: list[int]) -> list[tuple[bool, float]]:
        rows = [keep[k] for k in todo]
        logits = _forced_logits(
            pruned, tokenizer, [prompts[n] for n in rows], [conts[n] for n in rows]
        )
        found = []
        for n, z in zip(rows, logits, strict=True):
            target = torch.as_tensor(conts[n])
            chosen = z.gather(-1, target[:, None]).squeeze(-1)
            same = chosen >= z.max(-1).values - ARGMAX_SLACK
            if side["boundary"][n] and not bool(same[-1]):
                same[-1] = _ends_word(tokenizer, int(z[-1].argmax()))
            found.append((bool(same.all()), _mean_nll(z, conts[n])))
        return found

    keys = [("survival", tuple(prompts[n]), tuple(conts[n]), side["boundary"][n]) for n in keep]
    for n, value in zip(keep, memoised(pruned, keys, read), strict=True):
        out[n] = value
    return out


def survival(pruned: Any, tokenizer: Any, items: list[Item], side: dict[str, Any]) -> list[bool]:
    """Whether the pruned model's greedy decoding reproduces each dense answer window:
    teacher-forced along the dense tokens, its argmax is the dense token at every step,
    except that a closing boundary token may be any token that ends the word."""
    return [kept for kept, _ in answer_reads(pruned, tokenizer, items, side)]


def dense_margins(dense: LoadedModel, task: str, items: list[Item]) -> list[float] | None:
    """The dense model's margin on each of its short answers (its dense side's; an empty
    answer: inf), None for a task type whose evidence is no short answer."""
    if evidence_kind(task) != "survival":
        return None
    return [math.inf if m is None else m for m in dense_side(dense, task, items)["margins"]]


def reference_nll(pruned: Any, tokenizer: Any, items: list[Item]) -> list[float]:
    """The pruned model's mean NLL per token of each item's reference text."""
    pairs = [_reference_ids(tokenizer, item) for item in items]

    def nll(todo: list[int]) -> list[float]:
        prompts, refs = [pairs[k][0] for k in todo], [pairs[k][1] for k in todo]
        logits = _forced_logits(pruned, tokenizer, prompts, refs)
        return [_mean_nll(z, r) for z, r in zip(logits, refs, strict=True)]

    keys = [("reference", tuple(p), tuple(r)) for p, r in pairs]
    return memoised(pruned, keys, nll)


def _evidence(task: str, kind: str, dense: list[float], pruned: list[float], **stats: float):
    record = retention(dense, pruned)
    return TaskEvidence(
        task=task,
        kind=kind,
        dense=dense,
        pruned=pruned,
        retention=record["retention"],
        ci=record["ci"],
        stats={k: float(v) for k, v in stats.items()} | loss_stats(kind, dense, pruned),
    )


def task_evidence(
    dense: LoadedModel,
    pruned: Any,
    task: str,
    items: list[Item],
    dense_results: list[ItemResult],
    *,
    cache: bool = True,
    picks: Sequence[int] | None = None,
) -> TaskEvidence:
    """The direct evidence for one task type (``dense``/``pruned``: LoadedModel-likes;
    ``dense_results``: the dense model's scored results on ``items``), read on the items
    at positions ``picks`` (all by default; a sequential look reads a subset)."""
    kind = evidence_kind(task)
    side = dense_side(dense, task, items, cache=cache) if kind in SIDED else {}
    if picks is not None:
        side = {k: [v[n] for n in picks] if isinstance(v, list) else v for k, v in side.items()}
        items = [items[n] for n in picks]
        dense_results = [dense_results[n] for n in picks]
    dense_scores = [r.score for r in dense_results]
    if kind in ("answers", "ranking"):
        pruned_results = score_model(pruned, items)
        pairs = list(zip(dense_results, pruned_results, strict=True))
        agree = float(np.mean([d.answer == p.answer for d, p in pairs]))
        if kind == "ranking":  # reciprocal rank of the gold passage: finer than recall@1
            scores = [(1.0 / d.details["rank"], 1.0 / p.details["rank"]) for d, p in pairs]
        else:
            scores = [(d.score, p.score) for d, p in pairs]
        dense_scores, pruned_scores = [d for d, _ in scores], [p for _, p in scores]
        return _evidence(task, kind, dense_scores, pruned_scores, answer_agreement=agree)
    if kind == "survival":
        # An item the dense model gets wrong scores 0 for both models whatever the pruned
        # one decodes: only the scoring dense answers are read (the same evidence, fewer
        # prefills).
        scoring = [n for n, s in enumerate(dense_scores) if s > 0]
        subset = {key: [side[key][n] for n in scoring] for key in ("tokens", "window", "boundary")}
        reads = answer_reads(pruned.model, dense.tokenizer, [items[n] for n in scoring], subset)
        kept = [k for k, _ in reads]
        pruned_scores = [0.0] * len(items)
        for n, k in zip(scoring, kept, strict=True):
            pruned_scores[n] = dense_scores[n] * float(k)
        return _evidence(
            task,
            kind,
            dense_scores,
            pruned_scores,
            survival=float(np.mean(kept)) if kept else 1.0,
            scoring_answers=len(scoring),
            answer_nll=float(np.mean([nll for _, nll in reads])) if reads else 0.0,
        )
    nll_p = reference_nll(pruned.model, dense.tokenizer, items)
    delta = [p - d for p, d in zip(nll_p, side["nll"], strict=True)]
    return _evidence(
        task,
        kind,
        [math.exp(-x) for x in side["nll"]],
        [math.exp(-x) for x in nll_p],
        delta_nll=float(np.mean(delta)),
        dense_nll=float(np.mean(side["nll"])),
    )
