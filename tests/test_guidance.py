"""Guidance (docs/guidance.md): the task sensitivity map and the plan, on tiny random
models with hand-made units (a layer whose attention or MLP adds exactly nothing)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from tests.test_sweep_share import _assessable
from tests.tiny_models import save_tiny_model

TASKS = ["generation", "multiple-choice"]
LAYERS = 4
IDLE = 1  # the layer whose attention and MLP add nothing


def _rules(path, tasks=TASKS):
    """Retention = 1 − loss, no misfit, tolerance 0.9, for ``tasks``."""
    from advisor.measure.evidence import evidence_kind

    rule = {"assessable": True, "slope": 1.0, "misfit": 0.0, "n_cases": 8}
    tasks = {t: rule | {"evidence": evidence_kind(t)} for t in tasks}
    path.write_text(json.dumps({"tolerance": 0.9, "engine": "predicted-retention", "tasks": tasks}))
    return path


@pytest.fixture(scope="module")
def idle_dense(tmp_path_factory):
    """A 4-layer random Llama whose layer IDLE adds nothing: its attention's o_proj and its
    MLP's down_proj are zero, so removing either changes no output."""
    from advisor.models import load_model

    folder = save_tiny_model(tmp_path_factory.mktemp("idle"), "llama", layers=LAYERS)
    loaded = load_model(str(folder))
    block = loaded.model.model.layers[IDLE]
    with torch.no_grad():
        block.self_attn.o_proj.weight.zero_()
        block.mlp.down_proj.weight.zero_()
    return loaded


@pytest.fixture
def request_for(tmp_path):
    from advisor.guidance.sensitivity import MapRequest

    def make(method, tasks=TASKS):
        return MapRequest(method, list(tasks), rules_path=_rules(tmp_path / "rules.json", tasks))

    return make


@pytest.mark.parametrize("method", ["attn-drop", "mlp-drop"])
def test_a_unit_that_changes_nothing_costs_exactly_nothing(
    method, idle_dense, request_for, private_cache, monkeypatch
):
    from advisor.guidance.sensitivity import sensitivity_map

    _assessable(monkeypatch)
    found = sensitivity_map(idle_dense, request_for(method))
    assert found["layers"] == LAYERS
    for task in TASKS:
        row = found["tasks"][task]
        assert row["assessable"]
        assert [r["unit"] for r in row["units"]] == list(range(LAYERS))
        idle = row["units"][IDLE]
        assert idle["loss"] == 0.0 and idle["retention"] == 1.0
        assert idle["loss_interval"][0] == 0.0
    # the other units were measured, not skipped: the reference NLL moves when they go
    others = [r for r in found["tasks"]["generation"]["units"] if r["unit"] != IDLE]
    assert any(r["loss_sd"] > 0 for r in others)


def test_the_map_is_paid_once_and_resumes_unit_by_unit(
    idle_dense, request_for, private_cache, monkeypatch
):
    from advisor.guidance import rows, sensitivity

    _assessable(monkeypatch)
    request = request_for("block-drop", ["generation"])
    first = sensitivity.sensitivity_map(idle_dense, request)
    measured = []
    real = rows._row  # every unit measured ends in its cell
    monkeypatch.setattr(
        rows, "_row", lambda run, unit, *a: measured.append(unit) or real(run, unit, *a)
    )
    assert sensitivity.sensitivity_map(idle_dense, request) == first
    assert measured == []  # a cache hit reruns nothing
    # an interrupted map: the units written before the interruption are kept
    files = sorted((private_cache / "sensitivity").glob("*.json"))
    assert len(files) == LAYERS
    files[0].unlink()
    assert sensitivity.sensitivity_map(idle_dense, request) == first
    assert len(measured) == 1


def test_only_assessable_task_types_get_a_row(idle_dense, request_for, private_cache):
    from advisor.guidance.sensitivity import sensitivity_map

    # a random model is not competent at anything: the gate says so, no unit is measured
    found = sensitivity_map(idle_dense, request_for("attn-drop", ["multiple-choice"]))
    row = found["tasks"]["multiple-choice"]
    assert not row["assessable"] and "units" not in row and row["reason"]


@pytest.mark.parametrize("n", [0, 1, 2, 5, 8, 13])
def test_the_search_finds_the_largest_passing_set_and_backs_off(n):
    from advisor.guidance.plan import largest_passing

    for threshold in range(n + 1):
        tried: list[int] = []
        found = largest_passing(n, lambda k, t=threshold, seen=tried: seen.append(k) or k <= t)
        assert found == threshold
        assert len(tried) <= 1 + max(n, 1).bit_length()  # halving, not one set per unit


@pytest.mark.parametrize(
    ("bad", "limit", "expected"),
    [
        (set(), 9, [0, 1, 2, 3, 4, 5]),  # everything passes: one assessment
        ({2}, 9, [0, 1, 3, 4, 5]),  # one unit breaks any set: passed over, the rest kept
        ({0}, 9, [1, 2, 3, 4, 5]),
        (set(), 3, [0, 1, 2]),  # sets larger than 3 fail: the prefix, nothing after
        ({1, 4}, 9, [0, 2, 3, 5]),
    ],
)
def test_the_plan_backs_off_a_unit_that_breaks_the_set_and_goes_on(bad, limit, expected):
    from advisor.guidance.plan import choose

    tried: list[list[int]] = []

    def is_go(units):
        tried.append(units)
        return not bad & set(units) and len(units) <= limit

    assert choose([0, 1, 2, 3, 4, 5], is_go) == expected
    assert is_go(expected)
    assert len(tried) <= 1 + 6 + 3 + 1  # all, halving, then the units after the prefix


def test_the_plan_never_holds_a_unit_not_go_alone(idle_dense, tmp_path, private_cache, monkeypatch):
    from advisor.assess import assess
    from advisor.guidance.plan import make_plan
    from advisor.guidance.sensitivity import MapRequest
    from advisor.verdicts import GO

    _assessable(monkeypatch)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    # at this tolerance the random model's map has units that are not go alone
    request = MapRequest("attn-drop", ["generation"], rules_path=rules, tolerance=0.99)
    plan = make_plan(idle_dense, request, assess)
    row = plan["map"]["tasks"]["generation"]["units"]
    alone = {r["unit"] for r in row if r["verdict"] == GO}
    assert alone != set(range(LAYERS)), "the test needs a unit that is not go alone"
    assert IDLE in alone and IDLE in plan["units"]
    assert set(plan["units"]) <= alone and set(plan["candidates"]) == alone
    assert plan["verified"]["go"] and plan["verified"]["units"] == plan["units"]
    assert plan["verified"]["verdicts"] == {"generation": GO}
    for checked in plan["checked"]:  # every set was assessed, and only go sets are kept
        assert set(checked["units"]) <= alone
        if len(checked["units"]) > len(plan["units"]):
            assert not checked["go"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--task", "math"], "--method"),
        (["--task", "math", "--method", "no-such-method"], "Unknown pruning method"),
        (["--task", "math", "--method", "wanda"], "zeroes weights"),
        (["--method", "attn-drop"], "--task"),
        (["--method", "attn-drop", "--task", "poetry"], "poetry"),
        (["--method", "attn-drop", "--task", "math", "--tolerance", "1.5"], "--tolerance"),
    ],
)
def test_bad_plan_inputs_exit_2_before_any_model_loads(
    args, said, capsys, monkeypatch, private_cache
):
    from advisor.cli import EXIT_USAGE
    from tests.test_failure_modes import run_cli

    def refuse(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr("advisor.pair.load_dense", refuse)
    monkeypatch.setattr("advisor.models.load_model", refuse)
    code, err = run_cli(capsys, "plan", *args)
    assert code == EXIT_USAGE and said in err


def test_plan_command_writes_the_report_and_a_loadable_checkpoint(
    idle_dense, tmp_path, private_cache, monkeypatch, capsys
):
    from transformers import AutoModelForCausalLM

    from advisor.cli import main
    from advisor.pruning import load_pruned

    _assessable(monkeypatch)
    monkeypatch.setattr("advisor.pair.load_dense", lambda *_a, **_k: idle_dense)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    args = ["plan", "--model", str(idle_dense.path), "--method", "attn-drop"]
    args += ["--task", "generation", "--rules", str(rules), "--tolerance", "0.99"]
    args += ["--out", str(tmp_path / "report"), "--save", str(tmp_path / "saved")]
    assert main(args) == 0
    shown = capsys.readouterr().out
    assert "verified: generation go" in shown
    assert "compare `prune-advisor sweep`" in shown  # free text: the ranking did as well
    assert max(len(x) for x in shown.splitlines() if not x.startswith(("Report", "Saved"))) <= 100
    plan = json.loads((tmp_path / "report" / "plan.json").read_text())
    page = (tmp_path / "report" / "index.html").read_text()
    assert "data:image/png;base64," in page and "Sensitivity map" in page
    again = load_pruned(tmp_path / "saved", idle_dense)
    assert again.record["dropped_attn"] == plan["units"]
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "saved")
    assert plain.config.num_hidden_layers == LAYERS


@pytest.mark.real_model
def test_plan_end_to_end_on_the_real_default_model(smollm2, tmp_path, capsys, monkeypatch):
    """`plan --task math --method attn-drop` on SmolLM2-135M, end to end (about two
    minutes on a cold test cache: 30 units' evidence and the verifying assessments)."""
    from advisor.cli import main
    from advisor.verdicts import GO

    monkeypatch.setattr("advisor.pair.load_dense", lambda *_a, **_k: smollm2)
    args = ["plan", "--task", "math", "--method", "attn-drop", "--out", str(tmp_path / "r")]
    assert main(args) == 0
    shown = capsys.readouterr().out
    assert "Plan for" in shown and "sweep" not in shown  # short answers: no free-text note
    plan = json.loads((tmp_path / "r" / "plan.json").read_text())
    row = plan["map"]["tasks"]["math"]
    assert row["assessable"] and len(row["units"]) == smollm2.model.config.num_hidden_layers
    alone = {r["unit"] for r in row["units"] if r["verdict"] == GO}
    assert set(plan["units"]) <= alone
    if plan["units"]:
        assert plan["verified"]["verdicts"] == {"math": GO}


def test_blame_names_the_unit_that_costs_and_clears_the_idle_one(
    idle_dense, tmp_path, private_cache, monkeypatch
):
    from advisor.assess import assess
    from advisor.pruning import drop_units, prune_model
    from advisor.report import write_report
    from advisor.report.schema import check_result

    _assessable(monkeypatch)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    other = 2
    pruned = drop_units(idle_dense, "attn-drop", [IDLE, other])
    options = {"rules_path": rules, "hierarchy": False, "decode": False, "blame": True}
    result = assess(idle_dense, pruned, ["generation"], **options)
    check_result(result, "blame")
    blamed = result["blame"]
    assert blamed["available"] and blamed["method"] == "attn-drop"
    assert blamed["units"] == [IDLE, other]
    record = blamed["tasks"]["generation"]
    # the pruning as it is, read on every item like its restorations (restoring the idle
    # unit gains exactly nothing below), however few items the verdict read
    assert record["items"] == result["tasks"]["generation"]["evidence"]["look"]["of"]
    rows = {row["unit"]: row for row in record["restored"]}
    # restoring the idle unit changes nothing; restoring the other leaves a model that
    # computes what the dense one does
    assert rows[IDLE]["gain"] == 0.0
    assert rows[other]["retention"] == 1.0 and rows[other]["verdict"] == "go"
    assert record["restored"][0]["unit"] == other or rows[other]["gain"] == 0.0
    _, page = write_report(result, tmp_path / "report")
    assert "Blame: which removed units cost the most" in page.read_text()
    # a sparsity pruning: each changed layer's dense weights are restored instead
    sparse = prune_model(idle_dense, "magnitude", sparsity=0.3)
    result = assess(idle_dense, sparse, ["generation"], **options)
    check_result(result, "blame")
    assert result["blame"]["available"] and result["blame"]["restores"] == "dense weights"
    assert result["blame"]["units"] == list(range(LAYERS))


def _sparse_by_hand(dense, damaged):
    """A copy of ``dense``'s model with half of the IDLE layer's query and up-projection
    weights zeroed (its output stays exactly the same: that layer adds nothing) and layer
    ``damaged``'s MLP weights replaced by noise; the other layers untouched."""
    from advisor.pruning import working_copy

    model = working_copy(dense.model, "sparsity")
    generator = torch.Generator().manual_seed(0)
    idle, bad = model.model.layers[IDLE], model.model.layers[damaged]
    with torch.no_grad():
        for linear in (idle.self_attn.q_proj, idle.mlp.up_proj):
            linear.weight[:, ::2] = 0.0
        for linear in (bad.mlp.up_proj, bad.mlp.down_proj):
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * 0.5)
    return model


def test_sparsity_blame_names_the_damaged_layer_and_clears_the_unchanged_ones(
    idle_dense, tmp_path, private_cache, monkeypatch
):
    """Blame of a sparse checkpoint pruned elsewhere (`assess --pruned DIR --blame`)
    restores one layer's dense weights at a time: a layer whose weights changed without
    changing its output gains exactly nothing, layers left alone are not restored, and
    the layer that was damaged is named first."""
    from advisor.assess import assess
    from advisor.pruning import load_pruned
    from tests.pruned_elsewhere import save_plain

    _assessable(monkeypatch)
    damaged = 3
    model = _sparse_by_hand(idle_dense, damaged)
    folder = save_plain(model, idle_dense.tokenizer, tmp_path / "sparse")
    pruned = load_pruned(folder, idle_dense)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    options = {"rules_path": rules, "hierarchy": False, "decode": False, "blame": True}
    result = assess(idle_dense, pruned, ["generation"], **options)
    blamed = result["blame"]
    assert blamed["available"] and blamed["restores"] == "dense weights"
    assert blamed["units"] == [IDLE, damaged]  # layers 0 and 2 were not changed
    record = blamed["tasks"]["generation"]
    rows = {row["unit"]: row for row in record["restored"]}
    assert rows[IDLE]["gain"] == 0.0
    assert record["restored"][0]["unit"] == damaged and rows[damaged]["gain"] > 0
    assert rows[damaged]["retention"] == 1.0  # only the idle layer differs: the dense function


@pytest.mark.parametrize(
    "pruning", [["attn-drop", "--layers", "2"], ["wanda", "--sparsity", "0.5"]], ids=lambda p: p[0]
)
def test_assess_blame_prints_one_sentence_per_task_type(
    pruning, idle_dense, tmp_path, private_cache, monkeypatch, capsys
):
    from advisor.cli import main

    _assessable(monkeypatch)
    monkeypatch.setattr("advisor.pair.load_dense", lambda *_a, **_k: idle_dense)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    args = ["assess", "--model", str(idle_dense.path), "--method", *pruning]
    args += ["--task", "generation", "--rules", str(rules), "--no-hierarchy", "--blame"]
    assert main([*args, "--out", str(tmp_path / "out")]) in (0, 1)
    shown = capsys.readouterr().out
    assert "Blame: generation is" in shown
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    if pruning[0] == "attn-drop":
        assert result["blame"]["units"] == result["pruning"]["dropped"]["attn"]
    else:  # every layer's weights were pruned: each layer's dense weights restored in turn
        assert result["blame"]["restores"] == "dense weights"
        assert result["blame"]["units"] == list(range(LAYERS))
        assert "dense weights" in shown or "would not raise it" in shown


def test_blame_with_low_memory_is_refused_before_loading(capsys, monkeypatch, private_cache):
    from advisor.cli import EXIT_USAGE
    from tests.test_failure_modes import run_cli

    monkeypatch.setattr("advisor.pair.load_dense", lambda *_a, **_k: 1 / 0)
    args = ["assess", "--method", "attn-drop", "--layers", "2", "--task", "math"]
    code, err = run_cli(capsys, *args, "--blame", "--low-memory")
    assert code == EXIT_USAGE and "--blame" in err


def test_plan_saves_float32_weights_whatever_precision_it_ran_in(
    idle_dense, tmp_path, private_cache, monkeypatch, capsys
):
    import copy
    import dataclasses

    from safetensors.torch import load_file

    from advisor.cli import main

    _assessable(monkeypatch)
    half = dataclasses.replace(idle_dense, model=copy.deepcopy(idle_dense.model).bfloat16())
    asked = []

    def load(_spec, options, _console):
        asked.append(options.dtype)
        return half if len(asked) == 1 else idle_dense

    monkeypatch.setattr("advisor.pair.load_dense", load)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    args = ["plan", "--model", str(idle_dense.path), "--method", "attn-drop", "--task"]
    args += ["generation", "--rules", str(rules), "--dtype", "bfloat16", "--tolerance", "0.99"]
    assert main([*args, "--out", str(tmp_path / "r"), "--save", str(tmp_path / "saved")]) == 0
    assert asked == ["bfloat16", "float32"]
    weights = load_file(tmp_path / "saved" / "model.safetensors")
    assert {str(w.dtype) for w in weights.values()} == {"torch.float32"}


def test_sweep_map_shows_the_heat_map_on_the_index_page(
    idle_dense, tmp_path, private_cache, monkeypatch
):
    from advisor.sweep.plan import SweepRequest
    from advisor.sweep.run import sweep

    _assessable(monkeypatch)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    plan = SweepRequest("attn-drop", [{"layers": 1}], ["generation"], rules_path=rules)
    sweep(idle_dense, plan, tmp_path / "plain")
    assert "Sensitivity map" not in (tmp_path / "plain" / "index.html").read_text()
    sweep(idle_dense, dataclasses.replace(plan, sensitivity=True), tmp_path / "mapped")
    page = (tmp_path / "mapped" / "index.html").read_text()
    assert "Sensitivity map" in page and page.count("data:image/png;base64,") == 2


def test_sweep_map_of_a_sparsity_method_exits_2_before_loading(capsys, monkeypatch, private_cache):
    from advisor.cli import EXIT_USAGE
    from tests.test_failure_modes import run_cli

    monkeypatch.setattr("advisor.pair.load_dense", lambda *_a, **_k: 1 / 0)
    args = ["sweep", "--method", "wanda", "--amounts", "0.1,0.2", "--task", "math", "--map"]
    code, err = run_cli(capsys, *args)
    assert code == EXIT_USAGE and "no units" in err


def test_blame_works_for_a_depth_pruned_checkpoint_from_elsewhere(
    idle_dense, tmp_path, private_cache, monkeypatch
):
    """A plain save_pretrained folder without two blocks (ShortGPT-style, no prune-advisor
    record): the removed blocks are inferred, then each is restored in turn."""
    from advisor.assess import assess
    from advisor.pruning import load_pruned
    from tests.pruned_elsewhere import drop_blocks_plain, save_plain

    _assessable(monkeypatch)
    folder = save_plain(
        drop_blocks_plain(idle_dense.model, [IDLE, 3]), idle_dense.tokenizer, tmp_path / "x"
    )
    pruned = load_pruned(folder, idle_dense)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    options = {"rules_path": rules, "hierarchy": False, "decode": False, "blame": True}
    blamed = assess(idle_dense, pruned, ["generation"], **options)["blame"]
    assert blamed["available"] and blamed["method"] == "block-drop"
    assert blamed["units"] == [IDLE, 3]
    rows = {row["unit"]: row for row in blamed["tasks"]["generation"]["restored"]}
    assert rows[IDLE]["gain"] == 0.0  # the idle block adds nothing: restoring it neither
    assert rows[3]["retention"] == 1.0  # only the idle block missing: the dense function


def test_an_interrupted_map_keeps_the_units_it_finished(
    idle_dense, request_for, private_cache, monkeypatch
):
    from advisor.guidance import rows, sensitivity

    _assessable(monkeypatch)
    request = request_for("mlp-drop", ["generation"])
    real = rows._row  # every unit measured ends in its cell
    measured: list[int] = []

    def interrupted(run, unit, *rest):
        if len(measured) == 2:
            raise KeyboardInterrupt  # Ctrl-C before the third unit is written
        measured.append(unit)
        return real(run, unit, *rest)

    monkeypatch.setattr(rows, "_row", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sensitivity.sensitivity_map(idle_dense, request)
    assert len(list((private_cache / "sensitivity").glob("*.json"))) == 2
    first = list(measured)
    measured.clear()
    monkeypatch.setattr(
        rows, "_row", lambda run, unit, *r: measured.append(unit) or real(run, unit, *r)
    )
    found = sensitivity.sensitivity_map(idle_dense, request)
    assert sorted(measured + first) == list(range(LAYERS))  # nothing measured twice
    assert [r["unit"] for r in found["tasks"]["generation"]["units"]] == list(range(LAYERS))


def test_a_plan_on_a_task_type_that_is_not_assessable_removes_nothing(
    idle_dense, tmp_path, private_cache, monkeypatch, capsys
):
    from advisor.cli import main

    # the random model is not competent at multiple-choice: no unit can be go on it
    monkeypatch.setattr("advisor.pair.load_dense", lambda *_a, **_k: idle_dense)
    rules = _rules(tmp_path / "rules.json", ["multiple-choice"])
    args = ["plan", "--model", str(idle_dense.path), "--method", "block-drop"]
    args += ["--task", "multiple-choice", "--rules", str(rules), "--out", str(tmp_path / "r")]
    assert main([*args, "--save", str(tmp_path / "saved")]) == 0
    captured = capsys.readouterr()
    assert "No block-drop unit can be removed" in captured.out
    assert "Nothing written" in captured.err
    plan = json.loads((tmp_path / "r" / "plan.json").read_text())
    assert plan["units"] == [] and plan["verified"] is None and plan["checked"] == []
    assert "not assessable" in (tmp_path / "r" / "index.html").read_text()
    assert not list((tmp_path / "saved").iterdir())


class _Read:
    """Survival evidence on the items at ``picks`` (what a look's ``measure_on`` returns)."""

    def __init__(self, dense, pruned, picks):
        from advisor.measure.loss import loss_stats

        self.pruned = [pruned[n] for n in picks]
        self.stats = loss_stats("survival", [dense[n] for n in picks], self.pruned)
        self.look = None


@pytest.mark.parametrize("seed", range(6))
def test_screening_is_exact(seed):
    """A unit the map screens out (it can no longer be go) is one a full reading would not
    find go either: over random survival patterns near the tolerance, the screened reading
    (in look order, or each look's items by dense margin) and the plain looks agree on go,
    and screening reads no more items."""
    import random

    from advisor.guidance.screen import read_screened
    from advisor.rules.looks import read_in_looks
    from advisor.verdicts import GO

    rule = {"slope": 1.2, "misfit": 0.02}
    rng = random.Random(seed)
    screened = 0
    for _ in range(60):
        n = rng.choice([16, 24, 48])
        dense = [float(rng.random() < 0.8) for _ in range(n)]
        loss = rng.choice([0.0, 0.01, 0.03, 0.08, 0.2])
        pruned = [d * float(rng.random() >= loss) for d in dense]
        # half the seeds read each look's items narrowest dense margin first
        margins = [rng.random() for _ in range(n)] if seed % 2 else None
        read = lambda picks, d=dense, p=pruned: _Read(d, p, picks)  # noqa: E731
        _, prediction, look = read_in_looks(rule, "survival", n, 0.9, read, lambda e: e.stats)
        found = read_screened(rule, "survival", dense, 0.9, read, margins)
        assert (prediction.verdict == GO) == (
            found.look.get("screened") is None and _go(rule, found)
        )
        assert found.look["items"] <= look["items"]
        screened += bool(found.look.get("screened"))
    assert screened  # the cases do reach the screen


def _go(rule, found):
    from advisor.rules.predict import predict_from
    from advisor.verdicts import GO

    return predict_from(rule, found.stats, 0.9, found.look["z"]).verdict == GO


def test_restorations_tied_in_retention_are_ordered_by_divergence():
    """A count of kept answers moves in steps, so restorations often tie on predicted
    retention: the one whose model is closer to the dense one comes first, then the
    lower layer."""
    from advisor.guidance.blame import restoration_order

    rows = [
        {"unit": 3, "gain": 0.1, "divergence": 0.9},
        {"unit": 9, "gain": 0.1, "divergence": 0.2},
        {"unit": 1, "gain": 0.0, "divergence": 0.0},
        {"unit": 5, "gain": 0.3, "divergence": 2.0},
        {"unit": 2, "gain": 0.1, "divergence": 0.9},
    ]
    assert [r["unit"] for r in sorted(rows, key=restoration_order)] == [5, 9, 2, 3, 1]


def test_a_lockstep_row_is_what_each_unit_read_alone_gives(
    idle_dense, private_cache, tmp_path, monkeypatch
):
    """The map reads its units in lockstep, sharing each step's layer prefix: every cell
    is what reading that unit alone, without any sharing, gives (a survival task, so the
    screen and the margin order are at work)."""
    import copy
    from dataclasses import replace

    from advisor.forward.layer_replay import LayerReplay
    from advisor.guidance import rows
    from advisor.measure.evidence import dense_margins
    from advisor.truth.evaluate import dense_results
    from tests.test_evidence import _short_answers

    _assessable(monkeypatch)
    # the other layers' MLPs made loud, so that removing one loses answers
    loud = copy.deepcopy(idle_dense.model)
    with torch.no_grad():
        for layer in set(range(LAYERS)) - {IDLE}:
            loud.model.layers[layer].mlp.down_proj.weight.mul_(40.0)
    dense = replace(idle_dense, model=loud, fingerprint=f"{idle_dense.fingerprint}/loud")
    items = _short_answers(48)  # 48: enough for a unit to be go
    # a random model gets no sum right: count its answers as right, so they are read
    scored = [replace(r, score=1.0) for r in dense_results(dense, items)]
    rule = {"slope": 1.0, "misfit": 0.0}
    margins = tuple(dense_margins(dense, "math", items))
    run = rows.TaskRun(
        dense,
        "mlp-drop",
        "math",
        items,
        scored,
        rule,
        0.9,
        reading=rows.SCREENED,
        margins=margins,
    )
    together = rows.task_row(run, list(range(LAYERS)), "test")
    for unit, cell in zip(range(LAYERS), together, strict=True):
        alone = run.model_for(unit)
        assert rows.unit_cost(run, unit, alone, LayerReplay([alone.model], set())) == cell
    # both readings occur: the idle unit read in full and go, the others screened early
    assert together[IDLE]["loss"] == 0.0 and together[IDLE]["items"] == len(items)
    assert together[IDLE]["verdict"] == "go"
    assert all(c["screened"] and c["items"] < 12 for c in together if c["unit"] != IDLE)
    # each cell lists the answers it lost (what a plan's check of a set reads first)
    assert together[IDLE]["lost"] == []
    assert all(c["lost"] for c in together if c["unit"] != IDLE)


@pytest.mark.parametrize("tolerance", [0.9, 0.99])
def test_the_chosen_sets_assessment_reuses_the_prompt_passes_of_its_check(
    tolerance, idle_dense, tmp_path, private_cache, monkeypatch
):
    """The chosen set was checked go just before it is assessed for real: that assessment
    reads its evidence from the check's prompt passes (none run again), and says what an
    assessment reading everything itself says. A one-unit set is read off the map."""
    from advisor.assess import assess
    from advisor.guidance.plan import make_plan
    from advisor.guidance.sensitivity import MapRequest
    from advisor.measure import evidence
    from advisor.pruning import drop_units

    _assessable(monkeypatch)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    request = MapRequest("attn-drop", ["generation"], rules_path=rules, tolerance=tolerance)
    real = evidence._forced_logits
    passes: list[int] = []
    monkeypatch.setattr(
        evidence, "_forced_logits", lambda *a, **k: passes.append(1) or real(*a, **k)
    )
    during: list[int] = []

    def counted(*args, **kwargs):
        before = len(passes)
        result = assess(*args, **kwargs)
        during.append(len(passes) - before)
        return result

    plan = make_plan(idle_dense, request, counted)
    assert plan["verified"]["go"]
    if tolerance == 0.9:  # every unit is go alone: the most harmful one is left out
        assert len(plan["candidates"]) == LAYERS - 1  # (a model keeps at least one)
    singles = [c for c in plan["checked"] if len(c["units"]) == 1]
    assert all(c == from_map_cell(plan, c["units"][0]) for c in singles)
    assert len(plan["units"]) > 1 and during == [0]
    options = {"hierarchy": False, "decode": False, "rules_path": rules, "tolerance": tolerance}
    fresh = assess(
        idle_dense, drop_units(idle_dense, "attn-drop", plan["units"]), ["generation"], **options
    )
    assert (
        fresh["tasks"]["generation"]["prediction"] == plan["verified"]["predictions"]["generation"]
    )


def from_map_cell(plan, unit):
    from advisor.guidance.plan import from_map

    return from_map(plan["map"], unit)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_each_check_foresees_the_sets_the_next_two_checks_take(n):
    """Whatever the answers, the set of more than one unit the search checks next is the
    one :func:`next_check` names, and it is among the sets :func:`later_checks` named at
    the check before it and at the one before that (so the prefixes it replays are kept)."""
    from advisor.guidance.plan import choose, later_checks, next_check

    order = [4, 0, 5, 2, 1, 3][:n]
    runs = set()
    for pattern in range(2 ** (1 + n.bit_length() + n)):
        calls: list[tuple[tuple[int, ...], bool]] = []

        def is_go(units, calls=calls, pattern=pattern):
            many = sum(len(u) > 1 for u, _ in calls)
            answer = len(units) == 1 or bool(pattern >> many & 1)  # candidates: go alone
            calls.append((tuple(units), answer))
            return answer

        choose(order, is_go)
        runs.add(tuple(calls))
    assert len(runs) >= n  # the patterns reach many different searches
    for calls in runs:
        answers = [a for _, a in calls]
        many = [i for i, (units, _) in enumerate(calls) if len(units) > 1]
        for j, i in enumerate(many):
            before = many[j - 1] + 1 if j else 0
            assert next_check(order, answers[:before]) == (list(calls[i][0]), answers[:i])
            for back, steps in ((1, 1), (1, 2), (2, 2)):
                if j >= back:
                    named = later_checks(order, answers[: many[j - back]], steps)
                    assert list(calls[i][0]) in named, (calls, i, back, steps)
        last = many[-1] + 1 if many else 0
        assert next_check(order, answers[:last]) is None  # nothing after the last check


def test_checks_that_replay_the_layers_they_share_read_what_a_lone_check_reads(
    idle_dense, tmp_path, private_cache, monkeypatch
):
    """Sets checked one after another with the layer prefixes they share replayed (as a
    plan checks them) give exactly the cells each set's check gives alone."""
    from advisor.forward.layer_replay import LayerReplay, dense_tensors
    from advisor.guidance import plan
    from advisor.guidance.rows import unit_model
    from advisor.guidance.sensitivity import MapRequest, fitted_suites

    _assessable(monkeypatch)
    rules = _rules(tmp_path / "rules.json", ["generation"])
    request = MapRequest("attn-drop", ["generation"], rules_path=rules, tolerance=0.99)
    suites = fitted_suites(idle_dense, request)
    sets = [[0, 2, 3], [0, 2], [0, 3], [0, 1, 3]]
    share = LayerReplay([], dense_tensors(idle_dense.model))
    shared = []
    for k, units in enumerate(sets):
        model = unit_model(idle_dense, "attn-drop", units)
        later = [unit_model(idle_dense, "attn-drop", u).model for u in sets[k + 1 : k + 3]]
        share.expect(model.model, later)
        shared.append(plan.check(idle_dense, request, units, suites, model, None, share))
        share.finished(model.model)
    assert share.stats["replayed_calls"] > 0 and share.stats["reruns"] == 0
    assert share.stats["skipped_layer_calls"] >= 2 * share.stats["replayed_calls"]
    monkeypatch.setattr(plan, "read_checked_json", lambda _path: None)  # read them again
    for units, found in zip(sets, shared, strict=True):
        assert plan.check(idle_dense, request, units, suites) == found
