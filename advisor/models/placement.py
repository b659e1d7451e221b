"""Where and in what precision a model is loaded: dtype, one device, or a device map."""

from __future__ import annotations

import importlib.util
import platform
from typing import Any

import torch
import transformers

from advisor import __version__
from advisor.errors import AdvisorError

DTYPES = ("auto", "float32", "bfloat16", "float16")
# What "auto" asks this CPU (docs/design.md §5g): bf16 wherever the CPU multiplies bf16
# natively, since the verdicts read in bf16 were validated against the fp32 ground truth.
# (torch's probe, what it names), in order of preference.
_NATIVE_BF16_PROBES = (
    ("_is_amx_tile_supported", "AMX"),
    ("_is_avx512_bf16_supported", "AVX512-BF16"),
)


def native_bf16_kind() -> str | None:
    """How this CPU multiplies bf16 natively ("AMX", "AVX512-BF16"), or None: then a bf16
    matmul is emulated and far slower than fp32."""

    found = (n for probe, n in _NATIVE_BF16_PROBES if getattr(torch.cpu, probe, lambda: 0)())
    return next(found, None)


def native_bf16() -> bool:
    """Does this CPU multiply bf16 natively (AMX tiles or AVX512-BF16)? Without either, a
    bf16 matmul is emulated and far slower than fp32."""
    return native_bf16_kind() is not None


def cpu_description() -> str:
    """This CPU's model name and its native bf16 support, e.g. "Intel(R) Xeon(R) Processor
    (native bf16: AMX)": every figure and result says which CPU it came from (§5h)."""
    name = platform.processor() or platform.machine() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            found = [ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")]
        name = found[0] if found else name
    except OSError:
        pass
    return f"{name} (native bf16: {native_bf16_kind() or 'neither AMX nor AVX512-BF16'})"


def resolve_dtype(dtype: str, device: str | None = None, device_map: str | None = None) -> str:
    """The precision ``dtype`` names: itself, or for "auto" bfloat16 on a CPU that runs it
    natively (:func:`native_bf16`) and float32 everywhere else (GPUs included)."""
    if dtype != "auto":
        return dtype
    on_cpu = device_map is None and (device is None or device.split(":")[0] == "cpu")
    return "bfloat16" if on_cpu and native_bf16() else "float32"


def placement(dtype: str, device: str | None, device_map: str | None) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments for where and in what precision to load, with
    the user's mistakes turned into clear errors."""

    if dtype not in DTYPES:
        raise AdvisorError(f"--dtype must be one of {', '.join(DTYPES)}; got '{dtype}'.")
    if device is not None and device_map is not None:
        raise AdvisorError(
            "Give either --device (one device) or --device-map (sharded / offloaded), not both."
        )
    kwargs: dict[str, Any] = {"dtype": getattr(torch, resolve_dtype(dtype, device, device_map))}
    if device_map is not None:
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


def versions() -> dict[str, str]:
    """The versions of everything that measured a result."""
    return {
        "prune_advisor": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu": cpu_description(),
    }
