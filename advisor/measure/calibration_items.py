"""The calibration items an assessment reads: each task type's suite (built in or the
user's), cut to the model's context, the order the sequential looks read them in
(docs/design.md §5f), and the few the representation hierarchy is measured on (§5c)."""

from __future__ import annotations

from collections.abc import Callable

from advisor.measure.accumulation import DEFAULT_HORIZON
from advisor.models import LoadedModel
from advisor.suites import build_suite, context_length, fit_to_context, primary_items
from advisor.suites.items import Item
from advisor.suites.own import SuiteFiles, suite_files
from advisor.suites.tasks import is_generative

# The representation hierarchy is reported, not decided on: measured on a few items per
# task type, with free-running decoding (the costly part) on fewer still (docs/design.md §5c).
HIERARCHY_ITEMS = 8
DECODED_ITEMS = 2


def look_order(n: int) -> list[int]:
    """Item positions in the order the looks take them: every fourth, then the rest of
    every second, then the others. Each look is a prefix of this order, spread evenly over
    the suite (a suite lists its sources in blocks: every block is in every look)."""
    quarter = list(range(0, n, 4))
    return quarter + list(range(2, n, 4)) + list(range(1, n, 2))


def calibration_suites(
    tasks: list[str], seed: int, data_file: SuiteFiles = None
) -> dict[str, list[Item]]:
    """Each task type's calibration items (primary view), or the user's suite file for the
    task types ``data_file`` names (one file for a single task type, or task -> file)."""
    files = suite_files(tasks, data_file)
    return {t: primary_items(build_suite(t, "calibration", seed, files.get(t))) for t in tasks}


def fit_suites(
    suites: dict[str, list[Item]], dense: LoadedModel, warn: Callable[[str], None]
) -> dict[str, list[str]]:
    """Cut over-long prompts to the model's context in place; return the cut ids per task."""
    cut: dict[str, list[str]] = {}
    for task, items in suites.items():
        suites[task], ids = fit_to_context(items, dense.model, dense.tokenizer, DEFAULT_HORIZON)
        if ids:
            cut[task] = ids
            context = context_length(dense.model, dense.tokenizer)
            warn(
                f"{len(ids)} {task} prompt(s) were longer than the model's context of "
                f"{context} tokens and lost their beginning (e.g. item {ids[0]}); the count "
                f"is in the result's manifest. Shorten them for a faithful assessment."
            )
    return cut


def hierarchy_items(
    suites: dict[str, list[Item]], decode: bool = True
) -> tuple[list[Item], list[bool]]:
    """The items the representation hierarchy is measured on (the first HIERARCHY_ITEMS
    of each suite in the order the evidence's sequential looks read them, so that they
    are among the items the evidence ran) and which of them are decoded freely (the first
    DECODED_ITEMS of each generative task type; none with ``decode=False``)."""
    items, flags = [], []
    for task_items in suites.values():
        chosen = [task_items[n] for n in look_order(len(task_items))[:HIERARCHY_ITEMS]]
        items += chosen
        flags += [decode and k < DECODED_ITEMS and is_generative(i) for k, i in enumerate(chosen)]
    return items, flags
