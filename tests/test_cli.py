"""The CLI surface: help, version, listings, exit codes, no tracebacks on user mistakes."""

from __future__ import annotations

import json

from advisor import __version__
from advisor.cli import EXIT_USAGE, main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_commands_and_exit_codes(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "models" in text and "tasks" in text and "2 usage or input error" in text


def test_tasks_json_lists_seven_task_types(capsys):
    assert main(["tasks", "--json"]) == 0
    names = [t["name"] for t in json.loads(capsys.readouterr().out)]
    assert names == [
        "retrieval",
        "classification",
        "multiple-choice",
        "rag",
        "generation",
        "summarization",
        "math",
    ]


def test_models_json_lists_builtins(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["smollm2-135m", "gemma3-270m"]


def test_models_describes_a_local_folder(capsys, tiny_llama_dir):
    assert main(["models", str(tiny_llama_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model_type"] == "llama" and summary["layers"] == 2


def test_bad_model_exits_2_without_traceback(capsys):
    assert main(["models", "./missing-model-folder"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert "Error:" in captured.err and "not an existing folder" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["modelz"]) == EXIT_USAGE
    assert "No such command" in capsys.readouterr().err
