"""Fitting: the grid runs, is resumable, and turns rows into validated rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor import suites
from advisor.errors import AdvisorError
from advisor.fitting import fit, grid
from advisor.fitting.grid import GridPoint
from advisor.models import load_model
from advisor.suites import build_suite, primary_items
from advisor.suites.items import Item


def test_grid_points_and_default_grid():
    assert GridPoint("attn-drop", 2).kwargs() == {"layers": 2}
    assert GridPoint("wanda", 0.1).kwargs() == {"sparsity": 0.1}
    assert GridPoint("wanda", 0.1).id == "wanda@0.1"
    methods = {p.method for p in grid.DEFAULT_GRID}
    assert methods == {"attn-drop", "mlp-drop", "block-drop", "magnitude", "wanda", "sparsegpt"}
    for method in methods:
        amounts = sorted(p.amount for p in grid.DEFAULT_GRID if p.method == method)
        assert len(amounts) >= 5
        assert amounts[0] in (1, 0.05)  # gentle first (docs/design.md §5a)


def test_run_grid_is_resumable(tiny_llama_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(tmp_path / "cache"))
    dense = load_model(str(tiny_llama_dir))
    calibration = {"multiple-choice": build_suite("multiple-choice", "calibration")[:4]}
    evaluation = {"multiple-choice": build_suite("multiple-choice", "evaluation")[:6]}
    points = [GridPoint("attn-drop", 1), GridPoint("magnitude", 0.2)]
    cases = tmp_path / "cases.jsonl"
    seen = []
    rows = grid.run_grid(
        dense,
        points,
        calibration,
        evaluation,
        cases,
        on_point=lambda p, note: seen.append((p.id, note)),
    )
    assert [r["point"]["id"] for r in rows] == ["attn-drop@1", "magnitude@0.2"]
    assert len(cases.read_text().splitlines()) == 2
    row = rows[0]
    assert row["parameters"]["after"] < row["parameters"]["before"]
    assert "subspace_agree" in row["features"]["multiple-choice"]
    # the verdict rests on the option-text view; lettered copies are not counted
    assert row["truth"]["multiple-choice"]["n"] == len(primary_items(evaluation["multiple-choice"]))
    assert 0 < row["truth"]["multiple-choice"]["n"] < 6
    assert abs(rows[1]["achieved_sparsity"] - 0.2) < 1e-3  # rounding per layer/row

    # a kill mid-write leaves a torn line; a restart recomputes nothing finished
    with cases.open("a") as fh:
        fh.write('{"torn": ')

    def boom(*args, **kwargs):
        raise AssertionError("recomputed a finished grid point")

    monkeypatch.setattr(grid, "prune_model", boom)
    again = grid.run_grid(dense, points, calibration, evaluation, cases)
    assert again == rows


def _row(method: str, amount: float, loss: float, retention: float, model="m") -> dict:
    outcome = "go" if retention >= 0.95 else "no-go" if retention < 0.85 else "caution"
    return {
        "model": model,
        "fingerprint": "f" + model,
        "suites": "s",
        "point": {"method": method, "amount": amount, "id": f"{method}@{amount:g}"},
        "evidence": {"math": {"kind": "survival", "stats": {"loss": loss, "loss_sd": 0.02}}},
        "truth": {
            "math": {
                "retention": retention,
                "ci": [retention - 0.05, retention + 0.05],
                "outcome": outcome,
                "assessable": True,
                "competence": "ok",
            }
        },
    }


def test_build_rules_validates_and_reports_provenance():
    rows = [
        _row(m, a, loss, ret, model)
        for model in ("m", "g")
        for m, base in (("attn-drop", 0.0), ("magnitude", 0.01), ("wanda", 0.02))
        for a, loss, ret in (
            (1, 0.0 + base, 1.0),
            (2, 0.05 + base, 0.96),
            (3, 0.5 + base, 0.5),
            (4, 0.8 + base, 0.2),
        )
    ]
    rules = fit.build_rules(rows, ["math"], tolerance=0.9)
    entry = rules["tasks"]["math"]
    assert entry["assessable"] and entry["n_cases"] == 24 and entry["models"] == ["g", "m"]
    assert entry["evidence"] == "survival" and 0.9 < entry["slope"] <= 1.0
    by_model = entry["validation"]["leave_one_model_out"]
    assert by_model["decisive"] == 24 and by_model["right"] == by_model["committed"] > 0
    assert set(entry["validation"]["leave_one_method_out"]) == {"g", "m"}
    assert rules["engine"] == "predicted-retention"
    json.dumps(rules)
    prov = fit.provenance(rows, "prune-advisor fit", 12.5)
    assert prov["training_models"] == [
        {"name": "g", "fingerprint": "fg"},
        {"name": "m", "fingerprint": "fm"},
    ]
    assert prov["grids"]["m"][0] == "attn-drop@1"


def test_incompetent_task_gets_no_rule():
    rows = [_row("attn-drop", 1, 0.1, 0.9)]
    rows[0]["truth"]["math"] = {
        "retention": None,
        "assessable": False,
        "competence": "not above chance",
    }
    entry = fit.build_rules(rows, ["math"])["tasks"]["math"]
    assert entry["assessable"] is False and "not above chance" in entry["reason"]


def test_cases_carry_evidence_and_ground_truth():
    (case,) = fit.cases_for([_row("wanda", 0.1, 0.07, 0.93)], "math")
    assert (case.loss, case.loss_sd, case.retention) == (0.07, 0.02, 0.93)
    assert case.outcome == "caution" and not case.decisive
    assert case.label_sd == pytest.approx(0.1 / 3.92)
    assert fit.cases_for([{**_row("wanda", 0.1, 0.07, 0.93), "evidence": {}}], "math") == []


def test_parse_grid_and_cap():
    from advisor.errors import AdvisorError

    assert grid.parse_grid("attn-drop@1, wanda@0.1") == [
        GridPoint("attn-drop", 1),
        GridPoint("wanda", 0.1),
    ]
    with pytest.raises(AdvisorError, match="method@amount"):
        grid.parse_grid("pruneall@1")
    items = build_suite("multiple-choice", "evaluation")
    capped = suites.cap(items, 10)
    questions = {i.meta["question_id"] for i in capped}
    assert len(questions) == 10
    assert {i.meta["source"] for i in capped} == {i.meta["source"] for i in items}
    assert all(len([c for c in capped if c.meta["question_id"] == q]) == 2 for q in questions)
    assert suites.cap(items, 0) == items


def test_a_row_appended_after_a_torn_line_survives(tmp_path):
    """A kill mid-line must cost only that line: the next finished case starts afresh."""
    cases = tmp_path / "cases.jsonl"
    grid._append(cases, {"point": {"id": "a"}})
    with cases.open("a") as fh:
        fh.write('{"point": {"id": "torn"')
    grid._append(cases, {"point": {"id": "b"}})
    assert [r["point"]["id"] for r in grid.read_cases(cases)] == ["a", "b"]


def test_cap_keeps_whole_questions_and_rejects_negative_counts():
    items = [
        Item(id=f"q{q}-{v}", task="math", prompt="p", meta={"question_id": f"q{q}"})
        for q in range(10)
        for v in range(2)
    ]
    kept = suites.cap(items, 4)
    assert len({i.meta["question_id"] for i in kept}) == 4 and len(kept) == 8
    assert suites.cap(items, 0) == items
    with pytest.raises(AdvisorError, match="--eval-items"):
        suites.cap(items, -1)


def test_shipped_rules_are_what_fit_makes_of_the_shipped_cases():
    """data/rules/default.json is reproducible: refitting data/rules/cases.jsonl (no model
    run) gives the same rules and validation figures, over each model's default grid."""
    root = Path(__file__).resolve().parents[1]
    shipped = json.loads((root / "data/rules/default.json").read_text())
    provenance = shipped.pop("provenance")
    rows = grid.read_cases(root / "data/rules/cases.jsonl")
    fingerprints = {m["fingerprint"] for m in provenance["training_models"]}
    rows = [r for r in rows if r["fingerprint"] in fingerprints]
    for model in provenance["training_models"]:
        mine = {r["point"]["id"] for r in rows if r["model"] == model["name"]}
        assert mine == {p.id for p in grid.default_grid(model["name"])}
    refitted = fit.build_rules(rows, list(shipped["tasks"]), tolerance=shipped["tolerance"])
    assert json.loads(json.dumps(refitted)) == shipped


def test_a_row_is_matched_on_its_calibration_suites_whatever_labelled_it():
    """Rows labelled by 32 questions or by sequential evaluation of the whole split match
    the same calibration suites (a row keeps its label; `fit` does not redo it)."""
    h = "0123456789abcdef"
    short = f"multiple-choice:{h}-eval/multiple-choice:{'1' * 16}-rag:{h}"
    full = f"eval/multiple-choice:{'2' * 16}-multiple-choice:{h}-rag:{h}"
    assert grid.calibration_part(short) == grid.calibration_part(full)
    assert grid.calibration_part(short) == f"multiple-choice:{h}-rag:{h}"
    assert grid.calibration_part(f"rag:{'3' * 16}") != grid.calibration_part(short)


def test_re_measured_evidence_takes_its_calibration_suite_and_keeps_the_labels_suites():
    h, new = "0123456789abcdef", "fedcba9876543210"
    row = f"eval/retrieval:{'1' * 16}-rag:{h}-retrieval:{h}"
    moved = grid.with_calibration(row, {"retrieval": new})
    assert moved == f"eval/retrieval:{'1' * 16}-rag:{h}-retrieval:{new}"
    assert grid.with_calibration(row, {}) == row
    assert grid.calibration_hashes(moved) == {"rag": h, "retrieval": new}
