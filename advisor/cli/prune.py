"""`prune`: produce a pruned model (or, with --dry-run, show what would be pruned)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from advisor.cli.app import (
    CalibLenOpt,
    CalibSamplesOpt,
    DeviceMapOpt,
    DeviceOpt,
    DtypeOpt,
    JsonFlag,
    LayersOpt,
    MethodOpt,
    ModelOpt,
    PatternOpt,
    PickleFlag,
    RatioOpt,
    SeedOpt,
    SparsityOpt,
    TrustFlag,
    app,
    err,
    line,
    load_options,
    out,
    print_json,
    prune_request,
)
from advisor.errors import AdvisorError
from advisor.publish import writable_dir


def _ranges(indices: list[int]) -> str:
    return ", ".join(str(i) for i in indices) or "none"


def _print_plan(result: dict[str, Any]) -> None:
    out.print(
        line(("Plan", "bold"), f" for {result['model']}: {result['method']} {result['amount']}")
    )
    if "would_drop" in result:
        out.print(
            f"Layers that would be dropped (original indices): {_ranges(result['would_drop'])}"
        )
        out.print(f"Ranking, least important first: {_ranges(result['ranking'])}")
        out.print(f"Parameters: {result['parameters_before']:,} -> {result['parameters_after']:,}")
    else:
        out.print(
            f"{result['zeros_total']:,} weights would be zeroed over "
            f"{len(result['zeros_per_layer'])} linear layers ({result['pattern']})."
        )
    out.print("Nothing was written (--dry-run).")


def _print_result(manifest: dict[str, Any], folder: Path) -> None:
    table = Table(title=f"Pruned with {manifest['method']}", show_header=False)
    params = manifest["parameters"]
    rows = {
        "amount": str(manifest["amount"]),
        "dropped blocks": _ranges(manifest["dropped_layers"]),
        "dropped attention": _ranges(manifest["dropped_attn"]),
        "dropped MLP": _ranges(manifest["dropped_mlp"]),
        "achieved sparsity": f"{manifest['sparsity']['achieved']:.4f}",
        "parameters": f"{params['before']:,} -> {params['after']:,}",
        "calibration": (manifest["calibration"] or {}).get("hash", "none"),
        "written to": str(folder),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    out.print(table)


@app.command()
def prune(
    model: ModelOpt = "smollm2-135m",
    method: MethodOpt = None,
    ratio: RatioOpt = None,
    layers: LayersOpt = None,
    sparsity: SparsityOpt = None,
    pattern: PatternOpt = "unstructured",
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder to write the pruned model and prune_manifest.json."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only print what would be pruned.")
    ] = False,
    seed: SeedOpt = 0,
    calib_samples: CalibSamplesOpt = 16,
    calib_len: CalibLenOpt = 128,
    json_out: JsonFlag = False,
    trust_remote_code: TrustFlag = False,
    dtype: DtypeOpt = "float32",
    device: DeviceOpt = None,
    device_map: DeviceMapOpt = None,
    allow_pickle: PickleFlag = False,
) -> None:
    """Prune a model and write a Hugging Face folder plus prune_manifest.json.

    Example: prune-advisor prune --model smollm2-135m --method wanda --pattern 2:4 --out DIR
    """
    from advisor import pair, pruning  # lazy: torch and transformers, not at CLI start-up

    if method is None:
        raise AdvisorError("Say which pruning method with --method (e.g. --method wanda).")
    if out_dir is None and not dry_run:
        raise AdvisorError("Say where to write the pruned model with --out DIR, or pass --dry-run.")
    amounts = dict(ratio=ratio, layers=layers, sparsity=sparsity, pattern=pattern)
    calib = dict(seed=seed, calib_samples=calib_samples, calib_len=calib_len)
    options = load_options(trust_remote_code, dtype, device, device_map, allow_pickle)
    # The method, its amount and the model are checked before the model is loaded.
    pair.check_models(model, options, prune_request(method, **amounts, **calib))
    if not dry_run:
        writable_dir(out_dir)  # before pruning (minutes for sparsegpt), not after
    dense = pair.load_dense(model, options, err)
    if dry_run:
        result = pruning.dry_run(dense, method, **amounts, **calib, console=err)
        if json_out:
            print_json(result)
        else:
            _print_plan(result)
        return
    pruned = pruning.prune_model(dense, method, **amounts, **calib, console=err)
    folder = pruning.save_pruned(pruned, out_dir)
    if json_out:
        print_json({"out": str(folder), "manifest": pruned.manifest})
    else:
        _print_result(pruned.manifest, folder)
