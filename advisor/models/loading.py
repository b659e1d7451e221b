"""Loading a causal LM by built-in name, local folder or Hugging Face id.

Models that need their own Python code load only with ``trust_remote_code``, pickle weights
only with ``allow_pickle``; every loaded model carries its fingerprint.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import snapshot_download
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from advisor.errors import AdvisorError
from advisor.models.builtins import BUILTINS, DEFAULT_MODEL, convert_builtin, quiet_transformers
from advisor.models.fingerprints import fingerprint_folder, runtime_identity
from advisor.models.placement import placement
from advisor.paths import FOLDER, input_path

# Key of ``LoadedModel.extra`` where :func:`load_model` keeps how it loaded the model, so
# that a twin in another precision loads alike (advisor/measure/assessable.py).
LOAD_OPTIONS = "load_options"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@dataclass
class LoadedModel:
    """A causal LM ready for measurement, with everything a report needs to say about it."""

    name: str
    path: Path
    model: Any
    tokenizer: Any
    fingerprint: str
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> int:
        """Number of parameters (tied embeddings counted once)."""
        return parameter_count(self.model)

    @property
    def dtype(self) -> str:
        """The precision the model runs in, e.g. "float32" or "bfloat16"."""
        return str(next(self.model.parameters()).dtype).removeprefix("torch.")

    @property
    def cache_identity(self) -> str:
        """What caches of this model's outputs are keyed by: the weights' fingerprint, plus
        the dtype and device type where they are not fp32 on CPU (they change rounding)."""
        return runtime_identity(self.fingerprint, self.model)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description of the model."""
        cfg = self.model.config
        return {
            "name": self.name,
            "path": str(self.path),
            "architecture": type(self.model).__name__,
            "model_type": cfg.model_type,
            "layers": cfg.num_hidden_layers,
            "hidden_size": cfg.hidden_size,
            "vocab_size": cfg.vocab_size,
            "parameters": self.parameters,
            "dtype": self.dtype,
            "fingerprint": self.fingerprint,
            "note": self.note,
        }


def parameter_count(model: Any) -> int:
    """Count parameters once each (tied input/output embeddings share storage; tensors
    without storage, a released dense model's, count by identity)."""
    seen: set[Any] = set()
    total = 0
    for p in model.parameters():
        key = ("meta", id(p)) if p.is_meta else p.data_ptr()
        if key not in seen:
            seen.add(key)
            total += p.numel()
    return total


# --------------------------------------------------------------------------- resolution


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or spec.endswith(".gguf")


def local_folder(spec: str, flag: str = "--model") -> Path | None:
    """The model folder ``spec`` names, checked (a readable folder holding config.json);
    None when ``spec`` is a built-in name or a Hugging Face id. Cheap: nothing is loaded."""
    if spec in BUILTINS:
        return None
    path = Path(spec).expanduser()
    if not os.path.lexists(path):  # lexists: a symlink loop or a dangling link is "there"
        if _looks_like_path(spec) or not _HUB_ID.match(spec):
            known = ", ".join(BUILTINS)
            raise AdvisorError(
                f"No model named '{spec}': it is not a built-in ({known}), not an existing "
                f"folder, and not a Hugging Face id of the form 'org/name'. Check the spelling "
                f"or path; `prune-advisor models` lists the built-ins."
            )
        return None
    hint = "Point it at a Hugging Face model folder (config.json, weights, tokenizer files)."
    folder = input_path(path, flag, FOLDER, hint)
    if not (folder / "config.json").is_file():
        raise AdvisorError(
            f"The folder {folder} has no config.json, so it is not a Hugging Face model "
            f"folder. Point {flag or 'it'} at the folder that holds config.json and the "
            f"weights (*.safetensors), e.g. one written by `save_pretrained`."
        )
    return folder


def check_model_spec(spec: str, allow_pickle: bool = False, flag: str = "--model") -> None:
    """Everything about ``spec`` that can be checked before a model loads: a folder must be
    a whole model folder (:func:`local_folder`, :func:`check_weight_format`)."""
    folder = local_folder(spec, flag)
    if folder is not None:
        check_weight_format(folder, allow_pickle)


def resolve_model(spec: str, console: Any = None) -> tuple[str, Path, str]:
    """Turn a model name, folder or hub id into ``(display name, local folder, note)``."""
    if spec in BUILTINS:
        return spec, convert_builtin(spec, console), BUILTINS[spec].note
    folder = local_folder(spec)
    if folder is not None:
        return folder.name, folder.resolve(), ""
    return spec, _hub_snapshot(spec), ""


def _hub_snapshot(repo_id: str) -> Path:

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as exc:  # hub errors come in many types; all mean the same to the user
        raise AdvisorError(
            f"Could not obtain '{repo_id}' from the Hugging Face Hub and it is not in the "
            f"local Hugging Face cache ({type(exc).__name__}). This machine may be offline. "
            f"Download the model on a connected machine (`hf download {repo_id} --local-dir "
            f"DIR`), copy DIR here and pass --model DIR; or use a built-in model "
            f"(`prune-advisor models`)."
        ) from exc


def _check_causal_lm(path: Path, trust_remote_code: bool) -> None:

    config = json.loads((path / "config.json").read_text())
    auto_map = config.get("auto_map", {})
    if "AutoModelForCausalLM" in auto_map and not trust_remote_code:
        raise AdvisorError(
            f"The model in {path} needs its own Python code (auto_map in config.json) to load. "
            f"prune-advisor never runs downloaded code unless asked: read that code, and if "
            f"you trust it pass --trust-remote-code."
        )
    model_type = config.get("model_type")
    causal = model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or "AutoModelForCausalLM" in auto_map
    if not causal:
        raise AdvisorError(
            f"The model in {path} has model_type '{model_type}', which is not a causal "
            f"(next-token) language model in transformers. prune-advisor assesses causal LMs "
            f"such as Llama, Qwen2, Mistral or Gemma-3; pass one of those."
        )


def check_weight_format(path: Path, allow_pickle: bool) -> bool:
    """Refuse pickle-only checkpoints unless ``allow_pickle``, and weights that cannot load
    (a damaged safetensors file, a shard its index names but the folder lacks); return
    whether to use safetensors. Reads file headers only, so it runs before any model loads.

    Loading a pickle (``pytorch_model.bin``, ``*.pt``) can run arbitrary code hidden in the
    file. safetensors is always preferred when the folder has it.
    """
    check_shards(path)
    weights = sorted(path.glob("*.safetensors"))
    if weights:
        for weight_file in weights:
            check_safetensors(weight_file)
        return True
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles and not allow_pickle:
        raise AdvisorError(
            f"The weights in {path} are pickle files ({', '.join(pickles[:3])}), and loading "
            f"a pickle can run code hidden in it. Prefer safetensors: convert them on a "
            f"trusted machine (load the model, then save_pretrained(folder, "
            f"safe_serialization=True)). If you trust where the files came from, pass "
            f"--allow-pickle."
        )
    return False


# The index files of sharded checkpoints: which shard holds each tensor.
SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def check_shards(path: Path) -> None:
    """Every shard a sharded checkpoint's index names must be in the folder (a partial copy
    or download otherwise fails deep inside ``from_pretrained``, after the others loaded)."""
    for name in SHARD_INDEXES:
        index = path / name
        if not index.is_file():
            continue
        try:
            shards = sorted(set(json.loads(index.read_bytes())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AdvisorError(
                f"The shard index {index} cannot be read ({type(exc).__name__}: it needs a "
                f"'weight_map' of tensor names to shard files). Copy or download it again."
            ) from None
        missing = [s for s in shards if not isinstance(s, str) or not (path / s).is_file()]
        if missing:
            shown = ", ".join(str(s) for s in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise AdvisorError(
                f"{index} names {len(shards)} shard(s), but {len(missing)} of them are not in "
                f"{path}: {shown}. Copy or download the missing shard(s) (an interrupted "
                f"transfer?), or point to a complete checkpoint folder."
            )


# A safetensors header is JSON of at most 100 MB (the format's own limit).
_MAX_HEADER = 100_000_000


def _safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole safetensors file (None when it is): an 8-byte header
    length, the JSON header, then exactly the bytes its tensors' offsets cover."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"it has {size} bytes, fewer than a header needs"
        length = int.from_bytes(head, "little")
        if not 2 <= length <= min(_MAX_HEADER, size - 8):
            return f"its header claims {length:,} bytes but the file has {size:,}"
        try:
            header = json.loads(fh.read(length))
            ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return "its header is not valid safetensors JSON"
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        return f"it has {size:,} bytes where its header describes {expected:,}"
    return None


def check_safetensors(path: Path) -> None:
    """Raise a clear :class:`AdvisorError` naming ``path`` when the weights file is damaged
    or truncated (an interrupted download or copy); reads only the header, so it is cheap.

    Without this, the safetensors library fails deep inside model loading with an error
    that reads like a bug in prune-advisor.
    """
    problem = _safetensors_problem(path)
    if problem is not None:
        raise AdvisorError(
            f"The weights file {path} is damaged or truncated ({problem}). Copy or download "
            f"it again (e.g. an interrupted transfer), or re-save the model with "
            f"save_pretrained."
        )


def _ensure_pad_token(tokenizer: Any) -> None:
    """Batches are left-padded (and masked), so any existing token can serve as padding;
    a tokenizer without a pad token gets its end-of-text (else unknown, else first) token."""
    if tokenizer.pad_token is not None:
        return
    fallback = tokenizer.eos_token or tokenizer.unk_token or tokenizer.bos_token
    tokenizer.pad_token = fallback or tokenizer.convert_ids_to_tokens(0)


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    trust_remote_code: bool = False,
    dtype: str = "float32",
    device: str | None = None,
    allow_pickle: bool = False,
    device_map: str | None = None,
    console: Any = None,
) -> LoadedModel:
    """Load a causal LM (eval mode) with its tokenizer and fingerprint.

    ``spec`` is a built-in name, a local folder or a Hugging Face id. ``dtype`` defaults to
    fp32: the shipped rules were fitted on fp32 measurements, and bf16 rounding is of the
    size of the smallest pruning effects (see README, Performance). ``device`` puts the
    whole model on one device ("cuda:0"); ``device_map`` ("auto", "balanced", ...) lets
    accelerate shard it over the GPUs and offload what does not fit to CPU memory. Model
    code from the folder runs only with ``trust_remote_code``; pickle weights load only
    with ``allow_pickle``.
    """

    where = placement(dtype, device, device_map)
    name, path, note = resolve_model(spec, console)
    _check_causal_lm(path, trust_remote_code)
    safetensors = check_weight_format(path, allow_pickle)
    try:
        with quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(
                path,
                trust_remote_code=trust_remote_code,
                use_safetensors=safetensors,
                **where,
            )
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise AdvisorError(
            f"transformers could not load the model in {path}: {exc}. The folder must hold "
            f"config.json, the weights and the tokenizer files of one causal LM."
        ) from exc
    _ensure_pad_token(tokenizer)
    return LoadedModel(
        name=name,
        path=path,
        model=model.eval(),
        tokenizer=tokenizer,
        fingerprint=fingerprint_folder(path),
        note=note,
        extra={
            LOAD_OPTIONS: {
                "trust_remote_code": trust_remote_code,
                "allow_pickle": allow_pickle,
                "device": device,
                "device_map": device_map,
            }
        },
    )
