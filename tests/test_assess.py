"""assess end to end on a tiny model: result schema, gate exit codes, report escaping."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from advisor import assess as assess_mod
from advisor.cli import EXIT_GATE, EXIT_OK, EXIT_USAGE, main
from advisor.report import render
from advisor.report.schema import SCHEMA_FILE
from tests.screenshot import need_chromium, open_page

TASKS = ["multiple-choice", "math"]


def _rules(path: Path) -> Path:
    """A predicted-retention rules file for TASKS: retention = 1 − loss, no misfit."""
    from advisor.measure.evidence import evidence_kind

    tasks = {
        task: {
            "assessable": True,
            "evidence": evidence_kind(task),
            "slope": 1.0,
            "misfit": 0.0,
            "n_cases": 8,
        }
        for task in TASKS
    }
    path.write_text(json.dumps({"tolerance": 0.9, "engine": "predicted-retention", "tasks": tasks}))
    return path


@pytest.fixture(scope="module")
def tiny_result(tiny_llama_dir, tmp_path_factory):
    from advisor.models import load_model
    from advisor.pruning import prune_model

    folder = tmp_path_factory.mktemp("assess")
    dense = load_model(str(tiny_llama_dir))
    pruned = prune_model(dense, "attn-drop", layers=1)
    return assess_mod.assess(
        dense, pruned, TASKS, rules_path=_rules(folder / "rules.json"), temperature=0.7
    )


def test_result_validates_against_the_documented_schema(tiny_result):
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(tiny_result, schema)
    json.dumps(tiny_result)  # plain JSON types only
    assert (
        tiny_result["pruning"]["dropped"]["attn"]
        and tiny_result["pruning"]["method"] == "attn-drop"
    )
    assert tiny_result["settings"]["temperature"] == 0.7


def test_incompetent_dense_model_gets_no_verdict(tiny_result):
    # a random 2-layer model is at chance: every task is not-assessable, never go
    for record in tiny_result["tasks"].values():
        assert record["verdict"] == "not-assessable"
        assert "not assessable" in record["reasons"][0].lower()
    assert tiny_result["gate"]["failed"] is False


def test_rerendering_the_saved_json_gives_the_same_report(tiny_result):
    """result.json is written with sorted keys; the report keeps the task types' order."""
    saved = json.loads(json.dumps(tiny_result, sort_keys=True))
    assert list(saved["tasks"]) != list(tiny_result["tasks"])  # the case that matters
    assert render(saved) == render(tiny_result)


def test_report_escapes_generated_text(tiny_result):
    result = json.loads(json.dumps(tiny_result))
    result["examples"] = [
        {
            "task": "math",
            "id": "x",
            "prompt_tail": "Q: <b>2+2</b>",
            "dense": "<script>alert(1)</script>",
            "pruned": "ok",
            "first_divergence": 0,
        }
    ]
    html = render(result)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Q: &lt;b&gt;2+2&lt;/b&gt;" in html
    assert "<script" not in html.lower()  # the report runs no script at all
    assert "http://" not in html and "https://" not in html


def _cli(tiny_llama_dir, rules: Path, out: Path, *extra: str) -> list[str]:
    return [
        "assess",
        "--model",
        str(tiny_llama_dir),
        "--method",
        "attn-drop",
        "--layers",
        "1",
        "--task",
        "math",
        "--rules",
        str(rules),
        "--out",
        str(out),
        *extra,
    ]


def test_gate_failure_exits_1(tiny_llama_dir, tmp_path, monkeypatch, capsys, private_cache):
    from advisor.measure import assessable, evidence

    real_gate = assessable.gate

    def competent(loaded, task, items):  # pretend the dense model is competent (the
        record = real_gate(loaded, task, items)  # private cache keeps it to this test)
        return type(record)(**{**record.to_dict(), "assessable": True, "reason": "forced"})

    def lost(dense, pruned, task, items, dense_results, **kw):  # and that it lost half
        return evidence.TaskEvidence(
            task, "survival", [1.0] * 20, [1.0] * 10 + [0.0] * 10, 0.5, [0.3, 0.7],
            {"loss": 0.5, "loss_sd": 0.1, "survival": 0.5},
        )  # fmt: skip

    monkeypatch.setattr(assessable, "gate", competent)
    monkeypatch.setattr(assess_mod, "task_evidence", lost)
    rules = _rules(tmp_path / "rules.json")
    code = main(_cli(tiny_llama_dir, rules, tmp_path / "out", "--json"))
    captured = capsys.readouterr()
    assert code == EXIT_GATE
    result = json.loads(captured.out)
    assert result["tasks"]["math"]["verdict"] == "no-go"
    assert result["gate"] == {
        "fail_on": "no-go",
        "failed": True,
        "failing_tasks": ["math"],
        "checked": ["math"],
        "not_checked": [],
    }
    assert (tmp_path / "out" / "report.html").is_file()
    assert json.loads((tmp_path / "out" / "result.json").read_text())["tasks"] == result["tasks"]


def test_passing_gate_exits_0_and_report_rerenders(tiny_llama_dir, tmp_path, capsys):
    rules = _rules(tmp_path / "rules.json")
    assert main(_cli(tiny_llama_dir, rules, tmp_path / "out")) == EXIT_OK
    (tmp_path / "out" / "report.html").unlink()
    assert main(["report", str(tmp_path / "out" / "result.json")]) == EXIT_OK
    assert "Is this pruned model safe to ship?" in (tmp_path / "out" / "report.html").read_text()


def test_gate_that_checked_nothing_fails_closed(tiny_llama_dir, tmp_path, capsys):
    """A random tiny model is competent at nothing: every task type is not-assessable.
    README's recommended CI gate (--fail-on not-assessable) fails such a run, and neither
    the terminal nor the report says "passed" for a task type it did not check."""
    rules = _rules(tmp_path / "rules.json")
    out = tmp_path / "closed"
    code = main(_cli(tiny_llama_dir, rules, out, "--fail-on", "not-assessable", "--json"))
    captured = capsys.readouterr()
    assert code == EXIT_GATE
    gate = json.loads(captured.out)["gate"]
    assert gate["failed"] and gate["failing_tasks"] == ["math"] and gate["not_checked"] == ["math"]
    assert "CI gate failed (--fail-on not-assessable): math not-assessable." in captured.err
    banner = _banner(out / "report.html")
    assert "CI gate failed" in banner and "passed" not in banner

    # the default gate does not fail, and says that it checked nothing instead of "passed"
    code = main(_cli(tiny_llama_dir, rules, tmp_path / "open"))
    captured = capsys.readouterr()
    assert code == EXIT_OK
    assert "CI gate checked nothing" in captured.err and "passed" not in captured.err
    banner = _banner(tmp_path / "open" / "report.html")
    assert "CI gate checked nothing" in banner and "passed" not in banner


def _banner(report: Path) -> str:
    """The report's gate banner (its text and class)."""
    return report.read_text().split('<div class="gate', 1)[1].split("</div>", 1)[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["assess", "--model", "./nowhere", "--method", "attn-drop", "--layers", "1"],
            "not an existing folder",
        ),
        (["assess", "--task", "poetry", "--method", "attn-drop"], "Unknown task type"),
        (["assess", "--fail-on", "maybe", "--method", "attn-drop"], "--fail-on"),
        (
            [
                "assess",
                "--rules",
                "/no/such/rules.json",
                "--model",
                "{tiny}",
                "--method",
                "attn-drop",
                "--layers",
                "1",
                "--task",
                "math",
            ],
            "--rules /no/such/rules.json: no such file",
        ),
        (["report", "/no/such/result.json"], "/no/such/result.json: no such file"),
    ],
)
def test_usage_errors_exit_2_without_traceback(args, message, tiny_llama_dir, capsys):
    args = [a.replace("{tiny}", str(tiny_llama_dir)) for a in args]
    assert main(args) == EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err


def test_report_opens_in_headless_chromium_without_errors_or_network(tiny_result, tmp_path):
    """The report is one self-contained file: no console errors, no request but itself."""
    need_chromium()
    from advisor.report import write_report

    result = json.loads(json.dumps(tiny_result))
    result["examples"] = [
        {
            "task": "math",
            "id": "x",
            "prompt_tail": "2+2=",
            "dense": "<script>alert(1)</script>",
            "pruned": "<img src=x>",
            "first_divergence": 0,
        }
    ]
    _, report = write_report(result, tmp_path)
    with open_page() as page:
        console, requests, dialogs = [], [], []
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
        page.on("request", lambda r: requests.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        heading = page.inner_text("h1")
        images = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert heading == "Is this pruned model safe to ship?"
    assert [m for m in console if m[0] in ("error", "pageerror")] == []
    assert requests == [report.as_uri()]
    assert dialogs == []  # the injected script never ran
    assert images and all(w > 0 for w in images)  # every figure decoded
