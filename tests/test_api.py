"""The Python API: advisor.check is `assess` in Python, with a typed result."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import advisor
from advisor.api import AssessOptions


def test_import_advisor_stays_light():
    code = "import sys, advisor; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_options_carry_the_cli_defaults():
    import typer

    from advisor.cli import app

    command = typer.main.get_command(app).commands["assess"]
    defaults = {p.name: p.default for p in command.params}
    for field in ("pattern", "fail_on", "temperature", "seed", "calib_samples", "calib_len",
                  "decode", "hierarchy", "dtype", "low_memory"):  # fmt: skip
        assert getattr(AssessOptions(), field) == defaults[field], field


def test_bad_inputs_raise_before_a_model_is_loaded(tmp_path):
    with pytest.raises(advisor.AdvisorError, match="--fail-on takes"):
        advisor.check(model=str(tmp_path / "none"), method="attn-drop", layers=1, fail_on="x")
    with pytest.raises(TypeError):
        advisor.check(method="attn-drop", layers=1, fail_one="no-go")  # a misspelt option


def test_check_returns_a_typed_assessment(tiny_llama_dir, tmp_path):
    rows = [{"question": f"What is {n} plus {n}?", "answer": 2 * n} for n in range(1, 13)]
    suite = tmp_path / "sums.jsonl"
    suite.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = advisor.check(
        model=str(tiny_llama_dir),
        method="attn-drop",
        layers=1,
        data={"math": suite},
        fail_on="not-assessable",
        hierarchy=False,
    )
    assert isinstance(result, advisor.Assessment)
    assert result.verdicts == {"math": "not-assessable"}  # a random model is not competent
    task = result.tasks["math"]
    assert task.verdict == "not-assessable" and task.retention is None and task.reason
    assert result.gate.failed and result.gate.not_checked == ["math"]
    assert result.gate.sentence.startswith("CI gate failed (--fail-on not-assessable)")
    assert json.loads(result.to_json())["gate"]["failed"] is True
    report = result.write_report(tmp_path / "out")
    assert report.name == "report.html" and report.is_file()
    again = advisor.Assessment.from_json(tmp_path / "out" / "result.json")
    assert again.verdicts == result.verdicts
