"""The low-memory order (docs/design.md §9c): the dense side measured first, the dense
decoder weights released before the pruned model exists, the same result as the default
order. Tiny random models; the benchmark on a real model is benchmarks/low_memory.py."""

from __future__ import annotations

import functools

import pytest
import torch

from advisor.assess import assess, warm_dense_caches
from advisor.errors import AdvisorError
from advisor.models import low_memory
from advisor.models.anatomy import decoder_layers
from advisor.pair import LoadOptions, open_pair
from tests.pruned_elsewhere import drop_blocks_plain, save_plain
from tests.test_assess import _rules
from tests.test_sweep_share import TASKS, _assessable
from tests.tiny_models import save_tiny_model

pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def dense_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("dense"), "llama", layers=4)


def _open(folder, low_memory, request=None, pruned=None, dtype="float32"):
    from advisor.pruning import PruneRequest

    warm = functools.partial(warm_dense_caches, tasks=TASKS, seed=0)
    options = LoadOptions(low_memory=low_memory, dtype=dtype)
    request = PruneRequest(**request) if request else None
    return open_pair(str(folder), options, request, pruned, warm=warm)


def _verdicts_and_evidence(pair, tmp_path):
    rules = _rules(tmp_path / "rules.json")
    result = assess(pair.dense, pair.pruned, TASKS, rules_path=rules, timings=pair.timings)
    kept = {}
    for task, found in result["tasks"].items():
        kept[task] = {k: v for k, v in found.items() if k != "competence"}
    return kept, result


def _real_tensors(model):
    """Parameters with storage (buffers, small, are kept by the stand-in)."""
    named = dict(model.named_parameters(remove_duplicate=False))
    return {n: t for n, t in named.items() if not t.is_meta}


@pytest.mark.parametrize(
    "request_",
    [
        {"method": "wanda", "sparsity": 0.5},
        {"method": "attn-drop", "layers": 1},
        {"method": "block-drop", "layers": 2},
    ],
    ids=lambda r: r["method"],
)
def test_low_memory_gives_the_default_result_and_holds_one_model(
    dense_dir, tmp_path, monkeypatch, request_
):
    _assessable(monkeypatch)
    plain, plain_result = _verdicts_and_evidence(_open(dense_dir, False, request_), tmp_path)
    pair = _open(dense_dir, True, request_)
    low, low_result = _verdicts_and_evidence(pair, tmp_path)
    assert low == plain
    assert low_result["pruning"] == plain_result["pruning"]
    assert low_result["manifest"]["data"] == plain_result["manifest"]["data"]
    assert "dense_first_s" in low_result["manifest"]["timings"]
    # The stand-in's decoder layers hold no storage; what it holds is the pruned model's.
    stand_in, pruned = pair.dense.model, pair.pruned.loaded.model
    assert not _real_tensors(decoder_layers(stand_in))
    theirs = {t.data_ptr() for t in _real_tensors(pruned).values()}
    assert all(t.data_ptr() in theirs for t in _real_tensors(stand_in).values())


def test_checkpoint_is_loaded_after_the_dense_weights_are_released(dense_dir, tmp_path):
    """A depth-pruned checkpoint: its layers are matched against dense layers read back
    from the dense file one at a time, and the stand-in adopts the checkpoint's
    embeddings and head (bit-identical to the dense ones) instead of keeping its own."""
    from advisor.models import load_model

    dense = load_model(str(dense_dir))
    folder = save_plain(drop_blocks_plain(dense.model, [1, 2]), dense.tokenizer, tmp_path / "p")
    plain, plain_result = _verdicts_and_evidence(_open(dense_dir, False, pruned=folder), tmp_path)
    pair = _open(dense_dir, True, pruned=folder)
    low, low_result = _verdicts_and_evidence(pair, tmp_path)
    assert low == plain
    detected = low_result["pruning"]["detected"]
    assert detected == plain_result["pruning"]["detected"]
    assert detected["depth"]["dropped"] == [1, 2] and detected["depth"]["match"] == "exact"
    stand_in, pruned = pair.dense.model, pair.pruned.loaded.model
    outside = _real_tensors(stand_in)
    assert outside and not _real_tensors(decoder_layers(stand_in))
    theirs = {t.data_ptr() for t in _real_tensors(pruned).values()}
    assert all(t.data_ptr() in theirs for t in outside.values())


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_an_outside_tensor_the_checkpoint_changed_is_read_from_the_dense_file(
    dense_dir, tmp_path, dtype
):
    """...in the dtype the dense model is loaded in, whatever the file holds."""
    from advisor.models import load_model

    dense = load_model(str(dense_dir), dtype=dtype)
    changed = drop_blocks_plain(dense.model, [])
    with torch.no_grad():
        changed.model.norm.weight.mul_(1.5)
    folder = save_plain(changed, dense.tokenizer, tmp_path / "p")
    pair = _open(dense_dir, True, pruned=folder, dtype=dtype)
    ours = pair.dense.model.model.norm.weight
    assert ours.dtype == getattr(torch, dtype)
    assert torch.equal(ours, dense.model.model.norm.weight)
    assert not torch.equal(ours, pair.pruned.loaded.model.model.norm.weight)


@pytest.mark.parametrize(
    "request_",
    [
        {"method": "magnitude", "sparsity": 0.5},
        {"method": "wanda", "sparsity": 0.5, "pattern": "2:4"},
        {"method": "sparsegpt", "sparsity": 0.5},
        {"method": "mlp-drop", "layers": 1},
    ],
    ids=lambda r: r["method"],
)
def test_pruning_in_place_leaves_every_tensor_outside_the_layers_as_it_was(dense_dir, request_):
    """What the low-memory order relies on to share them with the stand-in."""
    from advisor.models import load_model
    from advisor.pruning import prune_model

    dense = load_model(str(dense_dir))
    model = dense.model
    inside = {id(t) for t in _real_tensors(decoder_layers(model)).values()}
    before = {
        n: low_memory.digest(t) for n, t in _real_tensors(model).items() if id(t) not in inside
    }
    pruned = prune_model(dense, **request_, in_place=True)
    assert pruned.loaded.model is model
    after = _real_tensors(model)
    assert {n: low_memory.digest(after[n]) for n in before} == before
    assert pruned.manifest["parameters"]["before"] >= pruned.manifest["parameters"]["after"]
    assert pruned.manifest["dense"]["layers"] == 4


def test_a_dense_folder_without_safetensors_is_a_clear_error(tmp_path):
    model = torch.nn.Linear(2, 2)
    reader = low_memory.LayerFile(tmp_path, model)
    with pytest.raises(AdvisorError, match="--low-memory reads dense weights back"):
        reader.read(["weight"])


def test_digest_tells_values_dtypes_and_shapes_apart():
    a = torch.arange(6, dtype=torch.float32)
    assert low_memory.digest(a) == low_memory.digest(a.clone())
    assert low_memory.digest(a) != low_memory.digest(a.reshape(2, 3))
    assert low_memory.digest(a) != low_memory.digest(a.to(torch.float64))
    b = a.clone()
    b[3] += 1e-6
    assert low_memory.digest(a) != low_memory.digest(b)


@pytest.mark.parametrize("arch", ["gpt2", "gemma3_text"])
def test_layers_read_back_from_the_file_match_in_other_families(tmp_path, arch):
    """GPT-2's blocks keep buffers and store Conv1D weights; Gemma-3 ties its head."""
    from advisor.models import load_model

    folder = save_tiny_model(tmp_path / "dense", arch, layers=4)
    dense = load_model(str(folder))
    pruned = save_plain(drop_blocks_plain(dense.model, [2]), dense.tokenizer, tmp_path / "p")
    pair = _open(folder, True, pruned=pruned)
    assert pair.pruned.record["detected"]["depth"]["dropped"] == [2]
    assert pair.pruned.record["detected"]["depth"]["match"] == "exact"
    head = pair.dense.model.get_output_embeddings().weight
    assert not head.is_meta
    assert torch.equal(head, dense.model.get_output_embeddings().weight)


def test_the_command_line_flag_takes_the_low_memory_order(capsys, dense_dir, tmp_path):
    import json

    from tests.test_failure_modes import run_cli

    out = tmp_path / "out"
    code, err = run_cli(capsys, "assess", "--model", dense_dir, "--method", "wanda",
                        "--sparsity", "0.5", "--task", "math", "--no-decode",
                        "--low-memory", "--out", out)  # fmt: skip
    assert code in (0, 1), err
    result = json.loads((out / "result.json").read_text())
    assert "dense_first_s" in result["manifest"]["timings"]
    assert result["pruning"]["method"] == "wanda"
    assert result["model"]["parameters"] == _dense_parameters(dense_dir)


def _dense_parameters(folder) -> int:
    from advisor.models import load_model

    return load_model(str(folder)).parameters
