"""Fitting: the grid runs, is resumable, and turns rows into validated rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor import suites
from advisor.errors import AdvisorError
from advisor.models import load_model
from advisor.rules import fit, grid
from advisor.rules.grid import GridPoint
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

    monkeypatch.setattr("advisor.pruning.prune_model", boom)
    again = grid.run_grid(dense, points, calibration, evaluation, cases)
    assert again == rows


def _row(method: str, amount: float, kl: float, retention: float, model="m") -> dict:
    return {
        "model": model,
        "fingerprint": "f" + model,
        "suites": "s",
        "point": {"method": method, "amount": amount, "id": f"{method}@{amount:g}"},
        "features": {"math": {"kl": kl, "embedding_cos": 0.99}},
        "truth": {"math": {"retention": retention, "assessable": True, "competence": "ok"}},
    }


def test_build_rules_validates_and_reports_provenance():
    train = [
        _row(m, a, kl, ret)
        for m, base in (("attn-drop", 0.0), ("magnitude", 0.01), ("wanda", 0.02))
        for a, kl, ret in (
            (1, 0.1 + base, 0.97),
            (2, 0.3 + base, 0.92),
            (3, 0.9 + base, 0.5),
            (4, 1.5 + base, 0.2),
        )
    ]
    held = [_row("attn-drop", 1, 0.2, 0.95, "g"), _row("attn-drop", 3, 1.2, 0.3, "g")]
    rules = fit.build_rules(train, held, ["math"], tolerance=0.9)
    entry = rules["tasks"]["math"]
    assert entry["assessable"] and entry["n_cases"] == 12 and entry["n_go"] == 6
    assert entry["tree"]["feature"] == "kl"
    # one threshold separates these cases: depth 1 is as good as any and is chosen
    assert entry["max_depth"] == 1 and set(entry["depth_selection"]) == {"1", "2", "3"}
    assert entry["validation"]["leave_one_method_out"]["accuracy"] == 1.0
    assert entry["validation"]["held_out_model"] == {
        "accuracy": 1.0,
        "n": 2,
        "n_go": 1,
        "model": ["g"],
    }
    json.dumps(rules)
    prov = fit.provenance(train, held, "prune-advisor fit", 12.5)
    assert prov["training_models"] == [{"name": "m", "fingerprint": "fm"}]
    assert prov["grid"][0] == "attn-drop@1"


def test_incompetent_task_gets_no_rule():
    rows = [_row("attn-drop", 1, 0.1, 0.9)]
    rows[0]["truth"]["math"] = {
        "retention": None,
        "assessable": False,
        "competence": "not above chance",
    }
    entry = fit.build_rules(rows, [], ["math"])["tasks"]["math"]
    assert entry["assessable"] is False and "not above chance" in entry["reason"]


@pytest.mark.parametrize("retention", [0.9, 0.95])
def test_label_is_retention_at_tolerance(retention):
    cases = fit.cases_for([_row("wanda", 0.1, 0.1, retention)], "math", 0.9)
    assert cases[0].go is True


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
    run) gives the same rules and validation figures, over the default grids."""
    root = Path(__file__).resolve().parents[1]
    shipped = json.loads((root / "data/rules/default.json").read_text())
    provenance = shipped.pop("provenance")
    rows = grid.read_cases(root / "data/rules/cases.jsonl")

    def rows_of(models):
        fingerprints = {m["fingerprint"] for m in models}
        return [r for r in rows if r["fingerprint"] in fingerprints]

    train = rows_of(provenance["training_models"])
    held = rows_of(provenance["held_out_models"])
    assert {r["point"]["id"] for r in train} == {p.id for p in grid.DEFAULT_GRID}
    assert {r["point"]["id"] for r in held} == {p.id for p in grid.HELD_OUT_GRID}
    assert len(train) == len(grid.DEFAULT_GRID) and len(held) == len(grid.HELD_OUT_GRID)
    refitted = fit.build_rules(train, held, list(shipped["tasks"]), tolerance=shipped["tolerance"])
    assert json.loads(json.dumps(refitted)) == shipped
