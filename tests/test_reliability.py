"""Nothing lost, nothing half-written: atomic files, checksummed caches that heal,
concurrent writers, interrupted sweeps and fits that resume, and deterministic results."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
import torch

from advisor import publish
from advisor.cli import EXIT_OK, EXIT_USAGE, main
from advisor.errors import AdvisorError
from advisor.fitting import grid
from advisor.fitting.grid import GridPoint
from advisor.measure import dense_cache, measure
from advisor.measure.record import Recording
from advisor.models import builtins, load_model
from advisor.pruning import prune_model
from advisor.suites import build_suite
from advisor.truth.evaluate import dense_results
from tests.test_assess import _rules
from tests.tiny_models import tiny_model

pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def dense(tiny_llama_dir):
    return load_model(str(tiny_llama_dir))


def _counting(function, calls: list[int]):
    """``function``, appending to ``calls`` on every call."""

    def counted(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    return counted


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = publish.atomic_write(tmp_path / "result.json", "old")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(AdvisorError, match="No space left on device"):
        publish.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temp file left


def test_report_files_are_published_through_the_atomic_helper(tmp_path, monkeypatch):
    from advisor import report

    calls = []
    real = publish.publish_files
    monkeypatch.setattr(
        report,
        "publish_files",
        lambda f, contents: calls.append(list(contents)) or real(f, contents),
    )
    monkeypatch.setattr(report, "render", lambda result: "<html></html>")
    report.write_report({"any": "result"}, tmp_path)
    assert calls == [["result.json", "report.html"]]  # one set, published together
    assert json.loads((tmp_path / "result.json").read_text()) == {"any": "result"}


def test_report_pairs_are_published_together(tmp_path, monkeypatch):
    """Two runs publishing into one folder take turns: while one is between its two
    renames it holds the folder's lock, so the other cannot put its result.json beside the
    first one's report.html. Deterministic: run A is stopped between its renames."""
    import fcntl
    import threading

    folder = tmp_path / "out"
    folder.mkdir()
    real_replace = os.replace
    between, go = threading.Event(), threading.Event()

    def replace(src, dst):
        real_replace(src, dst)
        if threading.current_thread().name == "A" and Path(dst).name == "result.json":
            between.set()
            assert go.wait(60)

    monkeypatch.setattr(os, "replace", replace)
    runs = {
        name: threading.Thread(
            target=publish.publish_files,
            args=(folder, {"result.json": f"result {name}", "report.html": f"report {name}"}),
            name=name,
        )
        for name in ("A", "B")
    }
    runs["A"].start()
    assert between.wait(60)  # A has replaced result.json, not yet report.html
    probe = os.open(folder, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):  # the folder is locked for the whole pair
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        runs["B"].start()  # B stages its files, then waits for the lock
        go.set()
        for run in runs.values():
            run.join(60)
    finally:
        os.close(probe)
    pair = [(folder / n).read_text().split()[1] for n in ("result.json", "report.html")]
    assert pair[0] == pair[1]  # one run's pair, never a mix
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "result.json"]


# --------------------------------------------------------------------------- damaged caches


def test_truncated_dense_cache_entry_is_detected_and_recomputed(dense):
    items = build_suite("math", "calibration")[:3]
    pruned = prune_model(dense, "attn-drop", layers=1).loaded
    first = measure(dense, pruned, items, horizon=4)
    assert first.meta["dense_cache"]["state"] == "miss"
    entry = dense_cache.cache_path(first.meta["dense_cache"]["key"])
    _truncate(entry / "states.safetensors")
    again = measure(dense, pruned, items, horizon=4)
    assert again.meta["dense_cache"]["state"] == "miss"  # damaged entry: recomputed
    assert again.aggregates == first.aggregates
    assert publish.verify_checksums(entry)
    assert measure(dense, pruned, items, horizon=4).meta["dense_cache"]["state"] == "hit"


def test_truncated_score_cache_entry_is_detected_and_recomputed(dense, monkeypatch):
    from advisor.truth import evaluate as ground_truth

    items = build_suite("multiple-choice", "calibration")[:4]
    first = dense_results(dense, items)
    calls = []
    real = ground_truth.score_model
    monkeypatch.setattr(
        ground_truth, "score_model", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    assert dense_results(dense, items) == first and calls == []  # a hit
    (entry,) = (Path(os.environ["PRUNE_ADVISOR_CACHE"]) / "scores").glob("*.json")
    _truncate(entry)
    assert dense_results(dense, items) == first and calls == [1]  # recomputed
    assert dense_results(dense, items) == first and calls == [1]  # and healed


def test_damaged_converted_model_is_converted_again(monkeypatch, tmp_path):
    conversions = []

    def fake_gguf(gguf):
        conversions.append(gguf)
        return tiny_model("llama")

    monkeypatch.setattr(builtins, "_materialise_gguf", lambda spec, p, t: tmp_path / "x.gguf")
    monkeypatch.setattr(builtins, "load_gguf", fake_gguf)
    folder = builtins.convert_builtin("smollm2-135m")
    assert builtins.is_converted("smollm2-135m") and len(conversions) == 1
    assert builtins.convert_builtin("smollm2-135m") == folder and len(conversions) == 1
    _truncate(folder / "model.safetensors")
    assert not builtins.is_converted("smollm2-135m")
    builtins.convert_builtin("smollm2-135m")
    assert len(conversions) == 2 and builtins.is_converted("smollm2-135m")
    assert load_model("smollm2-135m").model.config.num_hidden_layers == 2


def test_checked_json_rejects_tampering(tmp_path):
    path = publish.write_checked_json(tmp_path / "x.json", {"a": [1, 2]})
    assert publish.read_checked_json(path) == {"a": [1, 2]}
    path.write_text(path.read_text().replace("2", "3"))
    assert publish.read_checked_json(path) is None


# --------------------------------------------------------------------------- concurrency

ROUNDS = 6
WAIT_S = 120  # a barrier that long means a worker died: reported, never a hang


def _side(seed: int = 0) -> Recording:
    torch.manual_seed(seed)
    return Recording(
        last=torch.randn(3, 3, 16),
        mean=torch.randn(3, 3, 16),
        choice=[None, [-0.5, -1.25], None],
        choice_tokens=[None, [1, 1], None],
        prompt_ids=[[1, 2], [3], [4, 5, 6]],
        gen_tokens=[[7, 8], None, None],
        gen_hidden=[torch.randn(2, 16), None, None],
        gen_ended=[False, None, None],
    )


def _same(a: Recording, b: Recording) -> bool:
    tensors = all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("last", "mean"))
    steps = all(
        (x is None and y is None) or torch.equal(x, y)
        for x, y in zip(a.gen_hidden, b.gen_hidden, strict=True)
    )
    fields = ("choice", "choice_tokens", "prompt_ids", "gen_tokens", "gen_ended")
    return tensors and steps and all(getattr(a, f) == getattr(b, f) for f in fields)


def _writer(barrier, worker: int, queue) -> None:
    """One of two processes sharing one cache (run in a fresh process), in lock-step.

    Each round, on a fresh entry: (1) both stage the same entry and rename it into place at
    the same moment (a barrier inside ``_publish``: both are past staging before either
    renames); both then read it back whole. (2) Worker 1 reads the entry; worker 0 then
    truncates its tensor file in place; worker 1's entry must still be the one it checked,
    and a new read must see the damage (None), after which worker 1 heals it and worker 0
    reads it whole. (3) Both rewrite and read one checked-JSON file. No step depends on
    timing: the barriers fix the interleaving.
    """
    try:
        expected = _side()
        scores = Path(os.environ["PRUNE_ADVISOR_CACHE"]) / "scores.json"
        real_publish, together = publish._publish, [False]

        def slow_publish(stage: Path, target: Path) -> bool:
            if together[0]:
                barrier.wait(WAIT_S)
            return real_publish(stage, target)

        publish._publish = slow_publish
        for round_ in range(ROUNDS):
            key = f"shared-{round_}"
            together[0] = True
            dense_cache.save(key, expected)
            together[0] = False
            got = dense_cache.load(key)
            assert got is not None and _same(got, expected), f"round {round_}: published entry"
            barrier.wait(WAIT_S)
            if worker == 1:
                held = dense_cache.load(key)
            barrier.wait(WAIT_S)
            if worker == 0:
                _truncate(dense_cache.cache_path(key) / "states.safetensors")
            barrier.wait(WAIT_S)
            if worker == 1:
                assert held is not None and _same(held, expected), f"round {round_}: held entry"
                assert dense_cache.load(key) is None, f"round {round_}: damage not detected"
                dense_cache.save(key, expected)
            barrier.wait(WAIT_S)
            got = dense_cache.load(key)
            assert got is not None and _same(got, expected), f"round {round_}: healed entry"
            publish.write_checked_json(scores, {"rows": list(range(500)), "round": round_})
            assert publish.read_checked_json(scores) == {"rows": list(range(500)), "round": round_}
            barrier.wait(WAIT_S)
        queue.put((worker, "ok"))
    except BaseException as exc:  # report anything to the parent, which asserts on it
        barrier.abort()  # release the other worker at once instead of after WAIT_S
        queue.put((worker, f"{type(exc).__name__}: {exc}"))


def test_two_processes_sharing_a_cache_do_not_corrupt_it():
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_writer, args=(barrier, i, queue)) for i in range(2)]
    for w in workers:
        w.start()
    reports = sorted(queue.get(timeout=600) for _ in workers)
    for w in workers:
        w.join(timeout=60)
    assert reports == [(0, "ok"), (1, "ok")]
    for round_ in range(ROUNDS):
        final = dense_cache.load(f"shared-{round_}")
        assert final is not None and _same(final, _side())
    leftovers = sorted(p.name for p in dense_cache.cache_path("x").parent.iterdir())
    assert leftovers == [f"shared-{r}" for r in range(ROUNDS)]  # no staging or discarded folders


def test_an_entry_damaged_after_its_check_never_reaches_the_reader(monkeypatch):
    """The race behind the flaky test above: a reader checked an entry, then read it again
    through a memory map, so a truncation after the check turned its tensors to zeros. Now
    the reader parses the bytes it checked."""
    expected = _side()
    dense_cache.save("entry", expected)
    states = dense_cache.cache_path("entry") / "states.safetensors"
    held = dense_cache.load("entry")
    _truncate(states)  # another process damages the published file in place
    assert held is not None and _same(held, expected)  # was: zeros where the file was cut
    dense_cache.save("entry", expected)  # healed (the damaged copy is replaced)

    real = dense_cache.read_verified

    def damaged_right_after_the_check(folder, names):
        blobs = real(folder, names)
        _truncate(states)
        return blobs

    monkeypatch.setattr(dense_cache, "read_verified", damaged_right_after_the_check)
    got = dense_cache.load("entry")
    assert got is not None and _same(got, expected)


def test_publish_retries_when_the_entry_it_met_vanishes(tmp_path, monkeypatch):
    """Another process can discard a damaged entry between our failed rename and our look
    at what blocked it: that is not an error, the rename is tried again."""
    target = tmp_path / "entry"
    target.mkdir()
    (target / "old").write_text("damaged")
    real_rename = os.rename
    calls = []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 1:
            try:
                real_rename(src, dst)  # fails: the damaged entry is in the way
            finally:
                shutil.rmtree(target)  # ... and is discarded by someone else right then
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with publish.staged_dir(target) as stage:
        (stage / "new").write_text("whole")
    assert (target / "new").read_text() == "whole" and len(calls) == 2


# --------------------------------------------------------------------------- interruptions


def _sweep_args(tiny_llama_dir, rules, out) -> list[str]:
    return ["sweep", "--model", str(tiny_llama_dir), "--method", "magnitude", "--amounts",
            "0.1,0.2", "--task", "math", "--rules", str(rules), "--out", str(out)]  # fmt: skip


def test_interrupted_sweep_keeps_finished_amounts_and_resumes(
    tiny_llama_dir, tmp_path, monkeypatch, capsys
):
    from advisor.cli import sweep as sweep_cli
    from advisor.sweep.run import STEP_FILE

    real = sweep_cli.run_assessment
    calls: list[int] = []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    rules, out = _rules(tmp_path / "rules.json"), tmp_path / "sweep"
    monkeypatch.setattr(sweep_cli, "run_assessment", interrupt_second)
    assert main(_sweep_args(tiny_llama_dir, rules, out)) == 130  # Ctrl-C
    # the frontier search runs the largest amount first
    assert (out / "magnitude-0.2" / "result.json").is_file()
    assert (out / "magnitude-0.2" / STEP_FILE).is_file()
    assert not (out / "magnitude-0.1").exists()

    calls.clear()
    monkeypatch.setattr(
        sweep_cli, "run_assessment", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    capsys.readouterr()
    assert main(_sweep_args(tiny_llama_dir, rules, out)) == EXIT_OK
    assert calls == [1]  # only the unfinished amount ran again
    progress = capsys.readouterr().err
    assert "magnitude 0.2: " in progress and "(resumed)" in progress
    assert "(assessed math)" in progress
    summary = json.loads((out / "sweep.json").read_text())
    assert [s["amount"] for s in summary["steps"]] == ["0.1", "0.2"]
    assert (out / "index.html").is_file()

    # a changed input (another seed) makes the finished step stale: it runs again
    calls.clear()
    assert main([*_sweep_args(tiny_llama_dir, rules, out), "--seed", "1"]) == EXIT_OK
    assert calls == [1, 1]


def test_sweep_refuses_an_amount_given_twice(tmp_path, capsys):
    args = ["sweep", "--model", str(tmp_path / "no-model"), "--method", "wanda",
            "--amounts", "0.1,0.3,0.10"]  # fmt: skip
    assert main(args) == EXIT_USAGE
    assert "--amounts lists 0.1 more than once" in capsys.readouterr().err


def test_sweep_refuses_an_unknown_search_before_loading_a_model(tmp_path, capsys):
    args = ["sweep", "--model", str(tmp_path / "no-model"), "--method", "magnitude",
            "--amounts", "0.1", "--search", "bisect"]  # fmt: skip
    assert main(args) == EXIT_USAGE
    assert "--search must be one of frontier, every; got 'bisect'" in capsys.readouterr().err


def test_interrupted_fit_keeps_finished_configs_and_resumes(dense, tmp_path, monkeypatch):
    calibration = {"multiple-choice": build_suite("multiple-choice", "calibration")[:4]}
    evaluation = {"multiple-choice": build_suite("multiple-choice", "evaluation")[:4]}
    points = [GridPoint("magnitude", 0.1), GridPoint("magnitude", 0.2)]
    cases = tmp_path / "cases.jsonl"
    real = grid.measure
    calls: list[int] = []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(grid, "measure", interrupt_second)  # the grid's own import of it
    with pytest.raises(KeyboardInterrupt):
        grid.run_grid(dense, points, calibration, evaluation, cases)
    assert [json.loads(line)["point"]["id"] for line in cases.read_text().splitlines()] == [
        "magnitude@0.1"
    ]
    notes: list[tuple[str, str]] = []
    rows = grid.run_grid(
        dense, points, calibration, evaluation, cases, on_point=lambda p, n: notes.append((p.id, n))
    )
    assert [r["point"]["id"] for r in rows] == ["magnitude@0.1", "magnitude@0.2"]
    assert notes[0] == ("magnitude@0.1", "cached") and len(calls) == 3


# --------------------------------------------------------------------------- determinism

VOLATILE = ("speed",)  # wall-clock measurements; manifest.timings likewise


def _without_timings(result: dict) -> dict:
    result = {k: v for k, v in result.items() if k not in VOLATILE}
    result["manifest"] = {k: v for k, v in result["manifest"].items() if k != "timings"}
    return result


def test_same_seed_gives_identical_result_json(tiny_llama_dir, tmp_path, monkeypatch):
    rules = _rules(tmp_path / "rules.json")
    results = []
    for run in ("a", "b"):
        monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(tmp_path / f"cache-{run}"))  # no reuse
        args = ["assess", "--model", str(tiny_llama_dir), "--method", "wanda", "--sparsity",
                "0.3", "--task", "math", "--task", "multiple-choice", "--rules", str(rules),
                "--calib-samples", "4", "--calib-len", "32",
                "--out", str(tmp_path / run)]  # fmt: skip
        assert main(args) in (0, 1)
        results.append(json.loads((tmp_path / run / "result.json").read_text()))
    a, b = results
    assert a["speed"] and a["manifest"]["timings"]  # present, and the only differences
    assert _without_timings(a) == _without_timings(b)
    assert a["examples"] and a["tasks"]["math"]["measurements"]["aggregates"]


def test_no_hierarchy_gives_the_same_verdicts_and_evidence_without_the_report_measures(
    tiny_llama_dir, tmp_path
):
    rules = _rules(tmp_path / "rules.json")
    results = []
    for run, extra in (("full", []), ("gate", ["--no-hierarchy"])):
        args = ["assess", "--model", str(tiny_llama_dir), "--method", "wanda", "--sparsity",
                "0.3", "--task", "math", "--task", "multiple-choice", "--rules", str(rules),
                "--out", str(tmp_path / run), *extra]  # fmt: skip
        assert main(args) in (0, 1)
        results.append(json.loads((tmp_path / run / "result.json").read_text()))
    full, gate = results
    assert gate["manifest"]["data"]["hierarchy_items"] == 0 and not gate["examples"]
    assert full["manifest"]["data"]["hierarchy_items"] > 0
    for task in ("math", "multiple-choice"):
        keep = ("verdict", "prediction", "reasons", "evidence", "competence")
        assert {k: gate["tasks"][task].get(k) for k in keep} == {
            k: full["tasks"][task].get(k) for k in keep
        }
        assert not gate["tasks"][task]["measurements"]["aggregates"]
    page = (tmp_path / "gate" / "report.html").read_text()
    assert "Not measured in this run (--no-hierarchy" in page
    assert "No generative task type was assessed" not in page  # math is generative
