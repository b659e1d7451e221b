"""lm-eval results as ground truth (docs/design.md §5e), on files the real ``lm_eval`` CLI
wrote (tests/fixtures/lm_eval: two local tasks over procedurally generated arithmetic,
SmolLM2-135M and six pruned copies; ``regenerate.py`` there rewrites them)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from advisor.cli import EXIT_OK, EXIT_USAGE, main
from advisor.errors import AdvisorError
from advisor.fitting.external import read_manifest
from advisor.truth import lm_eval

FIXTURES = Path(__file__).parent / "fixtures" / "lm_eval"
RESULTS = FIXTURES / "results"
MAPS = ["pa_arith=math", "pa_arith_choice=multiple-choice"]
EXTRA = lm_eval.parse_task_maps(MAPS, ["math", "multiple-choice"])


def test_committed_results_were_written_by_the_real_cli():
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        assert data["lm_eval_version"] and data["config"]["model"] == "hf", path
        assert set(data["results"]) == {"pa_arith", "pa_arith_choice"}
    assert len(list(RESULTS.glob("*.json"))) == 7  # dense and six configurations


def test_scores_pick_the_documented_metric_with_its_stderr():
    scores = lm_eval.task_scores(lm_eval.read_results(RESULTS / "dense.json"), EXTRA)
    gen, choice = scores["pa_arith"], scores["pa_arith_choice"]
    assert (gen["task"], gen["metric"], gen["n"]) == ("math", "exact_match,get-answer", 150)
    assert gen["value"] == pytest.approx(86 / 150) and gen["stderr"] == pytest.approx(
        math.sqrt(86 / 150 * 64 / 150 / 149)
    )  # lm-eval's sample stderr of a mean of 0/1 scores
    assert choice["metric"] == "acc_norm,none"  # multiple choice prefers acc_norm to acc
    assert choice["shots"] == 0 and choice["hash"] is None  # task_hashes: with --log_samples


def test_label_is_retention_with_a_delta_method_interval():
    found = lm_eval.labels(RESULTS / "dense.json", RESULTS / "mlp-drop-1.json", extra=EXTRA)
    math_label = found["math"]
    d, p = math_label["dense_score"], math_label["pruned_score"]
    assert math_label["retention"] == pytest.approx(p / d)
    dense = json.loads((RESULTS / "dense.json").read_text())["results"]["pa_arith"]
    pruned = json.loads((RESULTS / "mlp-drop-1.json").read_text())["results"]["pa_arith"]
    se_d, se_p = (r["exact_match_stderr,get-answer"] for r in (dense, pruned))
    se = math.sqrt((se_p / d) ** 2 + (p * se_d / d**2) ** 2)
    low, high = math_label["ci"]
    assert (low, high) == pytest.approx((p / d - 1.96 * se, p / d + 1.96 * se))
    assert math_label["assessable"]
    assert math_label["lm_eval"] == {"pa_arith": "exact_match,get-answer"}
    expected = "go" if low >= 0.9 else "no-go" if high < 0.9 else "caution"
    assert math_label["outcome"] == expected
    assert math_label["decisive"] == (math_label["outcome"] != "caution")
    # the same pair at a tolerance below the interval is a decisive go
    low_tol = lm_eval.labels(RESULTS / "dense.json", RESULTS / "mlp-drop-1.json",
                             tolerance=low - 0.01, extra=EXTRA)  # fmt: skip
    assert low_tol["math"]["outcome"] == "go" and low_tol["math"]["decisive"]
    identical = lm_eval.labels(RESULTS / "dense.json", RESULTS / "dense.json", extra=EXTRA)
    assert identical["multiple-choice"]["retention"] == 1.0


def test_mapping_table():
    for name, task in (
        ("arc_easy", "multiple-choice"),
        ("mmlu_abstract_algebra", "multiple-choice"),
        ("hellaswag", "multiple-choice"),
        ("gsm8k_cot", "math"),
        ("gsm8k", "math"),
        ("triviaqa", "rag"),
        ("squadv2", "rag"),
        ("boolq", "classification"),
    ):
        assert lm_eval.task_map(name).task == task, name
    assert lm_eval.task_map("lambada_openai") is None
    assert lm_eval.task_map("arc_easyish") is None  # a prefix only counts before "_"
    assert lm_eval.task_map("pa_arith", EXTRA).task == "math"
    with pytest.raises(AdvisorError, match="NAME=TYPE"):
        lm_eval.parse_task_maps(["pa_arith=algebra"], ["math"])


def test_unknown_task_says_how_to_map_it():
    with pytest.raises(AdvisorError, match=r"--lm-eval-task pa_arith=TYPE"):
        lm_eval.labels(RESULTS / "dense.json", RESULTS / "mlp-drop-1.json")


def _copy(src: Path, dst: Path, edit) -> Path:
    data = json.loads(src.read_text())
    edit(data)
    dst.write_text(json.dumps(data))
    return dst


def test_bad_files_are_clear_errors(tmp_path):
    dense = RESULTS / "dense.json"
    (tmp_path / "broken.json").write_text('{"results": ')
    with pytest.raises(AdvisorError, match="is not JSON"):
        lm_eval.labels(dense, tmp_path / "broken.json", extra=EXTRA)
    (tmp_path / "samples.json").write_text('[{"doc_id": 0}]')
    with pytest.raises(AdvisorError, match="not an lm-eval results file"):
        lm_eval.labels(dense, tmp_path / "samples.json", extra=EXTRA)
    with pytest.raises(AdvisorError, match="absent.json: no such file"):
        lm_eval.labels(dense, tmp_path / "absent.json", extra=EXTRA)
    fewer = _copy(dense, tmp_path / "fewer.json", lambda d: d["results"].pop("pa_arith"))
    with pytest.raises(AdvisorError, match="cover different tasks"):
        lm_eval.labels(dense, fewer, extra=EXTRA)

    def other_items(data):
        data["n-samples"]["pa_arith"]["effective"] = 20

    with pytest.raises(AdvisorError, match="run differently"):
        lm_eval.labels(dense, _copy(dense, tmp_path / "limit.json", other_items), extra=EXTRA)

    def no_stderr(data):
        data["results"]["pa_arith"]["exact_match_stderr,get-answer"] = "N/A"

    with pytest.raises(AdvisorError, match="--bootstrap_iters 0"):
        lm_eval.labels(dense, _copy(dense, tmp_path / "na.json", no_stderr), extra=EXTRA)
    # a folder as --output_path leaves it: the one results file inside is read
    nested = tmp_path / "out" / "model"
    nested.mkdir(parents=True)
    shutil.copyfile(dense, nested / "results_2026-01-01T00-00-00.json")
    assert lm_eval.read_results(tmp_path / "out")["results"]


def test_a_group_counts_once_not_with_its_subtasks(tmp_path):
    def as_group(data):
        entry = dict(data["results"]["pa_arith_choice"], alias="arc_easy")
        data["results"]["arc_easy"] = entry
        data["group_subtasks"] = {"arc_easy": ["pa_arith_choice"]}

    path = _copy(RESULTS / "dense.json", tmp_path / "grouped.json", as_group)
    scores = lm_eval.task_scores(lm_eval.read_results(path), EXTRA)
    assert set(scores) == {"pa_arith", "arc_easy"}


def test_manifest_reads_every_configuration_with_its_labels(tmp_path):
    configs = read_manifest(FIXTURES / "manifest.jsonl", extra=EXTRA)
    assert [c.id for c in configs][:2] == ["attn-drop@2", "attn-drop@6"]
    assert all(set(c.labels) == {"math", "multiple-choice"} for c in configs)
    assert all(Path(c.files[1]).is_file() for c in configs)
    bad = tmp_path / "bad.jsonl"
    for text, message in (
        ('{"dense": "a.json"}', "no pruned"),
        ('{"dense": "a", "pruned": "b"}', "either"),
        ('{"dense": "a", "pruned": "b", "method": "cut", "amount": 1}', "method@amount"),
        ("[1]", "JSON object"),
        ("{", "line 1 is not JSON"),
        ("", "no configuration"),
    ):
        bad.write_text(text + "\n")
        with pytest.raises(AdvisorError, match=message):
            read_manifest(bad, extra=EXTRA)


def test_fit_on_lm_eval_files_writes_rules(tmp_path, capsys):
    """The whole command on the committed files; the evidence is read from a tiny model of
    8 layers (the labels are SmolLM2's: the plumbing, not a claim; README has the real fit)."""
    from tests.tiny_models import save_tiny_model

    tiny = save_tiny_model(tmp_path / "tiny8", layers=8)
    manifest = tmp_path / "manifest.jsonl"
    lines = [json.loads(line) for line in (FIXTURES / "manifest.jsonl").read_text().splitlines()]
    manifest.write_text("".join(
        json.dumps(line | {"model": str(tiny),
                           "dense": str(FIXTURES / line["dense"]),
                           "pruned": str(FIXTURES / line["pruned"])}) + "\n"
        for line in lines
    ))  # fmt: skip
    out, cases = tmp_path / "rules.json", tmp_path / "cases.jsonl"
    args = ["fit", "--lm-eval", str(manifest), "--out", str(out), "--cases", str(cases)]
    args += [a for m in MAPS for a in ("--lm-eval-task", m)]
    assert main(args) == EXIT_OK
    rules = json.loads(out.read_text())
    assert set(rules["tasks"]) == {"math", "multiple-choice"}
    assert rules["provenance"]["ground_truth"]["source"] == "lm-eval"
    configs = rules["provenance"]["ground_truth"]["configurations"]
    assert configs["mlp-drop@1"]["lm_eval_tasks"]["math"] == {"pa_arith": "exact_match,get-answer"}
    rows = [json.loads(line) for line in cases.read_text().splitlines()]
    assert len(rows) == len(lines) and all(r["truth"]["math"]["source"] == "lm-eval" for r in rows)
    # a rerun measures nothing again and writes the same rules
    first = out.read_text()
    assert main(args) == EXIT_OK
    assert len(cases.read_text().splitlines()) == len(lines)
    strip = lambda r: {k: v for k, v in json.loads(r).items() if k != "provenance"}  # noqa: E731
    assert strip(out.read_text()) == strip(first)
    # without the mapping: exit 2, saying how to map the task
    capsys.readouterr()
    assert main(args[:7]) == EXIT_USAGE
    assert "--lm-eval-task pa_arith" in capsys.readouterr().err


def _lm_eval_bin() -> str | None:
    return os.environ.get("PRUNE_ADVISOR_LM_EVAL") or shutil.which("lm_eval")


NO_LM_EVAL = (
    "lm_eval not installed (set PRUNE_ADVISOR_LM_EVAL=path/to/lm_eval); the tests above "
    "read files it wrote"
)


@pytest.mark.skipif(_lm_eval_bin() is None, reason=NO_LM_EVAL)
def test_the_real_cli_output_parses(tiny_llama_dir, tmp_path):
    """Run the installed lm_eval on the fixture tasks (8 items) and read what it wrote."""
    out = tmp_path / "out"
    cmd = [_lm_eval_bin(), "run", "--model", "hf", "--model_args",
           f"pretrained={tiny_llama_dir},dtype=float32", "--tasks", "pa_arith,pa_arith_choice",
           "--include_path", str(FIXTURES / "tasks"), "--device", "cpu", "--batch_size", "8",
           "--limit", "8", "--output_path", str(out)]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    subprocess.run(cmd, check=True, cwd=FIXTURES / "tasks", env=env, capture_output=True)
    scores = lm_eval.task_scores(lm_eval.read_results(out), EXTRA)
    assert scores["pa_arith"]["n"] == 8 and scores["pa_arith"]["metric"] == "exact_match,get-answer"
    assert 0 <= scores["pa_arith_choice"]["value"] <= 1
    found = lm_eval.labels(out, out, extra=EXTRA)  # the model against itself
    assert set(found) == {"math", "multiple-choice"}


def test_evaluate_shows_lm_eval_labels_beside_its_own(tiny_llama_dir, capsys):
    files = ["--lm-eval-dense", str(RESULTS / "dense.json"),
             "--lm-eval-pruned", str(RESULTS / "mlp-drop-1.json")]  # fmt: skip
    maps = [a for m in MAPS for a in ("--lm-eval-task", m)]
    base = ["evaluate", "--model", str(tiny_llama_dir), "--method", "magnitude",
            "--sparsity", "0.1", "--task", "math", "--eval-items", "4"]  # fmt: skip
    assert main([*base, *files, *maps, "--json"]) == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    expected = lm_eval.labels(RESULTS / "dense.json", RESULTS / "mlp-drop-1.json", extra=EXTRA)
    assert shown["lm_eval"] == json.loads(json.dumps(expected)) and "math" in shown["tasks"]
    assert main([*base, *files, *maps]) == EXIT_OK
    table = capsys.readouterr().out
    assert "lm-eval" in table and "0.573" in table and "0.427" in table  # dense, pruned
    # files are checked before any model loads: one file alone, or an unmapped task
    assert main([*base, *files[:2]]) == EXIT_USAGE
    assert "both --lm-eval-dense and --lm-eval-pruned" in capsys.readouterr().err
    assert main([*base, *files]) == EXIT_USAGE
    assert "--lm-eval-task pa_arith" in capsys.readouterr().err


def test_fit_usage_errors_come_before_any_work(tmp_path, capsys):
    out = ["--out", str(tmp_path / "rules.json"), "--cases", str(tmp_path / "cases.jsonl")]
    assert main(["fit", "--lm-eval-task", "pa_arith=math", *out]) == EXIT_USAGE
    assert "pass --lm-eval too" in capsys.readouterr().err
    manifest = str(FIXTURES / "manifest.jsonl")
    maps = [a for m in MAPS for a in ("--lm-eval-task", m)]
    assert main(["fit", "--lm-eval", manifest, *maps, *out, "--ray", "127.0.0.1:1"]) == EXIT_USAGE
    assert "Cannot reach a Ray head at 127.0.0.1:1" in capsys.readouterr().err
    assert not (tmp_path / "cases.jsonl").exists()
