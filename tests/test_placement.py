"""--dtype / --device / --device-map: the loading code path on CPU with a tiny model."""

from __future__ import annotations

import pytest
import torch

from advisor.errors import AdvisorError
from advisor.measure import measure
from advisor.models import load_model, placement_like, runtime_identity
from advisor.pruning import load_pruned, prune_model, save_pruned
from advisor.suites.items import Item

pytestmark = pytest.mark.usefixtures("private_cache")

ITEMS = [
    Item(id="g", task="generation", prompt="the cat is on the road and the dog"),
    Item(
        id="m",
        task="multiple-choice",
        prompt="the king of the city is",
        candidates=(" a dog", " the cat is"),
        gold=0,
    ),
]


def _summary(result):
    return [row["probability"]["kl_t1"] for row in result.items] + [
        row["embedding"]["cos_last"][-1] for row in result.items
    ]


def test_device_map_auto_places_on_cpu_and_measures_the_same(tiny_llama_dir):
    plain = load_model(str(tiny_llama_dir))
    mapped = load_model(str(tiny_llama_dir), device_map="auto")
    assert {p.device.type for p in mapped.model.parameters()} == {"cpu"}
    assert mapped.cache_identity == plain.cache_identity  # fp32 on CPU: same caches
    a = measure(plain, prune_model(plain, "attn-drop", layers=1).loaded, ITEMS, horizon=4)
    b = measure(mapped, prune_model(mapped, "attn-drop", layers=1).loaded, ITEMS, horizon=4)
    assert _summary(a) == pytest.approx(_summary(b), abs=1e-6)


def test_pruned_checkpoints_follow_the_dense_placement(tiny_llama_dir):
    dense = load_model(str(tiny_llama_dir))
    assert placement_like(dense.model) == {"dtype": torch.float32}
    dense.model.hf_device_map = {"": "cpu"}
    assert placement_like(dense.model)["device_map"] == {"": "cpu"}
    # A sharded model's module names change when layers are dropped: place afresh.
    dense.model.hf_device_map = {"model.layers.0": 0, "lm_head": "cpu"}
    assert placement_like(dense.model)["device_map"] == "auto"


def test_explicit_device_loads_there(tiny_llama_dir):
    loaded = load_model(str(tiny_llama_dir), device="cpu")
    assert next(loaded.model.parameters()).device.type == "cpu"
    assert placement_like(loaded.model)["dtype"] == torch.float32


def test_bfloat16_loads_prunes_and_measures(tiny_llama_dir, tmp_path):
    dense = load_model(str(tiny_llama_dir), dtype="bfloat16")
    assert next(dense.model.parameters()).dtype == torch.bfloat16
    # Caches keyed apart from fp32 results of the same weights.
    assert dense.cache_identity.endswith(":bfloat16:cpu")
    assert dense.cache_identity != runtime_identity(dense.fingerprint, dense.model.float())
    dense = load_model(str(tiny_llama_dir), dtype="bfloat16")
    same = measure(dense, dense.model, ITEMS, horizon=4)
    assert all(row["probability"]["kl_t1"] == pytest.approx(0.0, abs=1e-9) for row in same.items)
    pruned = prune_model(dense, "wanda", sparsity=0.5, calib_samples=2, calib_len=16)
    assert next(pruned.model.parameters()).dtype == torch.bfloat16
    moved = measure(dense, pruned.loaded, ITEMS, horizon=4)
    kls = [row["probability"]["kl_t1"] for row in moved.items]
    assert all(0 < kl < float("inf") for kl in kls)
    # A checkpoint comes back in the dense model's dtype.
    folder = save_pruned(pruned, tmp_path / "pruned")
    again = load_pruned(folder, dense)
    assert next(again.model.parameters()).dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "float8"}, "--dtype must be one of"),
        ({"device": "cpu", "device_map": "auto"}, "not both"),
        ({"device": "not-a-device"}, "is not a device"),
        ({"device": "cuda:0"}, "no CUDA device"),
    ],
)
def test_bad_placement_is_a_clear_error(tiny_llama_dir, kwargs, message):
    if kwargs.get("device") == "cuda:0" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(AdvisorError, match=message):
        load_model(str(tiny_llama_dir), **kwargs)


@pytest.mark.parametrize(
    ("native", "device", "device_map", "expected"),
    [
        (True, None, None, "bfloat16"),  # a CPU with AMX / AVX512-BF16
        (True, "cpu", None, "bfloat16"),
        (False, None, None, "float32"),  # bf16 emulated: far slower than fp32
        (True, "cuda:0", None, "float32"),  # GPUs: the user chooses
        (True, None, "auto", "float32"),
    ],
)
def test_auto_precision_is_bf16_only_where_the_cpu_runs_it_natively(
    monkeypatch, native, device, device_map, expected
):
    from advisor.models import placement as where

    monkeypatch.setattr(where, "native_bf16", lambda: native)
    assert where.resolve_dtype("auto", device, device_map) == expected
    for explicit in ("float32", "bfloat16", "float16"):
        assert where.resolve_dtype(explicit, device, device_map) == explicit


def test_auto_precision_loads_in_what_it_resolves_to(tiny_llama_dir, monkeypatch):
    from advisor.models import placement as where

    for native, dtype in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(where, "native_bf16", lambda native=native: native)
        loaded = load_model(str(tiny_llama_dir), dtype="auto")
        assert {p.dtype for p in loaded.model.parameters()} == {dtype}


@pytest.mark.parametrize(("native", "dtype"), [(True, "bfloat16"), (False, "float32")])
def test_assess_records_the_precision_auto_chose(
    tiny_llama_dir, tmp_path, monkeypatch, native, dtype
):
    import json

    from advisor.cli import EXIT_GATE, EXIT_OK, main
    from advisor.models import placement as where
    from tests.test_assess import _rules

    monkeypatch.setattr(where, "native_bf16", lambda: native)
    args = ["assess", "--model", str(tiny_llama_dir), "--method", "attn-drop", "--layers", "1",
            "--task", "math", "--rules", str(_rules(tmp_path / "rules.json")),
            "--no-hierarchy", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) in (EXIT_OK, EXIT_GATE)
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["model"]["dtype"] == dtype
    report = (tmp_path / "out" / "report.html").read_text()
    assert f"both models run in {dtype}" in report
