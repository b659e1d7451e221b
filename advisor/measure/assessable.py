"""Which task types are assessable: the competence gate, decided once per dense model and
suite, in fp32, whatever precision the comparison then runs in (docs/design.md §5h).

Whether a task type is informative is a property of the dense model and the suite, not
of the pruned model or of the CPU. Decided in the run's own precision, bf16 rounding —
which differs between AMX, AVX512-BF16 and emulated kernels — moved one item of a
24-item gate at p ≈ 0.05, and with it a verdict between go and not-assessable. So:

* **fp32 decides.** A run in another precision decides with an fp32 twin of the dense
  model, loaded from the same folder for the purpose (once: the decision is cached on disk
  by the weights' fingerprint and the items, not by the run's precision).
* **Open text reads a stronger, prefill-only test.** A decoded chrF "paired win" on 24
  items sat at p = 0.03–0.08 on the default model. For generation and summarization a
  success is a *likelihood* paired win: the dense model finds the item's reference more
  likely (by more than ``LIKELIHOOD_MARGIN`` nats per token) after the item's own prompt
  than after the next item's prompt — the same tokens, so the reference's own difficulty
  cancels. Chance is 0.5 (a model that ignores the prompt ties and loses every pair). It is
  exactly what the verdict reads (the reference's likelihood) and is far from its edge on
  models that can do the task. Decoded outputs still decide degeneracy (one output for
  most items), and their chrF wins are kept in the record's ``detail``.
* **The record carries the margin** (:class:`advisor.truth.competence.Competence`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from advisor.cache import cache_file
from advisor.measure.evidence import reference_nll
from advisor.models.loading import LOAD_OPTIONS, LoadedModel, load_model
from advisor.publish import read_checked_json, write_checked_json
from advisor.suites.items import Item, items_hash
from advisor.suites.tasks import TASK_TYPES
from advisor.truth.competence import Competence, competence_gate
from advisor.truth.evaluate import dense_results
from advisor.truth.score import chance_rates, dense_competence

COMPETENCE_VERSION = "competence-v1"
DECIDING_DTYPE = "float32"
# A likelihood win must clear this many nats per token: wins on real tasks are tenths of
# a nat, fp32 rounding moves a mean NLL by ~1e-6.
LIKELIHOOD_MARGIN = 0.01
LIKELIHOOD_TEST = "paired likelihood (binomial, chance 0.5)"


def likelihood_wins(loaded: LoadedModel, items: list[Item]) -> list[bool]:
    """Per item: is its reference more likely after its own prompt than after the next
    item's prompt (cyclically), by more than ``LIKELIHOOD_MARGIN`` nats per token?"""
    n = len(items)
    own = reference_nll(loaded.model, loaded.tokenizer, items)
    crossed_items = [
        dataclasses.replace(items[(k + 1) % n], reference=items[k].reference) for k in range(n)
    ]
    crossed = reference_nll(loaded.model, loaded.tokenizer, crossed_items)
    return [c - o > LIKELIHOOD_MARGIN for o, c in zip(own, crossed, strict=True)]


def gate(loaded: LoadedModel, task: str, items: list[Item]) -> Competence:
    """The competence gate for one task type, measured on ``loaded`` (uncached)."""
    results = dense_results(loaded, items)
    decoded = dense_competence(task, items, results)
    if TASK_TYPES[task].metric != "chrf":
        return decoded
    found = competence_gate(
        task,
        likelihood_wins(loaded, items),
        [r.answer for r in results],
        chance_rates(items),
        score=decoded.score,
    )
    detail = {"decoded_wins": decoded.successes, "decoded_p_value": decoded.p_value}
    return dataclasses.replace(found, test=LIKELIHOOD_TEST, detail=detail)


@contextmanager
def deciding_model(dense: LoadedModel) -> Iterator[LoadedModel]:
    """``dense`` itself where it runs in fp32, else an fp32 twin loaded from its folder
    (same placement options), held only while the block runs."""
    if dense.dtype == DECIDING_DTYPE:
        yield dense
        return
    yield load_model(str(dense.path), dtype=DECIDING_DTYPE, **dense.extra.get(LOAD_OPTIONS, {}))


def decided_competence(
    dense: LoadedModel, suites: dict[str, list[Item]], *, cache: bool = True
) -> dict[str, Competence]:
    """Each task type's competence gate, decided in fp32 (see the module docstring) on the
    items in order of their ids, and cached by the dense weights' fingerprint and the
    items."""
    decided: dict[str, Competence] = {}
    missing: list[str] = []
    # The items in one canonical order: the decision is about the set of items, so no
    # order a caller chose (a reversed suite, a sweep's) changes the batches it runs in.
    canonical = {task: sorted(items, key=lambda i: i.id) for task, items in suites.items()}
    paths = {
        task: cache_file(
            "competence", COMPETENCE_VERSION, dense.fingerprint, task, items_hash(items)
        )
        for task, items in canonical.items()
    }
    for task in suites:
        record = read_checked_json(paths[task]) if cache else None
        if record is None:
            missing.append(task)
        else:
            decided[task] = Competence(**record)
    if missing:
        with deciding_model(dense) as model:
            for task in missing:
                found = dataclasses.replace(
                    gate(model, task, canonical[task]), decided_in=DECIDING_DTYPE
                )
                if cache:
                    write_checked_json(paths[task], found.to_dict())
                decided[task] = found
    return {task: decided[task] for task in suites}
