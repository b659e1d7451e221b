"""A sweep's shared work (docs/design.md §5d): replayed layer prefixes give exactly the
numbers of a plain run, the sweep's per-amount results equal plain `assess` results, and
neither the frontier search nor the early stop changes the frontier."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
from hypothesis import given, strategies as st

from advisor.sweep.frontier import (
    SKIPPED,
    STOPPED,
    EarlyStop,
    FrontierSearch,
    decisive_no_go,
    largest_go,
    search_order,
)
from tests.test_assess import _rules
from tests.tiny_models import save_tiny_model

TASKS = ["retrieval", "multiple-choice", "generation", "summarization"]


@pytest.fixture(scope="module")
def deep_dense(tmp_path_factory):
    """A 6-layer random Llama: room for nested drop sets."""
    from advisor.models import load_model

    return load_model(str(save_tiny_model(tmp_path_factory.mktemp("deep"), "llama", layers=6)))


def _assessable(monkeypatch):
    """Let the random model's evidence be read (its competence is at chance). Callers use
    a private cache: the forced decision is cached like a real one."""
    from advisor.measure import assessable

    real = assessable.gate

    def competent(loaded, task, items):
        return dataclasses.replace(real(loaded, task, items), assessable=True, reason="test")

    monkeypatch.setattr(assessable, "gate", competent)


def test_replayed_prefixes_give_the_plain_evidence(deep_dense, private_cache):
    from advisor.forward.layer_replay import LayerReplay, dense_tensors
    from advisor.measure.calibration_items import calibration_suites
    from advisor.measure.evidence import dense_side, survival, task_evidence
    from advisor.pruning import prune_model
    from advisor.truth.evaluate import dense_results

    models = [prune_model(deep_dense, "attn-drop", layers=n) for n in (1, 2, 3)]
    share = LayerReplay([m.loaded.model for m in models], dense_tensors(deep_dense.model))
    suites = calibration_suites([*TASKS, "rag"], seed=0)
    for task in TASKS:
        items = suites[task][:6]
        scored = dense_results(deep_dense, items)
        for m in models:
            plain = task_evidence(deep_dense, m.loaded, task, items, scored)
            shared = share.run(
                m.model,
                task,
                lambda m=m, task=task, items=items, scored=scored: task_evidence(
                    deep_dense, m.loaded, task, items, scored
                ),
            )
            assert dataclasses.asdict(shared) == dataclasses.asdict(plain), (task, m.manifest)
        for m in models:
            share.finished(m.model)
    # survival: every item's dense answer read teacher-forced (not only the scoring ones)
    items = suites["rag"][:6]
    side = dense_side(deep_dense, "rag", items)
    for m in models:
        plain = survival(m.model, deep_dense.tokenizer, items, side)
        shared = share.run(
            m.model, "rag", lambda m=m: survival(m.model, deep_dense.tokenizer, items, side)
        )
        assert shared == plain
    assert share.stats["replayed_calls"] > 0
    assert share.stats["reruns"] == 0


def test_a_call_that_differs_is_rerun_without_sharing(deep_dense, private_cache):
    from advisor import forward
    from advisor.forward.layer_replay import LayerReplay, dense_tensors
    from advisor.pruning import prune_model

    # the third: the second made again (the same layers, another object)
    models = [prune_model(deep_dense, "attn-drop", layers=n) for n in (1, 2, 2)]
    share = LayerReplay([m.loaded.model for m in models], dense_tensors(deep_dense.model))
    tok = deep_dense.tokenizer
    first = share.run(
        models[0].model, "t", lambda: forward.prompt_states(models[0].model, tok, ["a b c"])
    )
    assert first.last.shape[0] == 1
    other = share.run(
        models[1].model, "t", lambda: forward.prompt_states(models[1].model, tok, ["c b a d"])
    )
    plain = forward.prompt_states(models[1].model, tok, ["c b a d"])
    assert share.stats["reruns"] == 1
    assert bool((other.last == plain.last).all())
    # the rerun still kept its prefix for the models after it
    third = share.run(
        models[2].model, "t", lambda: forward.prompt_states(models[2].model, tok, ["c b a d"])
    )
    plain = forward.prompt_states(models[2].model, tok, ["c b a d"])
    assert share.stats["replayed_calls"] == 1 and share.stats["reruns"] == 1
    assert bool((third.last == plain.last).all())


def _flat(value, path=""):
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _flat(item, f"{path}.{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v for n, item in enumerate(value) for k, v in _flat(item, f"{path}[{n}]").items()
        }
    return {path: value}


def _assert_same(plain: dict, swept: dict) -> None:
    """Verdicts, evidence and everything else exactly equal; the report's hierarchy
    measurements to float rounding: a plain assessment decodes them from the evidence's
    kept prefills (batched differently), a sweep's replayed layers never hand theirs on."""
    a, b = _flat(plain), _flat(swept)
    assert a.keys() == b.keys()
    for key, value in a.items():
        hierarchy = ".measurements." in key or key.startswith(".overall")
        if hierarchy and isinstance(value, float):
            assert b[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
        else:
            assert b[key] == value, key


@pytest.mark.parametrize("search", ["every", "frontier"])
def test_sweep_results_equal_plain_assess(deep_dense, private_cache, tmp_path, monkeypatch, search):
    from advisor.assess import assess
    from advisor.pruning import prune_model
    from advisor.sweep.plan import SweepRequest
    from advisor.sweep.run import sweep

    _assessable(monkeypatch)
    rules = _rules(tmp_path / "rules.json")
    steps = [{"layers": n} for n in (1, 2, 3)]
    plan = SweepRequest(
        "attn-drop", steps, TASKS, rules_path=rules, hierarchy=True, early_stop=False,
        search=search,
    )  # fmt: skip
    summary = sweep(deep_dense, plan, tmp_path / "sweep")
    assert summary["prefix_sharing"]["replayed_calls"] > 0
    assert [row["amount"] for row in summary["steps"]] == ["1", "2", "3"]
    plain_rows = []
    for step, row in zip(steps, summary["steps"], strict=True):
        pruned = prune_model(deep_dense, "attn-drop", **step)
        plain = assess(deep_dense, pruned, TASKS, rules_path=rules, timings={})
        label = str(step["layers"])
        swept = json.loads((tmp_path / "sweep" / f"attn-drop-{label}" / "result.json").read_text())
        for result in (plain, swept):
            result.pop("speed")
            result["manifest"].pop("timings")
            result["manifest"]["measurement"].pop("dense_cache")  # the first amount fills it
        plain = json.loads(json.dumps(plain, sort_keys=True))
        if search == "every":
            _assert_same(plain, swept)
        else:  # the task types still searched at this amount, each as plain
            _assert_same({t: plain["tasks"][t] for t in swept["tasks"]}, swept["tasks"])
            for task, verdict in row["verdicts"].items():
                assert verdict == (
                    plain["tasks"][task]["verdict"] if task in swept["tasks"] else SKIPPED
                )
        plain_rows.append(
            {"amount": label, "verdicts": {t: plain["tasks"][t]["verdict"] for t in TASKS}}
        )
    assert summary["largest_go"] == largest_go(plain_rows, TASKS)


def _record(verdict: str, upper: float | None) -> dict:
    prediction = None if upper is None else {"retention": upper - 0.1, "interval": [0.0, upper]}
    return {"verdict": verdict, "prediction": prediction}


def test_decisive_no_go_needs_a_margin():
    assert decisive_no_go(_record("no-go", 0.80), 0.9)
    assert not decisive_no_go(_record("no-go", 0.88), 0.9)  # no-go, but near the tolerance
    assert not decisive_no_go(_record("caution", 0.5), 0.9)
    assert decisive_no_go(_record("no-go", None), 0.9)  # broken model


VERDICT = st.sampled_from(["go", "caution", "no-go-near", "no-go-far"])


@given(st.lists(VERDICT, min_size=1, max_size=10))
def test_early_stop_never_changes_the_frontier_of_a_monotone_sweep(sequence):
    """Verdicts that never improve as the amount grows (the premise the stop rests on):
    the frontier with early stop is the frontier of every amount assessed."""
    rank = {"go": 0, "caution": 1, "no-go-near": 2, "no-go-far": 3}
    ordered = sorted(sequence, key=rank.get)  # monotone: never better at a larger amount

    def result(kind: str) -> dict:
        verdict = "no-go" if kind.startswith("no-go") else kind
        upper = 0.88 if kind == "no-go-near" else 0.7
        return {"settings": {"tolerance": 0.9}, "tasks": {"t": _record(verdict, upper)}}

    stop, rows, plain = EarlyStop(["t"]), [], []
    for n, kind in enumerate(ordered):
        record = result(kind)
        plain.append({"amount": str(n + 1), "verdicts": {"t": record["tasks"]["t"]["verdict"]}})
        if "t" in stop.active():
            stop.update(str(n + 1), record)
            rows.append(plain[-1])
        else:
            rows.append({"amount": str(n + 1), "verdicts": {"t": STOPPED}})
    assert largest_go(rows, ["t"]) == largest_go(plain, ["t"])
    far = [k == "no-go-far" for k in ordered]
    stops = any(a and b for a, b in itertools.pairwise(far))
    assert ("t" in stop.stopped) == stops


@given(st.lists(st.sampled_from(["go", "caution", "no-go"]), min_size=1, max_size=10))
def test_frontier_search_finds_the_plain_frontier_whatever_the_verdicts(verdicts):
    """Largest amount first, a task type settled at its first go: the same largest go as
    assessing every amount, with no assumption on how verdicts move with the amount, and
    nothing below the frontier assessed."""
    steps = [{"sparsity": (n + 1) / 10} for n in range(len(verdicts))]
    plain = [{"amount": f"{(n + 1) / 10:g}", "verdicts": {"t": v}} for n, v in enumerate(verdicts)]
    search, rows, assessed = FrontierSearch(["t"]), [], 0
    for k in search_order(steps, "frontier"):
        label = plain[k]["amount"]
        if "t" in search.active():
            assessed += 1
            search.update(label, {"tasks": {"t": {"verdict": verdicts[k]}}})
            rows.append(plain[k])
        else:
            rows.append({"amount": label, "verdicts": {"t": SKIPPED}})
    assert largest_go(rows, ["t"]) == largest_go(plain, ["t"])
    last_go = max((n for n, v in enumerate(verdicts) if v == "go"), default=-1)
    assert assessed == len(verdicts) - max(last_go, 0)


def test_search_order_runs_the_frontier_search_from_the_largest_amount():
    steps = [{"layers": 2}, {"layers": 8}, {"layers": 1}]
    assert search_order(steps, "frontier") == [1, 0, 2]
    assert search_order(steps, "every") == [2, 0, 1]
    with pytest.raises(ValueError, match="search"):
        search_order(steps, "bisect")


def test_a_frontier_sweep_runs_nothing_once_every_task_type_is_settled(
    deep_dense, private_cache, tmp_path, monkeypatch
):
    """Every task type go at the largest amount: the smaller amounts are not pruned,
    assessed or written, and show as skipped in the summary and the index page."""
    from advisor.rules import predict
    from advisor.sweep.plan import SweepRequest
    from advisor.sweep.run import sweep

    _assessable(monkeypatch)
    real = predict.explain
    # assess reads the rules' explanation through its own import of explain
    monkeypatch.setattr("advisor.assess.explain", lambda *a, **k: real(*a, **k) | {"verdict": "go"})
    assessed: list[list[str]] = []

    def assessor(dense, pruned, tasks, **options):
        from advisor.assess import assess

        assessed.append(list(tasks))
        return assess(dense, pruned, tasks, **options)

    from tests.test_assess import TASKS as RULED

    tasks = [t for t in TASKS if t in RULED]  # the test rules' task types: all can be go
    steps = [{"layers": n} for n in (1, 2, 3)]
    plan = SweepRequest("attn-drop", steps, tasks, rules_path=_rules(tmp_path / "rules.json"))
    summary = sweep(deep_dense, plan, tmp_path / "sweep", assessor=assessor)
    assert assessed == [tasks]  # the largest amount only
    assert summary["largest_go"] == {t: 3.0 for t in tasks}
    rows = {row["amount"]: row for row in summary["steps"]}
    for amount in ("1", "2"):
        assert set(rows[amount]["verdicts"].values()) == {SKIPPED}
        assert rows[amount]["speedup"] is None
        assert not (tmp_path / "sweep" / f"attn-drop-{amount}").exists()
    assert (
        "not assessed (every task type settled" in (tmp_path / "sweep" / "index.html").read_text()
    )
