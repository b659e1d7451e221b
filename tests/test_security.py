"""Security: no downloaded code runs, no pickle loads, nothing from a model or a user file
becomes markup in the report, and assess opens no network connection."""

from __future__ import annotations

import json
import shutil
import socket
from html.parser import HTMLParser

import pytest
import torch

from advisor import models
from advisor.cli import EXIT_GATE, EXIT_OK, EXIT_USAGE, main
from advisor.errors import AdvisorError
from advisor.models import loading
from advisor.pruning import load_pruned, prune_model
from advisor.report import render
from tests.test_assess import _rules
from tests.tiny_models import tiny_model

pytestmark = pytest.mark.usefixtures("private_cache")


# --------------------------------------------------------------------------- remote code


def test_remote_code_is_refused_on_the_command_line(capsys, tiny_llama_dir, tmp_path):
    folder = tmp_path / "remote"
    shutil.copytree(tiny_llama_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    assert main(["models", str(folder)]) == EXIT_USAGE
    assert "--trust-remote-code" in " ".join(capsys.readouterr().err.split())


def test_trust_remote_code_is_off_unless_asked(tiny_llama_dir, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    seen = []
    for cls in (AutoModelForCausalLM, AutoTokenizer):
        real = cls.from_pretrained

        def spy(*args, _real=real, **kwargs):
            seen.append(kwargs.get("trust_remote_code"))
            return _real(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", spy)
    models.load_model(str(tiny_llama_dir))
    assert seen == [False, False]
    models.load_model(str(tiny_llama_dir), trust_remote_code=True)
    assert seen[2:] == [True, True]


# --------------------------------------------------------------------------- pickle


@pytest.fixture
def pickle_dir(tmp_path):
    """A model folder whose weights exist only as a pickle (pytorch_model.bin)."""
    model, tokenizer = tiny_model("llama")
    folder = tmp_path / "pickled"
    folder.mkdir()
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # the legacy pickle format
    tokenizer.save_pretrained(folder)
    assert (folder / "pytorch_model.bin").is_file() and not list(folder.glob("*.safetensors"))
    return folder


def test_pickle_weights_are_refused_without_allow_pickle(capsys, pickle_dir):
    assert main(["models", str(pickle_dir)]) == EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert "pickle" in err and "--allow-pickle" in err and "safetensors" in err
    assert main(["models", str(pickle_dir), "--allow-pickle", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["layers"] == 2


def test_pickled_pruned_folder_is_refused_without_allow_pickle(tiny_llama_dir, pickle_dir):
    dense = models.load_model(str(tiny_llama_dir))
    with pytest.raises(AdvisorError, match="--allow-pickle"):
        load_pruned(pickle_dir, dense)
    assert load_pruned(pickle_dir, dense, allow_pickle=True).record["method"] == "external"


def test_safetensors_are_preferred_when_both_exist(pickle_dir, monkeypatch):
    model, _ = tiny_model("llama")
    model.save_pretrained(pickle_dir)  # adds model.safetensors beside the pickle
    assert loading.check_weight_format(pickle_dir, allow_pickle=False) is True


@pytest.mark.parametrize("command", ["assess", "sweep", "prune", "evaluate", "fit", "models"])
def test_allow_pickle_is_documented_on_every_loading_command(capsys, command):
    assert main([command, "--help"]) == EXIT_OK
    text = " ".join(capsys.readouterr().out.split())
    assert "--allow-pickle" in text and "pickle" in text


# --------------------------------------------------------------------------- HTML escaping

ATTACKS = (
    "<script>alert(1)</script>",
    '" onmouseover="alert(1)',
    "'><img src=x onerror=alert(1)>",
)


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser would parse the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def clean_result(tiny_llama_dir, tmp_path_factory):
    from advisor.assess import assess

    dense = models.load_model(str(tiny_llama_dir))
    rules = _rules(tmp_path_factory.mktemp("rules") / "rules.json")
    return assess(dense, prune_model(dense, "attn-drop", layers=1), ["math"], rules_path=rules)


def _poisoned(result: dict, attack: str) -> dict:
    """The result with ``attack`` in every string a model, a user file or a name supplies."""
    result = json.loads(json.dumps(result))
    result["model"].update(name=f"model {attack}", note=attack, architecture=attack)
    result["pruning"].update(name=attack, label=attack, source=attack)
    result["examples"] = [
        {"task": "math", "id": attack, "prompt_tail": f"Q: {attack}", "dense": attack,
         "pruned": f"{attack}{attack}", "first_divergence": 0}
    ]  # fmt: skip
    task = result["tasks"]["math"]
    task["reasons"] = [attack]
    task["competence"]["reason"] = attack
    result["manifest"]["data"]["user_file"] = f"/data/{attack}.jsonl"
    return result


@pytest.mark.parametrize("attack", ATTACKS)
def test_report_escapes_model_and_user_strings(clean_result, attack):
    html = render(_poisoned(clean_result, attack))
    parser = _Tags()
    parser.feed(html)
    clean = _Tags()
    clean.feed(render(_poisoned(clean_result, "plain words")))
    # the poisoned page has exactly the elements and attributes of the clean one
    assert [(t, sorted(a)) for t, a in parser.tags] == [(t, sorted(a)) for t, a in clean.tags]
    assert not any(name.startswith("on") for _, attrs in parser.tags for name in attrs)
    assert all(
        (attrs.get("src") or "").startswith("data:image/png;base64,")
        for tag, attrs in parser.tags
        if tag == "img"
    )
    assert attack not in html  # only its escaped form
    escaped = attack.replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace('"', "&#34;").replace("'", "&#39;")
    assert html.count(escaped) >= 10  # every poisoned field is shown, as text


# --------------------------------------------------------------------------- network


def test_assess_makes_no_network_connection_when_offline(
    capsys, tiny_llama_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] or args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: refuse(self, addr))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, addr: refuse(self, addr))
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    rules = _rules(tmp_path / "rules.json")
    args = ["assess", "--model", str(tiny_llama_dir), "--method", "magnitude", "--sparsity",
            "0.3", "--task", "math", "--rules", str(rules),
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) in (EXIT_OK, EXIT_GATE)
    assert (tmp_path / "out" / "report.html").is_file()
    assert attempts == []
    # the guard itself works: a connection attempt is seen and refused
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9))
    assert len(attempts) == 1
