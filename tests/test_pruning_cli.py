"""`prune-advisor prune`: writes a loadable folder, --dry-run writes nothing, exit codes."""

from __future__ import annotations

import json

import pytest

from advisor.cli import EXIT_USAGE, main

CALIB = ["--calib-samples", "4", "--calib-len", "32"]


def test_prune_writes_folder_and_manifest(tmp_path, tiny_llama_dir, capsys):
    out = tmp_path / "pruned"
    args = ["prune", "--model", str(tiny_llama_dir), "--method", "wanda", "--pattern", "2:4"]
    assert main([*args, "--out", str(out), "--json", *CALIB]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["out"] == str(out)
    manifest = json.loads((out / "prune_manifest.json").read_text())
    assert manifest["method"] == "wanda" and manifest["sparsity"]["achieved"] == 0.5
    assert (out / "config.json").is_file() and any(out.glob("*.safetensors"))
    assert (out / "tokenizer.json").is_file()


def test_dry_run_prints_plan_and_writes_nothing(tmp_path, tiny_llama_dir, capsys):
    out = tmp_path / "never"
    args = ["prune", "-m", str(tiny_llama_dir), "--method", "attn-drop", "--layers", "1"]
    assert main([*args, "--out", str(out), "--dry-run", "--json", *CALIB]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["would_drop"]) == 1 and len(result["importance"]) == 2
    assert not out.exists()
    assert main([*args, "--dry-run", *CALIB]) == 0
    assert "would be dropped" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "nope", "--sparsity", "0.5"], "Unknown pruning method"),
        (["--method", "wanda"], "needs --sparsity"),
        (["--method", "wanda", "--sparsity", "1.5"], "must be in [0, 1)"),
        (["--method", "block-drop", "--ratio", "0.5", "--layers", "1"], "not both"),
        (["--method", "block-drop", "--layers", "1", "--pattern", "2:4"], "do not apply"),
        (["--method", "magnitude", "--sparsity", "0.5", "--pattern", "3:4"], "not valid"),
        ([], "--method"),
    ],
)
def test_user_mistakes_exit_2_without_traceback(tmp_path, tiny_llama_dir, capsys, extra, message):
    code = main(["prune", "--model", str(tiny_llama_dir), *extra, "--out", str(tmp_path / "o")])
    assert code == EXIT_USAGE
    captured = capsys.readouterr()
    assert message in " ".join(captured.err.split())
    assert "Traceback" not in captured.err + captured.out


def test_missing_out_is_a_usage_error(tiny_llama_dir, capsys):
    args = ["prune", "--model", str(tiny_llama_dir), "--method", "magnitude", "--sparsity", "0.1"]
    assert main(args) == EXIT_USAGE
    assert "--out" in capsys.readouterr().err
