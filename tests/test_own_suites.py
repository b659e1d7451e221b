"""Your own suites everywhere: several in one run (models loaded once), in sweeps too, and
a task type given two files refused with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.cli import EXIT_OK, EXIT_USAGE, main
from advisor.errors import AdvisorError
from advisor.suites.own import parse_data_option, requested_tasks, suite_files

MATH = [{"question": f"What is {n} plus {n}?", "answer": 2 * n} for n in range(1, 13)]
RAG = [
    {"passage": f"Box {n} holds {n} apples.", "question": f"How many apples in box {n}?",
     "answer": n}
    for n in range(1, 13)
]  # fmt: skip


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def suites(tmp_path):
    return _write(tmp_path / "sums.jsonl", MATH), _write(tmp_path / "boxes.jsonl", RAG)


def test_data_option_forms():
    assert parse_data_option(["rag=a.jsonl", "math=b.jsonl"], None) == {
        "rag": Path("a.jsonl"),
        "math": Path("b.jsonl"),
    }
    assert list(parse_data_option(["a.jsonl"], ["math"])) == ["math"]  # the one-file form
    assert requested_tasks(None, parse_data_option(["math=b", "rag=a"], None)) == ["rag", "math"]
    assert requested_tasks(["all"], {"rag": "a"}) == ["all"]


@pytest.mark.parametrize(
    ("values", "tasks", "message"),
    [
        (["rag=a.jsonl", "rag=b.jsonl"], None, "two files for rag (a.jsonl and b.jsonl)"),
        (["a.jsonl", "b.jsonl"], ["rag"], "--data gives two files for rag"),
        (["a.jsonl"], None, "--data a.jsonl: name its task type, e.g. --data rag=a.jsonl"),
        (["a.jsonl"], ["rag", "math"], "name its task type"),
        (["rag="], None, "give a file after 'rag='"),
    ],
)  # fmt: skip
def test_ambiguous_data_is_refused(values, tasks, message):
    with pytest.raises(AdvisorError) as caught:
        parse_data_option(values, tasks)
    assert message in str(caught.value)


def test_a_file_for_a_task_type_not_requested_is_refused():
    with pytest.raises(AdvisorError, match="--data names rag, which the requested task types"):
        suite_files(["math"], {"rag": "a.jsonl"})
    with pytest.raises(AdvisorError, match="One --data file holds one task type's suite"):
        suite_files(["math", "rag"], "a.jsonl")


def test_repeated_data_exits_2_before_loading_a_model(tmp_path, suites, capsys):
    sums, _ = suites
    args = ["assess", "--model", str(tmp_path / "no-model"), "--method", "attn-drop",
            "--layers", "1", "--data", f"math={sums}", "--data", f"math={sums}"]  # fmt: skip
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--data gives two files for math" in err and "not an existing folder" not in err


def test_two_suites_in_one_run_load_the_models_once(
    tiny_llama_dir, tmp_path, suites, monkeypatch, capsys
):
    from advisor import pair

    loads = []
    real = pair.load_dense
    monkeypatch.setattr(pair, "load_dense", lambda *a, **k: loads.append(1) or real(*a, **k))
    sums, boxes = suites
    out = tmp_path / "out"
    args = ["assess", "--model", str(tiny_llama_dir), "--method", "attn-drop", "--layers", "1",
            "--data", f"math={sums}", "--data", f"rag={boxes}", "--no-hierarchy",
            "--out", str(out), "--json"]  # fmt: skip
    assert main(args) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert loads == [1]
    assert result["settings"]["tasks"] == ["rag", "math"]  # no --task: the suites' task types
    assert result["manifest"]["data"]["user_files"] == {"rag": str(boxes), "math": str(sums)}
    assert "12 items of your suite boxes.jsonl" in result["tasks"]["rag"]["covers"]
    assert "12 items of your suite sums.jsonl" in result["tasks"]["math"]["covers"]
    assert result["manifest"]["data"]["math"]["items"] == 12
    # a random model repeats itself: your suite's verdict says so, and what to look at
    hints = result["tasks"]["math"]["hints"]
    assert (
        hints and "dense answers are" in hints[0] and hints[0] in result["tasks"]["math"]["reasons"]
    )


def test_sweep_reads_your_suites(tiny_llama_dir, tmp_path, suites, capsys):
    sums, _ = suites
    out = tmp_path / "sweep"
    args = ["sweep", "--model", str(tiny_llama_dir), "--method", "magnitude", "--amounts",
            "0.1,0.2", "--search", "every", "--data", f"math={sums}",
            "--out", str(out)]  # fmt: skip
    assert main(args) == EXIT_OK
    printed = capsys.readouterr().out
    for amount in ("0.1", "0.2"):
        result = json.loads((out / f"magnitude-{amount}" / "result.json").read_text())
        assert list(result["tasks"]) == ["math"]
        assert "your suite sums.jsonl" in result["tasks"]["math"]["covers"]
        assert any(ln.split()[:2] == [amount, "not-assessable"] for ln in printed.splitlines())
    assert "largest go amount: math none" in printed
