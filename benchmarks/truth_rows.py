"""What the guidance ground-truth benchmarks share: resumable JSONL rows, the models loaded
once per process, and one ground-truth evaluation of a set of removed units.

Used by ``guidance_truth.py`` and ``blame_truth.py`` (not a unit test, not imported by the
package).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.fitting.grid import read_cases as read_rows  # a torn last line is skipped

RESULTS = Path(__file__).resolve().parent / "results"
# evaluate's own defaults: sequential from 32 questions, the built-in evaluation split
ADAPTIVE = 32
SEED = 0


def command_line(
    doc: str,
    rows: Path,
    table: Callable[[list[dict[str, Any]]], str],
    more: Callable[[argparse.ArgumentParser], None] = lambda _parser: None,
) -> argparse.Namespace | None:
    """A ground-truth benchmark's arguments (``--model``, repeatable, ``--threads``,
    ``--table`` and what ``more`` adds; ``doc``: the script's docstring): None once the
    table of ``rows`` is printed (``--table``), else the arguments, with torch's threads
    set."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[])
    more(parser)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table", action="store_true", help="print the table and stop")
    args = parser.parse_args()
    if args.table:
        print(table(read_rows(rows)))
        return None
    import torch

    torch.set_num_threads(args.threads)
    return args


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` as one line (flushed at once: a row is either whole or re-measured)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")
        fh.flush()


class Models:
    """The dense model of one name, loaded on first use: in ``auto`` precision (what
    `assess`, `sweep` and `plan` run in) and in float32 (what `evaluate` runs in)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loaded: dict[str, Any] = {}

    def get(self, dtype: str) -> Any:
        """The dense model in ``dtype`` ("auto" or "float32")."""
        if dtype not in self._loaded:
            from advisor.models import load_model

            self._loaded[dtype] = load_model(self.name, dtype=dtype)
        return self._loaded[dtype]


def truth(dense32: Any, pruned: Any, task: str, adaptive: int = ADAPTIVE) -> dict[str, Any]:
    """`evaluate`'s ground truth (float32, the built-in evaluation split, the primary view;
    sequential from ``adaptive`` questions, 0: every question) of ``pruned`` (a
    LoadedModel made from ``dense32``)."""
    from advisor.suites import evaluation_suites
    from advisor.truth.evaluate import evaluate_pair

    suites = evaluation_suites([task], SEED)
    record = evaluate_pair(dense32, pruned, suites, seed=SEED, all_views=False, adaptive=adaptive)
    keys = ("retention", "ci", "outcome", "n", "dense_score", "pruned_score")
    return {k: record[task][k] for k in keys}


def dropped_truth(
    dense32: Any, method: str, units: list[int], task: str, adaptive: int = ADAPTIVE
) -> dict[str, Any]:
    """:func:`truth` of ``dense32`` with ``units`` of structural ``method`` removed."""
    from advisor.pruning import drop_units

    return truth(dense32, drop_units(dense32, method, units).loaded, task, adaptive)


def cell(record: dict[str, Any] | None) -> str:
    """A truth record as a table cell: retention and label."""
    if not record:
        return "–"
    return f"{record['retention']:.2f} {record['outcome']}"
