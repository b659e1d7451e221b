"""Bad inputs found by trying the CLI as a new user would (issue 13): each reproduces the
input exactly and checks the exit code and message. Each test backs a row of README's
"Failure modes" table."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from advisor import publish
from advisor.cli import EXIT_INTERRUPTED, EXIT_USAGE, main
from advisor.errors import AdvisorError
from advisor.models import fingerprint_folder
from advisor.suites import build_suite
from advisor.suites.sources import MAX_ROW_CHARS
from advisor.truth.score import ItemResult, dense_competence
from tests.test_failure_modes import assess_args, run_cli
from tests.tiny_models import save_tiny_model

pytestmark = pytest.mark.usefixtures("private_cache")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_RESULT = ROOT / "reports" / "examples" / "smollm2-attn-drop-25" / "result.json"


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if a command loads a model (inputs must be checked before that)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr("advisor.pair.load_dense", refuse)


def squeezed(text: str) -> str:
    """``text`` without whitespace: the console wraps long paths anywhere, even mid-word."""
    return "".join(text.split())


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --------------------------------------------------------------------------- console markup


def test_console_markup_in_a_task_name_is_a_usage_error(capsys):
    code, err = run_cli(capsys, "assess", "--task", "[/bold]")
    assert code == EXIT_USAGE  # was exit 1 (read as "gate failed") after a MarkupError
    assert "Unknown task type '[/bold]'" in err


def test_console_markup_in_a_model_path_is_printed_as_written(capsys, tmp_path):
    path = tmp_path / "models[" / "x]"  # the path's text contains "[/x]"
    assert "[/x]" in str(path)
    code, err = run_cli(capsys, *assess_args(path))
    assert code == EXIT_USAGE and squeezed(f"No model named '{path}'") in squeezed(err)


def test_depth_pruned_refusal_prints_its_json_example_intact(capsys, tiny_llama_dir, tmp_path):
    """A pruned folder with fewer layers and no record of which were dropped: the refusal
    shows the config.json snippet to add, brackets included (they were eaten as markup)."""
    pruned = save_tiny_model(tmp_path / "one-layer", "llama", layers=1)
    code, err = run_cli(capsys, "assess", "--model", tiny_llama_dir, "--pruned", pruned,
                        "--task", "math")  # fmt: skip
    assert code == EXIT_USAGE
    example = '"prune_advisor": {"method": "...", "dropped_layers": [original indices]}'
    assert squeezed(example) in squeezed(err)


# --------------------------------------------------------------------------- damaged weights


def test_truncated_model_weights_are_a_usage_error_naming_the_file(capsys, tmp_path):
    folder = save_tiny_model(tmp_path / "model", "llama")
    _truncate(folder / "model.safetensors")
    code, err = run_cli(capsys, *assess_args(folder, "--task", "math"))
    assert code == EXIT_USAGE  # was 3, "internal error"
    expected = f"The weights file {folder / 'model.safetensors'} is damaged or truncated"
    assert squeezed(expected) in squeezed(err)


def test_truncated_pruned_weights_are_a_usage_error_naming_the_file(
    capsys, tiny_llama_dir, tmp_path
):
    pruned = tmp_path / "pruned"
    shutil.copytree(tiny_llama_dir, pruned)
    _truncate(pruned / "model.safetensors")
    code, err = run_cli(capsys, "assess", "--model", tiny_llama_dir, "--pruned", pruned,
                        "--task", "math")  # fmt: skip
    assert code == EXIT_USAGE
    expected = f"The weights file {pruned / 'model.safetensors'} is damaged or truncated"
    assert squeezed(expected) in squeezed(err)


def test_whole_weights_pass_the_check(tiny_llama_dir):
    from advisor.models.loading import check_safetensors

    check_safetensors(tiny_llama_dir / "model.safetensors")  # no error for an intact file


# --------------------------------------------------------------------------- user suites


def test_a_10_mb_row_fails_at_once_with_the_size_limit(capsys, tmp_path, no_model_load):
    data = tmp_path / "huge.jsonl"
    question = "What is 2 plus 2? " * 600_000  # ~10.8 MB on one line
    data.write_text(json.dumps({"question": question, "answer": 4}) + "\n")
    code, err = run_cli(capsys, *assess_args("smollm2-135m", "--task", "math", "--data", data))
    assert code == EXIT_USAGE
    assert squeezed(f"{data}, line 1: the row has 10,800,0") in squeezed(err)
    assert f"over the limit of {MAX_ROW_CHARS:,} per row" in err


def test_too_many_rows_are_refused_with_the_line(tmp_path, monkeypatch):
    from advisor.suites import sources

    monkeypatch.setattr(sources, "MAX_ROWS", 3)
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"question": f"{n}+1?", "answer": n + 1}) + "\n"
                            for n in range(5)))  # fmt: skip
    with pytest.raises(AdvisorError, match="line 4: more than 3 rows"):
        build_suite("math", data_file=path)


@pytest.mark.parametrize(
    ("task", "row", "message"),
    [
        # the row the property test found: a list as the question, a repeated option
        ("multiple-choice", {"question": [], "options": ["a", "b"], "gold": "a"},
         "line 1: 'question' must be a non-empty string, got []"),
        ("multiple-choice", {"question": "q", "options": ["a", "a"], "gold": "a"},
         "line 1: 'options' entries 0 and 1 are the same ('a')"),
        ("multiple-choice", {"question": "q", "options": ["a", " a"], "gold": 0},
         "line 1: 'options' entries 0 and 1 are the same"),  # the same candidate, " a"
        ("multiple-choice", {"question": "q", "options": ["a", 3], "gold": 0},
         "line 1: 'options' entry 1 must be a non-empty string, got 3"),
        ("multiple-choice", {"question": "q", "options": [str(n) for n in range(27)], "gold": 0},
         "line 1: 'options' must be a list of 2 to 26 texts"),
        ("multiple-choice", {"question": "q", "options": ["a", "b"], "gold": True},
         "line 1: gold must be one of the options or an index into them (0 to 1), got True"),
        ("classification", {"prompt": "p", "labels": [" yes", " yes"], "gold": 0},
         "line 1: 'labels' entries 0 and 1 are the same"),
        ("math", {"question": "q", "answer": [4]}, "line 1: 'answer' must be a number"),
        ("math", {"question": "q", "answer": 4, "id": ["x"]}, "line 1: 'id' must be a non-empty"),
        ("math", {"question": "q", "answer": 4, "id": "x" * 201}, "line 1: 'id' must be"),
        ("rag", {"passage": "p", "question": {"q": 1}, "answer": "a"},
         "line 1: 'question' must be a non-empty string"),
    ],
)  # fmt: skip
def test_user_rows_are_schema_checked_with_the_line(tmp_path, task, row, message):
    path = tmp_path / "suite.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(AdvisorError) as caught:
        build_suite(task, data_file=path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_duplicate_ids_name_both_lines(tmp_path):
    path = tmp_path / "suite.jsonl"
    rows = [{"question": "1+1?", "answer": 2, "id": "a"}, {"question": "1+2?", "answer": 3},
            {"question": "2+2?", "answer": 4, "id": "a"}]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(AdvisorError, match="line 3: the id 'a' is already used by line 1"):
        build_suite("math", data_file=path)


def test_user_math_suite_gets_the_most_common_answer_share_as_chance(tmp_path):
    """README: math chance is "always giving the most common gold answer of the source".
    12 user items whose most common answer (7) occurs 3 times: chance 0.25; a dense
    model right on 1 of them is not above chance (it was: chance 0 gave p = 0)."""
    answers = [7, 7, 7, 1, 2, 3, 4, 5, 6, 8, 9, 10]
    path = tmp_path / "math.jsonl"
    path.write_text("".join(json.dumps({"question": f"Item {n}: what is it?", "answer": a}) + "\n"
                            for n, a in enumerate(answers)))  # fmt: skip
    items = build_suite("math", data_file=path)
    assert [i.meta["chance"] for i in items] == [0.25] * 12
    results = [ItemResult(i.id, "math", 0.0, n == 0, float(n == 0)) for n, i in enumerate(items)]
    gate = dense_competence("math", items, results)
    assert gate.chance == 0.25 and gate.p_value > 0.5 and not gate.assessable


# --------------------------------------------------------------------------- caches


def test_truncated_fingerprint_memo_is_detected_and_recomputed(capsys, tiny_llama_dir):
    first = fingerprint_folder(tiny_llama_dir)
    (memo,) = (Path(os.environ["PRUNE_ADVISOR_CACHE"]) / "fingerprints").glob("*.json")
    _truncate(memo)
    code, _ = run_cli(capsys, "models", tiny_llama_dir)  # was exit 3 on every later run
    assert code == 0
    assert fingerprint_folder(tiny_llama_dir) == first
    assert publish.read_checked_json(memo)["fingerprint"] == first  # healed


# --------------------------------------------------------------------------- report input


def _result_variant(tmp_path: Path, change) -> Path:
    result = json.loads(EXAMPLE_RESULT.read_text())
    change(result)
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    return path


def _drop_competence(result: dict) -> None:
    del next(iter(result["tasks"].values()))["competence"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("speed"), "result has no 'speed'"),
        (lambda r: r.pop("gate"), "result has no 'gate'"),
        (_drop_competence, "has no 'competence'"),
        (lambda r: r.update(tasks=list(r["tasks"].values())),
         "result.tasks must be of type object, not list"),
        (lambda r: r.update(schema_version="9.0"),
         "has schema_version '9.0'; this prune-advisor reads 1.x results only"),
    ],
)  # fmt: skip
def test_report_validates_its_input(capsys, tmp_path, change, message):
    path = _result_variant(tmp_path, change)
    code, err = run_cli(capsys, "report", path)
    assert code == EXIT_USAGE and message in err and squeezed(str(path)) in squeezed(err)
    assert not (tmp_path / "report.html").exists()


def test_report_of_a_non_utf8_file_is_a_usage_error(capsys, tmp_path):
    path = tmp_path / "result.json"
    path.write_bytes(EXAMPLE_RESULT.read_bytes().replace(b'"model"', b'"mod\xe9l"', 1))
    code, err = run_cli(capsys, "report", path)
    assert code == EXIT_USAGE and "is not UTF-8" in err


def test_report_accepts_the_example_result(capsys, tmp_path):
    path = tmp_path / "result.json"
    shutil.copy(EXAMPLE_RESULT, path)
    code, _ = run_cli(capsys, "report", path)
    assert code == 0 and (tmp_path / "report.html").is_file()


# --------------------------------------------------------------------------- temperature


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_bad_temperature_is_refused_before_the_model_loads(capsys, value, no_model_load):
    code, err = run_cli(capsys, *assess_args("smollm2-135m", "--task", "math",
                                             "--temperature", value))  # fmt: skip
    assert code == EXIT_USAGE
    assert "--temperature must be a finite number above 0" in err


def test_bad_data_is_refused_before_the_model_loads(capsys, tmp_path, no_model_load):
    data = tmp_path / "suite.jsonl"
    data.write_text('{"question": "2+2?", "answer": 4}\n{"question": oops}\n')
    code, err = run_cli(capsys, *assess_args("smollm2-135m", "--task", "math", "--data", data))
    assert code == EXIT_USAGE and "line 2: not valid JSON" in err


def test_method_and_pruned_together_are_refused_before_the_model_loads(capsys, tmp_path,
                                                                      no_model_load):  # fmt: skip
    code, err = run_cli(
        capsys, *assess_args("smollm2-135m", "--pruned", tmp_path, "--task", "math")
    )
    assert code == EXIT_USAGE and "either --method NAME with its amount" in err


def test_result_json_never_holds_bare_nan(tmp_path):
    from advisor.report import write_report

    result = json.loads(EXAMPLE_RESULT.read_text())
    task = next(iter(result["tasks"].values()))
    undefined = {"mean": float("nan"), "worst": float("inf")}
    task["measurements"]["aggregates"]["undefined_metric"] = undefined
    result_path, _ = write_report(result, tmp_path / "out")

    def refuse(constant):
        raise ValueError(f"bare {constant} in result.json")

    written = json.loads(result_path.read_text(), parse_constant=refuse)  # strict parse
    task = next(iter(written["tasks"].values()))
    assert task["measurements"]["aggregates"]["undefined_metric"] == {"mean": None, "worst": None}


# --------------------------------------------------------------------------- smaller ones


def test_ctrl_c_exits_130_with_one_line(capsys, monkeypatch):
    from advisor import pair

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pair, "load_dense", interrupt)
    code = main(assess_args("smollm2-135m", "--task", "math"))
    err = capsys.readouterr().err
    assert code == EXIT_INTERRUPTED == 130
    assert err.startswith("Interrupted (Ctrl-C)") and len(err.strip().splitlines()) == 1


def test_readme_exit_code_table_lists_every_exit_code():
    app = importlib.import_module("advisor.cli.app")
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n\n", 2)[1]
    codes = {int(row.split("|")[1]) for row in table.splitlines()[2:]}
    constants = {v for k, v in vars(app).items() if k.startswith("EXIT_")}
    assert codes == constants == {0, 1, 2, 3, 130}


def test_a_failed_run_leaves_no_empty_out_folder(capsys, tiny_llama_dir, tmp_path):
    out = tmp_path / "new" / "out"
    code, _ = run_cli(capsys, "assess", "--model", tiny_llama_dir, "--pruned",
                      tmp_path / "missing", "--task", "math", "--out", out)  # fmt: skip
    assert code == EXIT_USAGE
    assert not (tmp_path / "new").exists()  # neither --out nor the parent it created


def test_a_failed_run_keeps_an_existing_out_folder(capsys, tiny_llama_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _ = run_cli(capsys, "assess", "--model", tiny_llama_dir, "--pruned",
                      tmp_path / "missing", "--task", "math", "--out", out)  # fmt: skip
    assert code == EXIT_USAGE and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755),
                                                              (0o027, 0o640, 0o750)])  # fmt: skip
def test_reports_and_cache_entries_get_the_umask_modes(tmp_path, umask, file_mode, dir_mode):
    from advisor.report import write_report

    old = os.umask(umask)
    try:
        result_path, report_path = write_report(json.loads(EXAMPLE_RESULT.read_text()),
                                                tmp_path / "out")  # fmt: skip
        with publish.staged_dir(tmp_path / "entry") as stage:
            (stage / "data.bin").write_bytes(b"x")
    finally:
        os.umask(old)
    for path in (result_path, report_path, tmp_path / "entry" / publish.CHECKSUMS_NAME):
        assert stat.S_IMODE(path.stat().st_mode) == file_mode, path  # was 0600
    assert stat.S_IMODE((tmp_path / "entry").stat().st_mode) == dir_mode  # was 0700


def test_assess_help_shows_the_out_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["assess", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "reports/<model>-<config>-<timestamp>/" in shown and "reports/--/" not in shown


def test_model_strings_with_markup_print_as_written(capsys):
    """Warnings and verdict tables carry item ids, paths and reasons: printed verbatim."""
    from advisor.cli.app import err, line

    err.print(line(("Warning:", "yellow"), " item [/x] [bold]y[/bold] :fire:"))
    assert "Warning: item [/x] [bold]y[/bold] :fire:" in capsys.readouterr().err
