"""Bad inputs and broken models: a clear message and exit code 2, or a verdict; never a
traceback. Each test here backs a row of README's "Failure modes" table."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from transformers import BertConfig, BertLMHeadModel

from advisor.assess import assess
from advisor.cli import EXIT_GATE, EXIT_OK, EXIT_USAGE, main
from advisor.errors import AdvisorError
from advisor.models import load_model
from advisor.pruning import prune_model, save_pruned
from advisor.suites import fit_to_context
from advisor.suites.items import Item
from tests.test_assess import _rules
from tests.tiny_models import WORDS, tiny_model, tiny_tokenizer

pytestmark = pytest.mark.usefixtures("private_cache")


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """Exit code and stderr (whitespace-normalised) of one CLI call; never a traceback."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, " ".join(captured.err.split())


def assess_args(model, *extra) -> list[str]:
    return ["assess", "--model", str(model), "--method", "attn-drop", "--layers", "1", *extra]


# --------------------------------------------------------------------------- models


def test_missing_model_folder_exits_2(capsys, tmp_path):
    code, err = run_cli(capsys, *assess_args(tmp_path / "no-such-model"))
    assert code == EXIT_USAGE and "not an existing folder" in err


def test_uncached_hub_id_offline_says_how_to_use_a_folder(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, err = run_cli(capsys, "models", "someone/never-downloaded-model")
    assert code == EXIT_USAGE
    assert "offline" in err and "--model DIR" in err and "hf download" in err


def test_non_causal_model_exits_2(capsys, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    code, err = run_cli(capsys, "models", tmp_path)
    assert code == EXIT_USAGE and "not a causal" in err


def _save_without_pad(folder, **special):
    model, tokenizer = tiny_model("llama")
    core = tokenizer.backend_tokenizer
    from transformers import PreTrainedTokenizerFast

    bare = PreTrainedTokenizerFast(tokenizer_object=core, **special)
    model.config.pad_token_id = None
    model.save_pretrained(folder)
    bare.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("special", "expected"),
    [({"eos_token": "</s>", "unk_token": "<unk>"}, "</s>"), ({"unk_token": "<unk>"}, "<unk>")],
)
def test_tokenizer_without_pad_token_is_handled(tmp_path, special, expected):
    folder = _save_without_pad(tmp_path / "nopad", **special)
    loaded = load_model(str(folder))
    assert loaded.tokenizer.pad_token == expected
    # padded batches of unequal prompts run through the model
    from advisor.forward import prompt_states

    states = prompt_states(loaded.model, loaded.tokenizer, ["the cat", "the dog is on the road"])
    assert torch.isfinite(states.last).all()


def test_assess_runs_with_a_tokenizer_without_pad_token(capsys, tmp_path):
    folder = _save_without_pad(tmp_path / "nopad", eos_token="</s>", unk_token="<unk>")
    rules = _rules(tmp_path / "rules.json")
    code, _ = run_cli(capsys, *assess_args(folder, "--task", "math", "--rules", rules, "--out",
                                           tmp_path / "out"))  # fmt: skip
    assert code in (EXIT_OK, EXIT_GATE)
    assert (tmp_path / "out" / "result.json").is_file()


def test_architecture_no_method_can_prune_names_the_methods(capsys, tmp_path):
    """A BERT-style model offered as a causal LM has no decoder block list (GPT-2, once
    refused here, is pruned like the others: tests/test_families.py)."""
    tokenizer = tiny_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64, is_decoder=True)  # fmt: skip
    BertLMHeadModel(config).save_pretrained(tmp_path / "bert")
    tokenizer.save_pretrained(tmp_path / "bert")
    code, err = run_cli(capsys, "prune", "--model", tmp_path / "bert", "--method", "attn-drop",
                        "--layers", "1", "--out", tmp_path / "out")  # fmt: skip
    assert code == EXIT_USAGE
    assert "BertLMHeadModel has no decoder block list" in err
    assert "looked for a decoder with a list named layers / h / blocks" in err
    assert "block-drop, attn-drop, mlp-drop, magnitude, wanda, sparsegpt" in err
    assert "GPT-2, GPT-NeoX (Pythia), OPT and Falcon" in err


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (["--ratio", "0"], "must be in (0, 1)"),
        (["--ratio", "1"], "must be in (0, 1)"),
        (["--ratio", "-0.25"], "must be in (0, 1)"),
        (["--layers", "2"], "can drop 0 to 1 of the model's 2 layers"),
        (["--layers", "7"], "can drop 0 to 1 of the model's 2 layers"),
    ],
)
def test_amount_out_of_range_exits_2(capsys, tiny_llama_dir, tmp_path, amount, message):
    code, err = run_cli(capsys, "prune", "--model", tiny_llama_dir, "--method", "block-drop",
                        *amount, "--out", tmp_path / "out")  # fmt: skip
    assert code == EXIT_USAGE and message in err


def _other_tokenizer():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<unk>", "<pad>", "</s>", *reversed(WORDS)])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="</s>"
    )


def test_pruned_with_another_tokenizer_exits_2(capsys, tiny_llama_dir, tmp_path):
    folder = tmp_path / "pruned"
    shutil.copytree(tiny_llama_dir, folder)
    _other_tokenizer().save_pretrained(folder)
    code, err = run_cli(capsys, "assess", "--model", tiny_llama_dir, "--pruned", folder,
                        "--task", "math", "--out", tmp_path / "out")  # fmt: skip
    assert code == EXIT_USAGE and "must share the tokenizer" in err


def test_pruned_with_another_vocabulary_size_exits_2(capsys, tiny_llama_dir, tmp_path):
    folder = tmp_path / "pruned"
    model, tokenizer = tiny_model("llama", vocab_size=len(tiny_tokenizer()) + 8)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    code, err = run_cli(capsys, "assess", "--model", tiny_llama_dir, "--pruned", folder,
                        "--task", "math", "--out", tmp_path / "out")  # fmt: skip
    assert code == EXIT_USAGE and "vocab_size" in err and "not a pruned version" in err


def test_missing_pruned_folder_exits_2(capsys, tiny_llama_dir, tmp_path):
    code, err = run_cli(capsys, "assess", "--model", tiny_llama_dir, "--pruned",
                        tmp_path / "nowhere", "--task", "math")  # fmt: skip
    assert code == EXIT_USAGE and "no such folder" in err


# --------------------------------------------------------------------------- suites


def test_malformed_user_jsonl_names_the_line(capsys, tiny_llama_dir, tmp_path):
    data = tmp_path / "suite.jsonl"
    data.write_text('{"question": "What is 2 plus 2?", "answer": 4}\n{"question": oops}\n')
    code, err = run_cli(capsys, *assess_args(tiny_llama_dir, "--task", "math", "--data", data))
    assert code == EXIT_USAGE and "line 2: not valid JSON" in err and str(data) in err


def test_empty_user_suite_exits_2(capsys, tiny_llama_dir, tmp_path):
    data = tmp_path / "empty.jsonl"
    data.write_text("\n\n")
    code, err = run_cli(capsys, *assess_args(tiny_llama_dir, "--task", "math", "--data", data))
    assert code == EXIT_USAGE and "holds no rows" in err


def test_unknown_task_type_lists_the_valid_ones(capsys, tiny_llama_dir):
    code, err = run_cli(capsys, *assess_args(tiny_llama_dir, "--task", "poetry"))
    assert code == EXIT_USAGE and "Unknown task type 'poetry'" in err
    assert "retrieval, classification, multiple-choice, rag, generation, summarization, math" in err


def test_long_prompts_are_cut_to_the_context_keeping_their_end():
    model, tokenizer = tiny_model("llama", max_position_embeddings=64)
    words = ("the cat is on the road and " * 40).split()
    long = Item(id="long", task="generation", prompt=" ".join(words) + " the answer is")
    short = Item(id="short", task="generation", prompt="the dog is")
    choice = Item(id="mc", task="multiple-choice", prompt=long.prompt, candidates=("yes", "no"))
    items, cut = fit_to_context([long, short, choice], model, tokenizer, horizon=16)
    assert cut == ["long", "mc"]
    assert items[1] is short  # untouched items keep their identity (and cache keys)
    assert items[0].prompt.endswith("the answer is") and len(items[0].prompt) < len(long.prompt)
    assert len(tokenizer(items[0].prompt).input_ids) <= 64 - 16
    assert len(tokenizer(items[2].prompt).input_ids) <= 64 - 2  # one-token option + 1
    assert items[0].meta["truncated_from_chars"] == len(long.prompt)


def test_context_too_short_for_the_horizon_is_a_clear_error():
    model, tokenizer = tiny_model("llama", max_position_embeddings=16)
    item = Item(id="g", task="generation", prompt="the cat")
    with pytest.raises(AdvisorError, match="more than the model's whole context of 16 tokens"):
        fit_to_context([item], model, tokenizer, horizon=48)


def test_assess_warns_and_counts_truncated_prompts(tiny_llama_dir, tmp_path):
    dense = load_model(str(tiny_llama_dir))  # context 256 tokens; generation reserves 48
    data = tmp_path / "long.jsonl"
    rows = [
        {"prompt": "the cat is on the road " * 60, "reference": "and the dog", "id": "long"},
        {"prompt": "the dog is in the house", "reference": "and the cat", "id": "short"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    warnings: list[str] = []
    result = assess(
        dense,
        prune_model(dense, "attn-drop", layers=1),
        ["generation"],
        data_file=data,
        rules_path=_rules(tmp_path / "rules.json"),
        warn=warnings.append,
    )
    assert result["manifest"]["data"]["truncated_prompts"] == {"generation": 1}
    assert len(warnings) == 1 and "context of 256 tokens" in warnings[0]


# --------------------------------------------------------------------------- output


def test_unwritable_output_folder_exits_2_before_any_work(capsys, tiny_llama_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, err = run_cli(capsys, *assess_args(tiny_llama_dir, "--task", "math", "--out",
                                             blocker / "report"))  # fmt: skip
    assert code == EXIT_USAGE and "Cannot write to" in err and "--out" in err


def test_unwritable_prune_output_exits_2(capsys, tiny_llama_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, err = run_cli(capsys, "prune", "--model", tiny_llama_dir, "--method", "magnitude",
                        "--sparsity", "0.5", "--out", blocker / "pruned")  # fmt: skip
    assert code == EXIT_USAGE and "Cannot write to" in err


# --------------------------------------------------------------------------- degenerate


@pytest.fixture(scope="module")
def dense_tiny(tiny_llama_dir):
    return load_model(str(tiny_llama_dir))


def _assess(dense, pruned, tmp_path):
    return assess(dense, pruned, ["math"], rules_path=_rules(tmp_path / "rules.json"))


def test_nan_outputs_are_a_no_go_verdict(dense_tiny, tmp_path):
    pruned = prune_model(dense_tiny, "magnitude", sparsity=0.5)
    with torch.no_grad():
        pruned.model.model.layers[0].mlp.down_proj.weight[0, 0] = float("nan")
    result = _assess(dense_tiny, pruned, tmp_path)
    record = result["tasks"]["math"]
    assert record["verdict"] == "no-go" and "NaN or infinite" in record["reasons"][0]
    assert result["gate"]["failed"] is True
    assert "NaN" in result["manifest"]["measurement"]["degenerate"]
    json.dumps(result, allow_nan=False)  # the result is still valid JSON


def test_constant_outputs_are_a_no_go_verdict(dense_tiny, tmp_path):
    pruned = prune_model(dense_tiny, "magnitude", sparsity=0.99)
    with torch.no_grad():
        for parameter in pruned.model.parameters():
            parameter.zero_()  # the extreme of sparsity: the output ignores the input
    record = _assess(dense_tiny, pruned, tmp_path)["tasks"]["math"]
    assert record["verdict"] == "no-go"
    assert "does not depend on its input" in record["reasons"][0]


def test_healthy_pruned_model_is_not_called_degenerate(dense_tiny):
    from advisor.measure.probe import probe_broken

    assert probe_broken(dense_tiny, prune_model(dense_tiny, "attn-drop", layers=1).loaded) is None


def test_dense_probe_is_measured_once_and_read_back_from_the_cache(
    tiny_llama_dir, private_cache, monkeypatch
):
    from advisor.measure import probe
    from advisor.models import load_model

    first = probe.dense_probe(load_model(str(tiny_llama_dir)))
    assert list((private_cache / "probe").glob("*.json"))  # kept on disk

    def no_forward(*_args):
        raise AssertionError("the dense probe ran again")

    monkeypatch.setattr(probe, "_outputs", no_forward)
    fresh = load_model(str(tiny_llama_dir))  # a new process would see only the disk
    assert probe.dense_probe(fresh) == first


@pytest.mark.real_model
def test_sparsity_099_on_smollm2_is_degenerate(smollm2):
    from advisor.measure.probe import probe_broken

    reason = probe_broken(smollm2, prune_model(smollm2, "magnitude", sparsity=0.99).loaded)
    assert reason is not None and "worse than a uniform guess" in reason
    assert probe_broken(smollm2, prune_model(smollm2, "magnitude", sparsity=0.5).loaded) is None


def test_degenerate_verdict_reaches_the_cli_gate(capsys, tiny_llama_dir, tmp_path, monkeypatch):
    # assess reads the probe's verdict through its own import of probe_broken
    monkeypatch.setattr("advisor.assess.probe_broken", lambda d, p: "outputs are NaN (forced).")
    code, _ = run_cli(capsys, *assess_args(tiny_llama_dir, "--task", "math", "--out",
                                           tmp_path / "out"))  # fmt: skip
    assert code == EXIT_GATE
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["tasks"]["math"]["verdict"] == "no-go"


def test_saved_pruned_folder_is_complete_and_has_no_staging_left(tmp_path, dense_tiny):
    out = save_pruned(prune_model(dense_tiny, "magnitude", sparsity=0.5), tmp_path / "p")
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "prune_manifest.json"} <= names
    assert not [n for n in names if n.startswith(".")]


def test_readme_failure_table_names_only_real_tests():
    """Every test the README's "Failure modes" table cites exists (so each row is backed)."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "docs" / "failure-modes.md").read_text()  # README links to it
    table = readme.split("## Failure modes", 1)[1].split("\n## ", 1)[0]
    cited = re.findall(r"`(tests/\w+\.py)::(\w+)`", table)
    assert len(cited) >= 30
    for path, name in cited:
        tree = ast.parse((root / path).read_text())
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert name in names, f"README cites {path}::{name}, which does not exist"


def test_noise_is_judged_against_a_dense_model_that_beats_chance(monkeypatch):
    from advisor.measure import probe

    def fake(losses):
        outputs = iter(losses)
        monkeypatch.setattr(probe, "_constant", lambda out: False)
        monkeypatch.setattr(probe, "_loss", lambda out: next(outputs))

    vocab = len(tiny_tokenizer())
    model, _ = tiny_model("llama")
    view = type("View", (), {"model": model, "tokenizer": tiny_tokenizer()})()
    uniform = math.log(vocab)
    fake([uniform + 0.5, uniform - 2.0])  # pruned worse than chance, dense clearly better
    assert "worse than a uniform guess" in probe.probe_broken(view, view)
    fake([uniform + 0.5, uniform - 0.1])  # dense itself near chance: no judgement
    assert probe.probe_broken(view, view) is None
