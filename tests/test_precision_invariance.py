"""Verdicts travel between precisions (docs/design.md §5h): the same pruned weights read in
fp32, in bf16, and in bf16 with other batches (every suite reversed) keep every verdict,
up to moves to or from caution, and exactly the same competence decision.
benchmarks/precision_invariance.py runs the same comparison on the real models."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from advisor.assess import assess
from advisor.measure import assessable
from advisor.measure.calibration_items import calibration_suites
from advisor.models import load_model
from advisor.pruning import prune_model
from advisor.verdicts import CAUTION

TASKS = ["classification", "math", "generation"]
pytestmark = pytest.mark.usefixtures("private_cache")


def _bf16(loaded):
    return dataclasses.replace(loaded, model=copy.deepcopy(loaded.model).to(torch.bfloat16))


def _run(dense, pruned, variant):
    suites = calibration_suites(TASKS, 0)
    if variant == "bf16, other batches":
        suites = {t: items[::-1] for t, items in suites.items()}
    if variant != "fp32":
        dense, pruned = _bf16(dense), dataclasses.replace(pruned, loaded=_bf16(pruned.loaded))
    return assess(dense, pruned, TASKS, hierarchy=False, decode=False, suites=suites)


@pytest.mark.parametrize("assessable_gate", [False, True])
def test_verdicts_move_only_to_or_from_caution_across_precisions(
    tiny_llama_dir, monkeypatch, assessable_gate
):
    if assessable_gate:  # the random model is at chance: let its evidence be read too
        real = assessable.gate

        def competent(loaded, task, items):
            return dataclasses.replace(real(loaded, task, items), assessable=True, reason="t")

        monkeypatch.setattr(assessable, "gate", competent)
    dense = load_model(str(tiny_llama_dir))
    pruned = prune_model(dense, "attn-drop", layers=1)
    results = {v: _run(dense, pruned, v) for v in ("fp32", "bf16", "bf16, other batches")}
    for task in TASKS:
        verdicts = {v: r["tasks"][task]["verdict"] for v, r in results.items()}
        assert len(set(verdicts.values()) - {CAUTION}) <= 1, (task, verdicts)
        fp32 = results["fp32"]["tasks"][task]["competence"]
        assert fp32["decided_in"] == "float32"
        # the same decision, bit for bit, in every precision and suite order (a random
        # model's near-ties would otherwise move with the batches even in fp32)
        for variant in ("bf16", "bf16, other batches"):
            assert results[variant]["tasks"][task]["competence"] == fp32
    assert results["bf16"]["model"]["dtype"] == "bfloat16"
