"""The Ray path (docs/design.md §9a): a sweep and a fit through a local Ray instance write
the same files as a local run, with the dense side measured once, before the tasks.

CI installs the ``[ray]`` extra (pinned in constraints.txt), so these tests run there; the
error tests run without Ray too."""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import pytest

from advisor import cluster
from advisor.cli import EXIT_OK, EXIT_USAGE, main
from advisor.errors import AdvisorError
from advisor.fitting import grid, ray as fit_ray
from advisor.fitting.fit import FitRequest
from advisor.fitting.grid import GridPoint
from advisor.models import load_model
from advisor.sweep import ray as sweep_ray
from tests.test_assess import _rules


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance of two CPUs, the tasks given this session's scratch cache."""
    ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
    ray.init(
        address="local",  # a new instance, never one a `ray start` left on this machine
        num_cpus=2,
        runtime_env={"env_vars": cluster.task_env()},
        include_dashboard=False,
        logging_level="ERROR",
    )
    yield ray
    ray.shutdown()


def _sweep(model: Path, rules: Path, out: Path, *ray_args: str) -> list[str]:
    return ["sweep", "--model", str(model), "--method", "magnitude", "--amounts", "0.1,0.3",
            "--task", "math", "--task", "multiple-choice", "--rules", str(rules),
            "--hierarchy", "--search", "every", "--out", str(out), *ray_args]  # fmt: skip


def _without_timings(result: dict) -> dict:
    """A result.json without what README says may differ between runs: the wall-clock
    measurements ``speed`` and ``manifest.timings``."""
    result = copy.deepcopy(result)
    result.pop("speed")
    result["manifest"].pop("timings")
    return result


def test_sweep_on_ray_writes_what_a_local_sweep_writes(local_ray, tiny_llama_dir, tmp_path, capsys):
    rules = _rules(tmp_path / "rules.json")
    start = time.perf_counter()
    assert main(_sweep(tiny_llama_dir, rules, tmp_path / "local")) == EXIT_OK
    local_s = time.perf_counter() - start
    start = time.perf_counter()
    assert main(_sweep(tiny_llama_dir, rules, tmp_path / "ray", "--ray")) == EXIT_OK
    ray_s = time.perf_counter() - start
    printed = capsys.readouterr().err
    assert "magnitude 0.1" in printed and "(ray)" in printed
    for step in ("magnitude-0.1", "magnitude-0.3"):
        local = json.loads((tmp_path / "local" / step / "result.json").read_text())
        remote = json.loads((tmp_path / "ray" / step / "result.json").read_text())
        assert _without_timings(remote) == _without_timings(local)
        assert remote["tasks"]["math"]["measurements"]["aggregates"]  # measured, not empty
        # the dense side was measured once, before the steps: every step read it cached
        assert remote["manifest"]["measurement"]["dense_cache"] == "hit"
        assert (tmp_path / "ray" / step / "report.html").is_file()
        assert (tmp_path / "ray" / step / "sweep_step.json").read_text() == (
            tmp_path / "local" / step / "sweep_step.json"
        ).read_text()
    summaries = [json.loads((tmp_path / d / "sweep.json").read_text()) for d in ("local", "ray")]
    for summary in summaries:
        summary.pop("index")
        # how the run went, not what it found: Ray runs every amount at once (no early stop)
        assert summary.pop("search")["stopped_at"] == {}
        for row in summary["steps"]:  # wall-clock: the step's seconds and measured speed-up
            row.pop("seconds")
            row.pop("speedup")
    assert summaries[0] == summaries[1]
    print(f"two-configuration sweep: local {local_s:.1f} s, ray {ray_s:.1f} s")

    # a rerun on Ray reuses the finished steps: nothing is sent to Ray
    def no_ray(*args, **kwargs):
        raise AssertionError("a finished step was sent to Ray")

    mark = (tmp_path / "ray" / "magnitude-0.1" / "result.json").stat().st_mtime_ns
    original = cluster.fan_out
    cluster.fan_out = no_ray
    try:
        assert main(_sweep(tiny_llama_dir, rules, tmp_path / "ray", "--ray")) == EXIT_OK
    finally:
        cluster.fan_out = original
    assert (tmp_path / "ray" / "magnitude-0.1" / "result.json").stat().st_mtime_ns == mark


def test_fit_grid_on_ray_gives_the_rows_of_a_local_fit(local_ray, tiny_llama_dir, tmp_path):
    dense = load_model(str(tiny_llama_dir))
    points = [GridPoint("attn-drop", 1), GridPoint("magnitude", 0.2)]
    plans = {
        where: FitRequest(
            models=(str(tiny_llama_dir),),
            tasks=["multiple-choice", "math"],
            cases_path=tmp_path / f"{where}.jsonl",
            eval_items=6,
            adaptive=0,
        )
        for where in ("local", "ray")
    }
    from advisor.fitting.fit import grid_rows
    from advisor.pair import LoadOptions

    local = grid_rows(plans["local"], dense, points)
    target = cluster.RayTarget("local", str(tiny_llama_dir), LoadOptions(), dense.fingerprint)
    heard = []
    remote = fit_ray.grid_rows_on_ray(
        target, plans["ray"], dense, points, lambda p, note: heard.append(p.id)
    )
    assert sorted(heard) == ["attn-drop@1", "magnitude@0.2"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(remote) == strip(local)
    assert len(grid.read_cases(plans["ray"].cases_path)) == 2


def test_a_task_that_loads_another_model_is_refused(local_ray, tiny_llama_dir):
    from advisor.pair import LoadOptions

    target = cluster.RayTarget("local", str(tiny_llama_dir), LoadOptions(), "not-the-fingerprint")
    with pytest.raises(AdvisorError, match="not the driver's not-the-fingerprint"):
        cluster.fan_out(target, sweep_ray._sweep_task, [(None, {"sparsity": 0.1})])


def test_unreachable_ray_address_is_a_usage_error(tiny_llama_dir, tmp_path, capsys):
    rules = _rules(tmp_path / "rules.json")
    start = time.perf_counter()
    args = _sweep(tiny_llama_dir, rules, tmp_path / "out", "--ray", "127.0.0.1:1")
    assert main(args) == EXIT_USAGE
    assert time.perf_counter() - start < 30
    assert "Cannot reach a Ray head at 127.0.0.1:1" in capsys.readouterr().err
    assert main([*args[:-1], "no-port-here"]) == EXIT_USAGE
    assert "HOST:PORT" in capsys.readouterr().err


def test_bare_ray_flag_means_a_local_instance():
    from advisor.cli import optional_values

    assert optional_values(["sweep", "--ray"]) == ["sweep", "--ray", "local"]
    assert optional_values(["sweep", "--ray", "--task", "math"])[2] == "local"
    assert optional_values(["fit", "--ray", "auto"]) == ["fit", "--ray", "auto"]


def test_without_ray_installed_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(AdvisorError, match=r"prune-advisor\[ray\]"):
        cluster.connect("local")


def test_warm_measures_the_dense_side_once_before_the_steps(tiny_llama_dir, tmp_path, monkeypatch):
    """After :func:`advisor.sweep.run.warm` a step records only its pruned model: the dense
    recording, scores and evidence all come from the cache (no Ray needed)."""
    import advisor.measure.compare as compare
    from advisor.sweep.plan import SweepRequest
    from advisor.sweep.run import assess_amount, warm

    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(tmp_path / "cache"))
    dense = load_model(str(tiny_llama_dir))
    plan = SweepRequest("attn-drop", [{"layers": 1}], ["math", "multiple-choice"],
                     rules_path=_rules(tmp_path / "rules.json"), hierarchy=True)  # fmt: skip
    warm(dense, plan, plan.steps[0])
    recorded = []
    real = compare.record_model
    monkeypatch.setattr(
        compare, "record_model", lambda m, *a, **k: recorded.append(m) or real(m, *a, **k)
    )
    result = assess_amount(dense, plan, plan.steps[0])
    assert result["manifest"]["measurement"]["dense_cache"] == "hit"
    assert len(recorded) == 1 and recorded[0] is not dense.model  # the pruned model only


def test_sweep_joins_a_ray_head_started_by_ray_start(tiny_llama_dir, tmp_path):
    """`ray start --head` as a user (or CI) runs it, and the CLI in its own process joining
    it by HOST:PORT: the address path, not an in-process instance."""
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import tempfile

    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    ray_cli = Path(sys.executable).parent / "ray"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Ray >= 2.59 authenticates by token: the head and the command share one, as a cluster's
    # nodes and drivers do (Ray's own RAY_AUTH_MODE / RAY_AUTH_TOKEN).
    env = {**os.environ, **cluster.task_env(), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": os.urandom(16).hex()}  # fmt: skip
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: it holds unix sockets
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--port", str(port), "--num-cpus", "2",
         "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp),
         "--block"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:  # the head answers on its port once it is up
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, "ray start failed"
                time.sleep(1)
        rules = _rules(tmp_path / "rules.json")
        args = _sweep(tiny_llama_dir, rules, tmp_path / "out", "--ray", f"127.0.0.1:{port}")
        cli = "import sys; from advisor.cli import main; sys.exit(main(sys.argv[1:]))"
        done = subprocess.run([sys.executable, "-c", cli, *args], env=env, capture_output=True,
                              text=True, timeout=600)  # fmt: skip
        assert done.returncode == EXIT_OK, done.stderr[-2000:]
        assert "(ray)" in done.stderr
        summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
        assert [s["amount"] for s in summary["steps"]] == ["0.1", "0.3"]
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head and the processes it started
        head.wait(timeout=60)
        shutil.rmtree(temp, ignore_errors=True)


def test_lm_eval_fit_on_ray_gives_the_rows_of_a_local_one(local_ray, tmp_path):
    """fit --lm-eval's configurations as Ray tasks: the cases a local run writes."""
    from advisor.fitting.external import lm_eval_rows, read_manifest
    from advisor.pair import LoadOptions
    from advisor.truth.lm_eval import parse_task_maps
    from tests.test_lm_eval import FIXTURES, MAPS
    from tests.tiny_models import save_tiny_model

    tiny = save_tiny_model(tmp_path / "tiny8", layers=8)
    extra = parse_task_maps(MAPS, ["math", "multiple-choice"])
    configs = read_manifest(FIXTURES / "manifest.jsonl", extra=extra)[:3]
    dense = load_model(str(tiny))
    local = lm_eval_rows(dense, configs, tmp_path / "local.jsonl")
    target = cluster.RayTarget("local", str(tiny), LoadOptions(), dense.fingerprint)
    remote = fit_ray.lm_eval_rows_on_ray(target, dense, configs, tmp_path / "ray.jsonl")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(remote) == strip(local)
    assert [r["point"]["id"] for r in remote] == ["attn-drop@2", "attn-drop@6", "mlp-drop@1"]
    assert len(grid.read_cases(tmp_path / "ray.jsonl")) == 3
