"""Saving pruned models as plain Hugging Face folders, and loading pruned folders.

A saved folder loads with plain ``AutoModelForCausalLM.from_pretrained``. Dropped blocks
are simply absent (``num_hidden_layers`` and ``layer_types`` shrink). Dropped sublayers
are stored as real modules whose weights are all zero: their output projection is zero,
so they add exactly nothing (and a Gemma-style post-norm of a zero vector is zero), giving
the same logits as the structurally pruned model. ``config.json`` records the dropped
indices under ``prune_advisor``; ``load_pruned`` reads them and removes the zero modules
again, so they cost no time and no KV cache.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from advisor.errors import AdvisorError
from advisor.models import LoadedModel, fingerprint_folder, placement_like
from advisor.models.anatomy import decoder_layers
from advisor.models.loading import check_weight_format, quiet_transformers
from advisor.models.low_memory import PLACEMENT, dense_block_reader
from advisor.paths import FOLDER, input_path
from advisor.pruning.compressed import (
    check_compressed,
    load_compressed,
    recipe_of,
    sparse_format,
)
from advisor.pruning.detected import detect, external_manifest
from advisor.pruning.layer_drop import drop_sublayers
from advisor.pruning.pruned import (
    MANIFEST_NAME,
    RECORD_KEY,
    PrunedModel,
    config_record,
    measure_sparsity,
)
from advisor.pruning.shapes import match_layers
from advisor.publish import writable_dir, write_json

_PROBE = 'The river Thames flows through London; 1,234 people said: "Hello, world!"'


def _plain_config(model: Any) -> Any:
    """The config as plain transformers should see it: no cache-skipping marks."""
    config = copy.deepcopy(model.config)
    if hasattr(config, "kv_sharing_modes"):
        del config.kv_sharing_modes
    return config


def _full_state(model: Any, config: Any) -> dict[str, torch.Tensor]:
    """The pruned weights plus zeros for every dropped sublayer, keyed as transformers expects."""

    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    expected = skeleton.state_dict()
    have = model.state_dict()
    unexpected = set(have) - set(expected)
    if unexpected:
        raise RuntimeError(f"pruned weights not in the architecture: {sorted(unexpected)[:5]}")
    return {
        key: have[key] if key in have else torch.zeros(meta.shape, dtype=meta.dtype)
        for key, meta in expected.items()
    }


def save_pruned(pruned: PrunedModel, out_dir: str | Path) -> Path:
    """Write a loadable HF folder (config, safetensors, tokenizer) and prune_manifest.json.

    Everything is written into a private staging folder first and then moved into
    ``out_dir`` file by file (each move atomic), the manifest last: an interrupted save
    never leaves a truncated weight file, and a folder with a manifest is complete.
    """
    out = writable_dir(out_dir)
    config = _plain_config(pruned.model)
    state = _full_state(pruned.model, config)
    with tempfile.TemporaryDirectory(dir=out, prefix=".staging-") as staging:
        stage = Path(staging)
        with quiet_transformers():
            pruned.model.save_pretrained(stage, state_dict=state, safe_serialization=True)
            config.save_pretrained(stage)  # replaces the one written above (with cache marks)
            pruned.tokenizer.save_pretrained(stage)
        for item in sorted(stage.iterdir()):
            os.replace(item, out / item.name)
    write_json(out / MANIFEST_NAME, pruned.manifest, indent=2, sort_keys=True)
    return out


# --------------------------------------------------------------------------- loading


def _tokenizer_matches(folder: Path, dense_tokenizer: Any) -> tuple[bool, str]:

    try:
        with quiet_transformers():
            theirs = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, TypeError) as exc:
        return False, f"it has no loadable tokenizer ({type(exc).__name__})"
    if theirs.get_vocab() != dense_tokenizer.get_vocab():
        return False, "its vocabulary differs"
    if theirs(_PROBE)["input_ids"] != dense_tokenizer(_PROBE)["input_ids"]:
        return False, "it splits the same text into different tokens"
    return True, ""


def check_pruned_folder(
    path: str | Path, allow_pickle: bool = False, flag: str = "--pruned"
) -> tuple[Path, bool]:
    """The checkpoint folder ``path`` (resolved) and whether its weights are safetensors,
    checked as far as they can be without the dense model or loading anything: a readable
    folder (:func:`advisor.paths.input_path`) with config.json and weights that can load
    (:func:`check_weight_format`: whole safetensors, every shard present, pickles only with
    ``allow_pickle``). ``flag`` is how the user named it ("--pruned", or a manifest line)."""
    hint = (
        "Point it at the folder of a pruned model (e.g. one written by `prune-advisor prune "
        "--out`)."
    )
    folder = input_path(path, flag, FOLDER, hint).resolve()
    if not (folder / "config.json").is_file():
        raise AdvisorError(
            f"{flag} {folder}: no config.json there. Point it at a Hugging Face model "
            f"folder (config.json, weights, tokenizer files), e.g. one written by "
            f"`prune-advisor prune --out`."
        )
    return folder, check_weight_format(folder, allow_pickle)


def _check_folder(folder: Path, dense: LoadedModel) -> dict[str, Any]:
    same, why = _tokenizer_matches(folder, dense.tokenizer)
    if not same:
        raise AdvisorError(
            f"The pruned model in {folder} must share the tokenizer of the dense model "
            f"{dense.name}, but {why}. Comparing token distributions needs the same "
            f"tokens: prune from {dense.name}, and save its tokenizer next to the weights "
            f"(tokenizer.save_pretrained(folder))."
        )
    config = json.loads((folder / "config.json").read_text())
    check_compressed(folder, config)
    theirs = _config_of(folder)
    dense_cfg = dense.model.config
    # Through the config classes: GPT-2 writes n_embd / n_layer, others hidden_size.
    for key in ("model_type", "vocab_size"):
        if getattr(theirs, key, None) != getattr(dense_cfg, key, None):
            raise AdvisorError(
                f"The pruned model in {folder} has {key}={getattr(theirs, key, None)!r} but "
                f"the dense model {dense.name} has {getattr(dense_cfg, key, None)!r}: it is "
                f"not a pruned version of it. Pass the dense model it was pruned from as "
                f"--model."
            )
    return config


def _config_of(folder: Path) -> Any:

    try:
        with quiet_transformers():
            return AutoConfig.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise AdvisorError(
            f"--pruned {folder}: its config.json cannot be read by transformers ({exc})."
        ) from None


def _external_record(model: Any, dense: LoadedModel) -> tuple[dict[str, Any], Any]:
    """A record for a folder pruned elsewhere: removed layers read from the weights when
    the layer count differs (docs/design.md §9b)."""
    layers = len(decoder_layers(dense.model))
    depth = None
    if len(decoder_layers(model)) != layers:
        depth = match_layers(dense.model, model, dense_block_reader(dense))
    dropped = depth["dropped"] if depth else []
    return config_record("external", layers, dropped, [], [], 0.0), depth


def _normalise(record: dict[str, Any], layers: int) -> dict[str, Any]:
    full = config_record(
        record.get("method", "external"),
        record.get("original_num_layers", layers + len(record.get("dropped_layers", []))),
        record.get("dropped_layers", []),
        record.get("dropped_attn", []),
        record.get("dropped_mlp", []),
        record.get("sparsity", 0.0),
    )
    return {**record, **full}


def _reapply_drops(model: Any, record: dict[str, Any]) -> None:
    """Remove the zeroed sublayers again; indices are original, positions are current."""
    gone = set(record["dropped_layers"])
    kept = [i for i in range(record["original_num_layers"]) if i not in gone]
    if len(kept) != len(decoder_layers(model)):
        raise AdvisorError(
            f"config.json's {RECORD_KEY} says {len(gone)} of {record['original_num_layers']} "
            f"layers were dropped, but the model has {len(decoder_layers(model))} layers."
        )
    position = {original: i for i, original in enumerate(kept)}
    drop_sublayers(
        model,
        [position[i] for i in record["dropped_attn"]],
        [position[i] for i in record["dropped_mlp"]],
    )


def load_pruned(path: str | Path, dense: LoadedModel, *, allow_pickle: bool = False) -> PrunedModel:
    """Load a pruned checkpoint folder to compare against ``dense``.

    The folder must share the dense model's tokenizer (checked). Folders written by
    ``save_pruned`` get their dropped sublayers removed again; for others, what was pruned
    is read from the weights (docs/design.md §9b): removed layers by matching them to the
    dense ones, changed widths, zeros and their N:M pattern — the record's ``detected``.
    A ``prune_advisor`` key in config.json overrides the layer matching. Pickle weights
    load only with ``allow_pickle``; the folder's own model code never runs.
    """

    folder, safetensors = check_pruned_folder(path, allow_pickle)
    config = _check_folder(folder, dense)
    placement = dense.extra.get(PLACEMENT) or placement_like(dense.model)
    with quiet_transformers():
        if sparse_format(config) is not None:  # llm-compressor's compressed-tensors folders
            model = load_compressed(folder, config, placement).eval()
        else:
            model = AutoModelForCausalLM.from_pretrained(
                folder, use_safetensors=safetensors, trust_remote_code=False, **placement
            ).eval()
    saved = config.get(RECORD_KEY)
    layers = len(decoder_layers(model))
    depth = None
    if saved:
        record = _normalise(saved, layers)
    else:
        record, depth = _external_record(model, dense)
    _reapply_drops(model, record)
    record["sparsity"] = measure_sparsity(model)[0]
    record["detected"] = detect(dense.model, model, record, depth)
    record["pattern"] = record.get("pattern") or record["detected"]["pattern"]
    setattr(model.config, RECORD_KEY, record)
    manifest_file = folder / MANIFEST_NAME
    manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
    manifest.setdefault("method", record["method"])
    if not manifest_file.is_file():
        recipe = recipe_of(folder)  # llm-compressor leaves its recipe beside the weights
        if recipe:
            record["detected"]["description"].insert(0, f"made by llm-compressor: {recipe}")
            manifest["method"] = "llm-compressor"
        manifest.update(external_manifest(record))
    manifest["loaded_from"] = str(folder)
    view = LoadedModel(
        name=f"{folder.name} ({record['method']})",
        path=folder,
        model=model,
        tokenizer=dense.tokenizer,
        fingerprint=fingerprint_folder(folder),
        note=dense.note,
        extra={RECORD_KEY: record},
    )
    return PrunedModel(loaded=view, manifest=manifest)
