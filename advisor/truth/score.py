"""Ground-truth task scoring: run one model on a suite's items and score each item.

All model running goes through :mod:`advisor.forward`. Each task type's spec names its
metric, what of the output is the answer, and its chance rule (:mod:`advisor.suites.tasks`);
scoring dispatches on those:

* ``accuracy`` (choice tasks): the chosen candidate is the one with the highest next-token
  log-probability (``tokens`` items) or the highest length-normalised (per-token)
  log-likelihood as a continuation (``continuation`` items).
* ``recall@1`` (retrieval): queries and passages are embedded by mean-pooling the model's
  last residual stream; passages are ranked by cosine similarity (recall@k and the
  ranking's head are kept for top-k overlap with the dense model).
* ``exact-number``: greedy answer, cut at the item's stop strings; the final number is
  extracted and compared exactly with the gold number.
* ``span-match``: greedy short answer; the gold span in its first line (token F1 kept).
* ``chrf``: greedy text (its first line where the answer is ``first-line``) against the
  reference. A *success* for the competence gate is a paired win (chance ``paired-win``):
  chrF against its own reference above chrF against the next item's reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from advisor import forward
from advisor.errors import AdvisorError
from advisor.numbers import extract_final_number, format_number
from advisor.suites.items import Item
from advisor.suites.tasks import TASK_TYPES, TaskType
from advisor.truth import metrics
from advisor.truth.competence import Competence, competence_gate, paired_wins


@dataclass
class ItemResult:
    """One model's answer to one item and its score against gold or reference.

    ``answer`` is what the competence gate counts (chosen index, top passage, extracted
    number, normalised text); ``score`` is the task's item score (0/1, or chrF in [0, 1]);
    ``correct`` is a success for the gate (for chrF tasks: a paired win).
    """

    id: str
    task: str
    answer: Any
    correct: bool
    score: float
    output: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """``text`` up to the first of ``stops`` (a stop at the very start is skipped)."""
    end = len(text)
    for stop in stops:
        at = text.find(stop, 1 if text.startswith(stop) else 0)
        if at != -1:
            end = min(end, at)
    return text[:end]


DEFAULT_MAX_NEW_TOKENS = 32


def max_new_tokens(item: Item) -> int:
    """How many tokens a generative item's answer may run to (its own, else 32)."""
    return int(item.meta.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))


def output_as_read(tokenizer: Any, tokens: Sequence[int], item: Item) -> str:
    """A greedy continuation's text as scoring and the evidence read it: the item's first
    ``max_new_tokens`` tokens, cut at its stop strings. A longer decoding (the report's
    accumulation curve runs to its own horizon) is shown through this, so an example never
    runs past the limits its verdict was measured under."""
    text = tokenizer.decode(list(tokens[: max_new_tokens(item)]), skip_special_tokens=True)
    return cut_at_stop(text, item.meta.get("stop", []))


def _choice_mode(tokenizer: Any, item: Item) -> str:
    """The item's candidate mode, or "continuation" where its candidates are not single
    tokens of this tokenizer (a label word may be one token for one model, two for another)."""
    if item.candidate_mode != "tokens":
        return item.candidate_mode
    try:
        forward.candidate_token_ids(tokenizer, item.candidates)
    except ValueError:
        return "continuation"
    return "tokens"


def _choices(loaded: Any, items: list[Item], batch_size: int) -> list[ItemResult]:
    model, tok = loaded.model, loaded.tokenizer
    results: dict[str, ItemResult] = {}
    modes = {i.id: _choice_mode(tok, i) for i in items}
    for mode in ("tokens", "continuation"):
        group = [i for i in items if modes[i.id] == mode]
        if not group:
            continue
        prompts = [i.prompt for i in group]
        cands = [list(i.candidates) for i in group]
        if mode == "tokens":
            scores = forward.candidate_logprobs(model, tok, prompts, cands, batch_size=batch_size)
        else:
            raw = forward.continuation_logprobs(model, tok, prompts, cands, batch_size=batch_size)
            scores = [[s.mean_logprob for s in row] for row in raw]
        for item, row in zip(group, scores, strict=True):
            chosen = max(range(len(row)), key=row.__getitem__)
            results[item.id] = ItemResult(
                id=item.id,
                task=item.task,
                answer=chosen,
                correct=chosen == item.gold,
                score=float(chosen == item.gold),
                details={"candidate_scores": [float(x) for x in row], "mode": mode},
            )
    return [results[i.id] for i in items]


def _retrieval(loaded: Any, items: list[Item], batch_size: int) -> list[ItemResult]:
    texts = sorted({i.prompt for i in items} | {c for i in items for c in i.meta["corpus"]})
    states = forward.prompt_states(loaded.model, loaded.tokenizer, texts, batch_size=batch_size)
    vectors = torch.nn.functional.normalize(states.mean[:, -1], dim=-1)
    index = {t: n for n, t in enumerate(texts)}
    results = []
    for item in items:
        query = vectors[index[item.prompt]]
        corpus = vectors[[index[c] for c in item.meta["corpus"]]]
        ranking = torch.argsort(corpus @ query, descending=True, stable=True).tolist()
        ks = item.meta.get("k", [1, 5])
        recall = {f"recall@{k}": metrics.recall_at_k(ranking, item.gold or 0, k) for k in ks}
        top = ranking[0]
        results.append(
            ItemResult(
                id=item.id,
                task=item.task,
                answer=top,
                correct=top == item.gold,
                score=metrics.recall_at_k(ranking, item.gold or 0, 1),
                details={
                    **recall,
                    "ranking": ranking[: max(ks)],
                    "rank": ranking.index(item.gold or 0) + 1,
                },
            )
        )
    return results


def greedy_continuations(
    loaded: Any, items: list[Item], batch_size: int = 8
) -> list[tuple[list[int], str, torch.Tensor]]:
    """Each item's greedy continuation: tokens, text (not yet cut at its stop strings) and
    the states its tokens were picked from (``Generation.hidden``), decoded for the item's
    own ``max_new_tokens`` (default 32)."""
    by_horizon: dict[int, list[int]] = defaultdict(list)
    for n, item in enumerate(items):
        by_horizon[max_new_tokens(item)].append(n)
    out: list[tuple[list[int], str, torch.Tensor]] = [([], "", torch.empty(0))] * len(items)
    for horizon, members in sorted(by_horizon.items()):
        gen = forward.greedy_generate(
            loaded.model,
            loaded.tokenizer,
            [items[n].prompt for n in members],
            horizon,
            batch_size=max(batch_size, forward.DECODE_BATCH),
        )
        for n, tokens, text, states in zip(members, gen.tokens, gen.texts, gen.hidden, strict=True):
            out[n] = (list(tokens), text, states)
    return out


def _generate(loaded: Any, items: list[Item], batch_size: int) -> list[str]:
    return [
        cut_at_stop(text, item.meta.get("stop", []))
        for (_, text, _), item in zip(
            greedy_continuations(loaded, items, batch_size), items, strict=True
        )
    ]


def _answer_text(task: TaskType, output: str) -> str:
    """The part of a generated output that is scored: its first line, or all of it."""
    return metrics.first_line(output) if task.answer == "first-line" else output.strip()


def _generative(
    loaded: Any, task: TaskType, items: list[Item], batch_size: int
) -> list[ItemResult]:
    outputs = _generate(loaded, items, batch_size)
    results = []
    for item, out in zip(items, outputs, strict=True):
        reference = item.reference or ""
        details: dict[str, Any] = {}
        if task.metric == "exact-number":
            number = extract_final_number(out)
            ok = metrics.numbers_match(number, float(item.meta["answer"]))
            answer: Any = None if number is None else format_number(number)
        elif task.metric == "span-match":
            ok = metrics.span_match(out, reference)
            answer = metrics.normalise_answer(metrics.first_line(out))
            details["token_f1"] = metrics.token_f1(out, reference)
        else:  # chrf
            text = _answer_text(task, out)
            ok, answer = False, " ".join(text.lower().split())
            details["chrf"] = metrics.chrf(text, reference)
        score = details.get("chrf", float(ok))
        results.append(ItemResult(item.id, item.task, answer, ok, score, out, details))
    if task.chance == "paired-win":
        _mark_paired_wins(task, items, results)
    return results


def _mark_paired_wins(task: TaskType, items: list[Item], results: list[ItemResult]) -> None:
    """For chrF tasks: success = beats the same output scored against another reference."""
    n = len(items)
    # The answer as it was scored, except that a whole-text answer is not stripped here:
    # the mismatched score has always been taken on the raw output.
    texts = [
        metrics.first_line(r.output or "") if task.answer == "first-line" else (r.output or "")
        for r in results
    ]
    other = [metrics.chrf(texts[i], items[(i + 1) % n].reference or "") for i in range(n)]
    wins = paired_wins([r.score for r in results], other) if n > 1 else [False] * n
    for result, win, base in zip(results, wins, other, strict=True):
        result.correct = win
        result.details["chrf_mismatched"] = base


def score_model(loaded: Any, items: list[Item], *, batch_size: int = 8) -> list[ItemResult]:
    """Run ``loaded`` (an :class:`advisor.models.LoadedModel`) on ``items``; score each.

    Items of several task types may be mixed; results come back in the order of ``items``.
    """
    by_task: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_task[item.task].append(item)
    done: dict[str, ItemResult] = {}
    for name, group in by_task.items():
        task = task_type(name)
        if task.metric == "accuracy":
            results = _choices(loaded, group, batch_size)
        elif task.metric == "recall@1":
            results = _retrieval(loaded, group, batch_size)
        else:
            results = _generative(loaded, task, group, batch_size)
        done.update((r.id, r) for r in results)
    return [done[i.id] for i in items]


def chance_rates(items: list[Item]) -> list[float]:
    """Each item's chance rate of a success: its own (``meta["chance"]``, set by suites whose
    items differ in chance), else its task type's chance rule."""
    rates = []
    for item in items:
        rule = task_type(item.task).chance
        if "chance" in item.meta:
            rates.append(float(item.meta["chance"]))
        elif rule == "paired-win":
            rates.append(0.5)  # paired win against a mismatched reference
        elif rule == "one-of-corpus":
            rates.append(1.0 / len(item.meta["corpus"]))
        elif item.candidates:
            rates.append(1.0 / len(item.candidates))
        else:
            rates.append(0.0)
    return rates


def task_type(name: str) -> TaskType:
    """The registered task type ``name``: scoring needs its metric and chance rule."""
    if name not in TASK_TYPES:
        raise AdvisorError(f"Unknown task type '{name}'; choose one of {', '.join(TASK_TYPES)}.")
    return TASK_TYPES[name]


def dense_competence(
    task: str, items: list[Item], results: list[ItemResult], **gate: Any
) -> Competence:
    """The competence gate on a dense model's results for one task type's items."""
    if len(items) != len(results):
        raise ValueError("items and results must have the same length")
    score = sum(r.score for r in results) / len(results) if results else 0.0
    return competence_gate(
        task,
        [r.correct for r in results],
        [r.answer for r in results],
        chance_rates(items),
        score=score,
        **gate,
    )
