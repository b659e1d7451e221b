"""Bad inputs, round 3 (issue 27): each input exactly as a new user gave it, with the exit
code, the message and, where the input could have been checked first, proof that no model
was loaded. Then a sweep of every command over every way a path can be wrong. Each test
backs a row of README's "Failure modes" table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from advisor.cli import EXIT_USAGE
from advisor.errors import AdvisorError
from advisor.suites import build_suite
from advisor.verdicts import NOT_COMPETENT
from tests.test_assess import _rules
from tests.test_bad_inputs import squeezed
from tests.test_failure_modes import assess_args, run_cli
from tests.tiny_models import tiny_model, tiny_tokenizer

pytestmark = pytest.mark.usefixtures("private_cache")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def nothing_loads(monkeypatch):
    """Fail the test if any command loads a model: every input here can be checked first.

    Every command reaches a model through ``advisor.models.load_model`` (assess, sweep,
    evaluate and prune through ``advisor.pair.load_dense``, which calls it)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr("advisor.pair.load_dense", refuse)
    monkeypatch.setattr("advisor.models.load_model", refuse)


def _rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _math_rows(n: int) -> list[dict]:
    return [{"question": f"What is {k} plus 1?", "answer": k + 1} for k in range(n)]


EVALUATE = ["evaluate", "--method", "attn-drop", "--layers", "1", "--task", "math"]


# --------------------------------------------------------------------------- 1: --pruned loop


def test_pruned_symlink_loop_is_a_usage_error(capsys, tmp_path, nothing_loads):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)  # ln -s loop loop
    code, err = run_cli(capsys, "assess", "--pruned", loop, "--task", "math")
    assert code == EXIT_USAGE  # was 3: "RuntimeError: Symlink loop" from load_pruned
    assert squeezed(f"--pruned {loop} is a symlink loop") in squeezed(err)


def test_load_pruned_of_a_symlink_loop_is_a_user_error(tmp_path, tiny_llama_dir):
    from advisor.models import load_model
    from advisor.pruning import load_pruned

    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(AdvisorError, match="is a symlink loop"):
        load_pruned(loop, load_model(str(tiny_llama_dir)))


# --------------------------------------------------------------------------- 2: missing shard


def _sharded(folder: Path, drop: tuple[int, ...]) -> Path:
    """A tiny model saved in six shards, with the shards numbered ``drop`` deleted."""
    model, tokenizer = tiny_model("llama")
    model.save_pretrained(folder, max_shard_size="20KB")
    tokenizer.save_pretrained(folder)
    for n in drop:
        (folder / f"model-{n:05d}-of-00006.safetensors").unlink()
    return folder


@pytest.mark.parametrize("flag", ["--model", "--pruned"])
def test_a_missing_shard_is_named_before_anything_loads(capsys, tmp_path, nothing_loads, flag):
    folder = _sharded(tmp_path / "sharded", drop=(2, 5))
    args = ["--model", folder, "--method", "attn-drop", "--layers", "1"]
    if flag == "--pruned":
        args = ["--pruned", folder]
    code, err = run_cli(capsys, "assess", *args, "--task", "math")
    assert code == EXIT_USAGE  # was 3: FileNotFoundError from from_pretrained
    assert "names 6 shard(s), but 2 of them are not in" in err
    assert "model-00002-of-00006.safetensors, model-00005-of-00006.safetensors" in err


def test_a_complete_sharded_checkpoint_passes_the_check(tmp_path):
    from advisor.models.loading import check_weight_format

    assert check_weight_format(_sharded(tmp_path / "sharded", drop=()), allow_pickle=False)


# --------------------------------------------------------------------------- 3, 4: the cache


@pytest.mark.parametrize("command", [["models"], assess_args("smollm2-135m", "--task", "math")])
def test_a_cache_setting_that_names_a_file_is_a_usage_error(
    capsys, tmp_path, monkeypatch, nothing_loads, command
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(blocker))
    code, err = run_cli(capsys, *command)
    assert code == EXIT_USAGE  # was 3: NotADirectoryError
    assert squeezed(f"PRUNE_ADVISOR_CACHE={blocker} names a file, not a folder") in squeezed(err)


@pytest.mark.parametrize("where", ["/proc/prune-advisor-cache", "{file}/cache"])
def test_a_cache_folder_that_cannot_be_created_is_a_usage_error(
    capsys, tmp_path, monkeypatch, nothing_loads, where
):
    if where.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this system")
    (tmp_path / "file").write_text("x")
    cache = where.format(file=tmp_path / "file")
    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", cache)
    code, err = run_cli(capsys, *assess_args("smollm2-135m", "--task", "math"))
    assert code == EXIT_USAGE  # was 3: FileNotFoundError
    expected = f"PRUNE_ADVISOR_CACHE={cache}: the cache folder cannot be created there"
    assert squeezed(expected) in squeezed(err)


# --------------------------------------------------------------------------- 5: exact numbers


def test_math_gold_answers_are_read_as_the_numbers_written(tmp_path):
    rows = [{"question": "q1", "answer": 1e-5}, {"question": "q2", "answer": 1e20},
            {"question": "q3", "answer": "1e-5"}, {"question": "q4", "answer": "-2.5"},
            {"question": "q5", "answer": "1,234"}]  # fmt: skip
    items = build_suite("math", data_file=_rows(tmp_path / "math.jsonl", rows))
    assert [i.meta["answer"] for i in items] == [1e-5, 1e20, 1e-5, -2.5, 1234.0]  # were 5, 20
    assert items[1].reference == "100000000000000000000"


@pytest.mark.parametrize("answer", ["7 pens", "about 5", "3/4", "nan", "1e400", 2**60 + 1])
def test_math_gold_that_is_not_an_exact_number_is_refused_with_the_line(tmp_path, answer):
    path = _rows(tmp_path / "math.jsonl", [{"question": "q", "answer": 1},
                                           {"question": "q2", "answer": answer}])  # fmt: skip
    with pytest.raises(AdvisorError) as caught:
        build_suite("math", data_file=path)
    assert f"{path}, line 2: 'answer' must be a number written exactly" in str(caught.value)


# --------------------------------------------------------------------------- 6: evaluate


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "{bad}"], "line 2: not valid JSON"),
        (["--data", "{missing}"], "missing.jsonl: no such file"),
        (["--eval-items", "-3"], "Invalid value for '--eval-items'"),
    ],
)
def test_evaluate_refuses_bad_inputs_before_any_model_loads(
    capsys, tmp_path, nothing_loads, extra, message
):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "2+2?", "answer": 4}\n{"question": oops}\n')
    where = {"{bad}": str(bad), "{missing}": str(tmp_path / "missing.jsonl")}
    code, err = run_cli(capsys, *EVALUATE, *[where.get(a, a) for a in extra])
    assert code == EXIT_USAGE and message in err  # was refused after 9-16 s of load + prune


# --------------------------------------------------------------------------- 7: named, early


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not valid JSON"),
        ("[1, 2]", "it has no 'tasks' table"),
        ('{"tasks": {"math": "fast"}}', "the rule of 'math' must be an object"),
        ('{"tasks": {"math": {"slope": "1"}}}', "the rule of 'math' needs 'slope'"),
        ('{"tasks": {}, "tolerance": "high"}', "its 'tolerance' must be a number"),
    ],
)
def test_a_bad_rules_file_is_refused_before_the_model_loads(
    capsys, tmp_path, nothing_loads, content, message
):
    rules = tmp_path / "bad.json"
    rules.write_text(content)
    code, err = run_cli(capsys, *assess_args("smollm2-135m", "--task", "math", "--rules", rules))
    assert code == EXIT_USAGE and message in err
    assert squeezed(f"--rules {rules}") in squeezed(err)


@pytest.mark.parametrize(
    ("method", "amounts", "bad"),
    [("magnitude", "-1", "-1"), ("attn-drop", "-1", "-1"), ("wanda", "0.2,1.5", "1.5"),
     ("block-drop", "0.25,2", "2")],
)  # fmt: skip
def test_sweep_amounts_are_refused_naming_amounts(capsys, nothing_loads, method, amounts, bad):
    code, err = run_cli(capsys, "sweep", "--method", method, "--amounts", amounts)
    assert code == EXIT_USAGE
    assert f"--amounts {amounts}: {bad} is not an amount of {method}" in err
    assert "--sparsity" not in err and "--ratio" not in err  # neither was given


def test_an_lm_eval_manifest_checkpoint_is_checked_with_its_line(capsys, tmp_path, nothing_loads):
    manifest = _rows(tmp_path / "manifest.jsonl", [
        {"checkpoint": "/etc", "dense": "d.json", "pruned": "p.json"},
    ])  # fmt: skip
    code, err = run_cli(capsys, "fit", "--lm-eval", manifest, "--out", tmp_path / "rules.json")
    assert code == EXIT_USAGE  # was refused after 20 s, as "--pruned /etc"
    assert squeezed(f'{manifest}, line 1: "checkpoint" /etc: no config.json there') in squeezed(err)
    assert "--pruned" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "magnitude", "--sparsity", "1.5"], "--sparsity must be in [0, 1)"),
        (["--method", "attn-drop", "--ratio", "2"], "--ratio is the fraction"),
        (["--method", "wanda", "--sparsity", "0.5", "--calib-samples", "0"], "--calib-samples"),
        (["--method", "nope"], "Unknown pruning method 'nope'"),
    ],
)
@pytest.mark.parametrize("command", ["assess", "prune"])
def test_pruning_amounts_are_checked_before_the_model_loads(
    capsys, tmp_path, nothing_loads, command, args, message
):
    code, err = run_cli(capsys, command, *args, "--out", tmp_path / "out")
    assert code == EXIT_USAGE and message in err


def test_a_grid_amount_is_checked_before_the_model_loads(capsys, tmp_path, nothing_loads):
    code, err = run_cli(capsys, "fit", "--grid", "wanda@1.5", "--out", tmp_path / "rules.json")
    assert code == EXIT_USAGE and "Grid point 'wanda@1.5': wanda takes a sparsity in (0, 1)" in err


# --------------------------------------------------------------------------- 8: examples


def test_output_as_read_honours_the_token_limit_and_the_stop():
    from advisor.suites.items import Item
    from advisor.truth.score import output_as_read

    tokenizer = tiny_tokenizer()
    tokens = tokenizer("the cat is on the road and the dog", add_special_tokens=False).input_ids
    item = Item(id="g", task="generation", prompt="p", meta={"max_new_tokens": 5})
    assert output_as_read(tokenizer, tokens, item) == tokenizer.decode(tokens[:5])
    item.meta["stop"] = [" on"]
    assert output_as_read(tokenizer, tokens, item) == "the cat is"


def test_report_examples_are_decoded_as_the_evidence_reads_them(tiny_llama_dir, tmp_path):
    from advisor.assess import assess
    from advisor.models import load_model
    from advisor.pruning import prune_model

    dense = load_model(str(tiny_llama_dir))
    rows = [{"prompt": f"the cat is on the road {k}", "reference": "and the dog", "stop": ["\n"],
             "max_new_tokens": 5} for k in range(3)]  # fmt: skip
    result = assess(dense, prune_model(dense, "attn-drop", layers=1), ["generation"],
                    data_file=_rows(tmp_path / "gen.jsonl", rows),
                    rules_path=_rules(tmp_path / "rules.json"))  # fmt: skip
    assert result["examples"]  # the accumulation curve decodes 48 tokens for these
    for example in result["examples"]:
        for text in (example["dense"], example["pruned"]):
            assert len(dense.tokenizer(text, add_special_tokens=False).input_ids) <= 5
            assert "\n" not in text


# --------------------------------------------------------------------------- 9: non-finite


@pytest.mark.parametrize(("value", "kind"), [(float("nan"), "NaN"), (float("inf"), "infinite")])
def test_a_non_finite_tensor_is_reported_as_a_weight_change(tmp_path, tiny_llama_dir, value, kind):
    from advisor.models import load_model
    from advisor.pruning import load_pruned
    from tests.pruned_elsewhere import save_plain

    dense = load_model(str(tiny_llama_dir))
    model = load_model(str(tiny_llama_dir)).model
    weight = model.model.layers[0].mlp.down_proj.weight
    with torch.no_grad():
        weight.fill_(value)
    pruned = load_pruned(save_plain(model, dense.tokenizer, tmp_path / "broken"), dense)
    detected = pruned.record["detected"]
    line = (f"weights changed: {weight.numel():,} non-finite values ({kind}) in "
            f"model.layers.0.mlp.down_proj.weight")  # fmt: skip
    assert detected["description"] == [line]  # was "no change found: ..."
    assert pruned.manifest["amount_label"] == f"{weight.numel():,} non-finite weights"


# --------------------------------------------------------------------------- 10: small suite


def test_a_suite_too_small_to_assess_is_refused_before_loading(capsys, tmp_path, nothing_loads):
    data = _rows(tmp_path / "eight.jsonl", _math_rows(8))
    for command in (assess_args("smollm2-135m"), EVALUATE[:5]):
        code, err = run_cli(capsys, *command, "--task", "math", "--data", data)
        assert code == EXIT_USAGE  # was exit 0 with not-assessable, after a full model load
        assert squeezed(f"--data {data}: 8 math question(s) to use, fewer than the 10") in squeezed(
            err
        )
        assert err.count(NOT_COMPETENT) == 1


def test_the_not_assessable_phrase_is_said_once(tiny_llama_dir, tmp_path):
    from advisor.assess import assess
    from advisor.models import load_model
    from advisor.pruning import prune_model

    dense = load_model(str(tiny_llama_dir))
    result = assess(dense, prune_model(dense, "attn-drop", layers=1), ["math"],
                    data_file=_rows(tmp_path / "eight.jsonl", _math_rows(8)),
                    rules_path=_rules(tmp_path / "rules.json"), decode=False,
                    hierarchy=False)  # fmt: skip
    reason = result["tasks"]["math"]["reasons"][0]
    assert reason.startswith("Not assessable with this model/suite: only 8 items")
    assert reason.lower().count(NOT_COMPETENT) == 1  # was twice


# --------------------------------------------------------------------------- 11: row forms


@pytest.mark.parametrize(
    ("task", "row", "form"),
    [
        ("math", {"prompt": "Calculate 2 plus 2.\nResult:", "answer": "four"}, '{"prompt": '),
        ("math", {"question": "2 plus 2?", "answer": "four"}, '{"question": '),
        ("rag", {"prompt": "Q: when? A:", "answer": []}, '{"prompt": "Context: '),
        ("summarization", {"prompt": "Summarize:", "reference": 3}, '{"prompt": "Summarize: '),
    ],
)
def test_a_row_error_shows_the_form_the_row_used(tmp_path, task, row, form):
    with pytest.raises(AdvisorError) as caught:
        build_suite(task, data_file=_rows(tmp_path / "suite.jsonl", [row]))
    shown = str(caught.value).split("Expected rows like: ", 1)[1]
    assert shown.startswith(form)  # a prompt row was shown {"question": ...}


# --------------------------------------------------------------------------- 12: /dev/zero


def test_data_that_is_a_device_is_not_called_missing(capsys, nothing_loads):
    code, err = run_cli(capsys, *assess_args("smollm2-135m", "--task", "math", "--data",
                                             "/dev/zero"))  # fmt: skip
    assert code == EXIT_USAGE  # was "No data file at /dev/zero" (it exists)
    assert "--data /dev/zero is not a regular file but a character device" in err


# --------------------------------------------------------------------------- every bad path

FILE, FOLDER = "file", "folder"
METHOD = ["--method", "attn-drop", "--layers", "1"]
# Every input path of every command, with "{P}" for the bad path; "{OUT}" is a usable --out.
PATH_ARGS = {
    "assess --data": ([*assess_args("smollm2-135m"), "--task", "math", "--data", "{P}"], FILE),
    "assess --rules": ([*assess_args("smollm2-135m"), "--rules", "{P}"], FILE),
    "assess --pruned": (["assess", "--pruned", "{P}", "--task", "math"], FOLDER),
    "assess --model": (["assess", "--model", "{P}", *METHOD], FOLDER),
    "sweep --rules": (["sweep", "--method", "attn-drop", "--amounts", "1", "--rules", "{P}"], FILE),
    "sweep --model": (["sweep", "--method", "attn-drop", "--amounts", "1", "--model", "{P}"],
                      FOLDER),
    "evaluate --data": ([*EVALUATE, "--data", "{P}"], FILE),
    "evaluate --pruned": (["evaluate", "--pruned", "{P}", "--task", "math"], FOLDER),
    "evaluate --lm-eval-dense": ([*EVALUATE, "--lm-eval-dense", "{P}", "--lm-eval-pruned", "{P}"],
                                 FILE),
    "prune --model": (["prune", "--model", "{P}", *METHOD, "--dry-run"], FOLDER),
    "fit --lm-eval": (["fit", "--lm-eval", "{P}", "--out", "{OUT}"], FILE),
    "fit --model": (["fit", "--model", "{P}", "--grid", "attn-drop@1", "--out", "{OUT}"], FOLDER),
    "report": (["report", "{P}"], FILE),
    "models": (["models", "{P}"], FOLDER),
}  # fmt: skip
BAD_PATHS = ("missing", "wrong kind", "symlink loop", "unreadable", "device", "fifo")


def _bad_path(tmp_path: Path, bad: str, kind: str, monkeypatch) -> Path:
    """A path that is wrong in the way ``bad`` names, for an argument of ``kind``."""
    path = tmp_path / "given"
    if bad == "missing":
        return path
    if bad == "wrong kind":  # a folder where a file belongs, a file where a folder belongs
        path.mkdir() if kind == FILE else path.write_text("not a folder")
        return path
    if bad == "symlink loop":
        path.symlink_to(path)
        return path
    if bad == "device":
        return Path("/dev/zero")
    if bad == "fifo":
        os.mkfifo(path)
        return path
    # unreadable: the right kind of path that this process may not read
    path.mkdir() if kind == FOLDER else path.write_text("{}")
    path.chmod(0)
    if os.access(path, os.R_OK):
        # Root reads any file whatever its mode, so chmod 000 does not bite here: stand in
        # for the kernel's refusal at the one place the code asks for it.
        monkeypatch.setattr("advisor.paths._readable", lambda p, k: p != path)
    return path


@pytest.mark.parametrize("bad", BAD_PATHS)
@pytest.mark.parametrize("given", PATH_ARGS)
def test_every_command_refuses_every_bad_path(capsys, tmp_path, monkeypatch, nothing_loads,
                                              given, bad):  # fmt: skip
    template, kind = PATH_ARGS[given]
    path = _bad_path(tmp_path, bad, kind, monkeypatch)
    values = {"{P}": str(path), "{OUT}": str(tmp_path / "out" / "rules.json")}
    try:
        code, err = run_cli(capsys, *[values.get(a, a) for a in template])
    finally:
        if bad == "unreadable":
            path.chmod(0o700)  # so that pytest can clean tmp_path up
    assert code == EXIT_USAGE, err  # never 3 (a traceback) or 1 (a verdict)
    assert squeezed(str(path)) in squeezed(err)  # the message names the path given


# Output files: absent is fine (they are written), but what is in the way must be a file.
OUT_ARGS = {
    "fit --out": ["fit", "--grid", "attn-drop@1", "--out", "{P}"],
    "fit --cases": ["fit", "--grid", "attn-drop@1", "--cases", "{P}", "--out", "{OUT}"],
    "report --out": ["report", "{RESULT}", "--out", "{P}"],
}


@pytest.mark.parametrize("bad", ["wrong kind", "symlink loop", "device", "fifo"])
@pytest.mark.parametrize("given", OUT_ARGS)
def test_an_output_file_in_the_way_is_refused_at_once(capsys, tmp_path, monkeypatch,
                                                      nothing_loads, given, bad):  # fmt: skip
    path = _bad_path(tmp_path, bad, FILE, monkeypatch)
    result = tmp_path / "result.json"
    result.write_text("{}")  # never read: the output is checked first
    values = {"{P}": str(path), "{OUT}": str(tmp_path / "rules.json"), "{RESULT}": str(result)}
    code, err = run_cli(capsys, *[values.get(a, a) for a in OUT_ARGS[given]])
    assert code == EXIT_USAGE, err  # was found only when writing: for fit, hours later
    assert squeezed(str(path)) in squeezed(err)


def test_sweep_names_an_unknown_method_before_its_amounts(capsys, nothing_loads):
    code, err = run_cli(capsys, "sweep", "--method", "nope", "--amounts", "1")
    assert code == EXIT_USAGE and "Unknown pruning method 'nope'" in err
