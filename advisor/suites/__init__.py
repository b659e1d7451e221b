"""Task suites: calibration and evaluation items for each task type.

``build_suite(task, split, seed)`` makes the built-in items from the offline sources and
the spec in ``data/suites/<task>.json`` (prompt templates, demonstrations, sizes: the
prompt format is fixed there and recorded with every run). ``data_file`` reads a user's
own JSONL suite instead (see each suite's ``schema``). Built-in splits are deterministic
for a seed and disjoint: they never share a source text.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.suites.common import SPLITS, Suite, cached_build, check_split, load_spec
from advisor.suites.items import Item, items_hash
from advisor.suites.rows import count_field
from advisor.suites.sources import load_user_rows
from advisor.suites.tasks import SUITES, TASK_TYPES, is_generative, task_names
from advisor.verdicts import NOT_COMPETENT

__all__ = [
    "PRIMARY_VIEW",
    "SPLITS",
    "SUITES",
    "TASK_TYPES",
    "Suite",
    "build_suite",
    "cap",
    "check_user_suite",
    "evaluation_suites",
    "fit_to_context",
    "load_spec",
    "primary_items",
    "suite_record",
    "task_names",
    "views",
]

# Multiple-choice questions come in two views; the deciding one is "options" (option texts
# scored as continuations). "letters" is a second view, informative only where the
# competence gate passes it (docs/design.md §5a).
PRIMARY_VIEW = "options"
# The fewest questions the competence gate (advisor.truth.competence) reads to tell
# whether the dense model can do a task type at all; a user suite needs as many.
DEFAULT_MIN_ITEMS = 10


def views(items: list[Item]) -> dict[str, list[int]]:
    """Positions of the items of each view (items without a view are under "-")."""
    found: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        found.setdefault(item.meta.get("view", "-"), []).append(n)
    return found


def primary_items(items: list[Item]) -> list[Item]:
    """The items a task type's verdict rests on: all of them, except that multiple-choice
    questions count once, in their primary view."""
    return [i for i in items if i.meta.get("view", PRIMARY_VIEW) == PRIMARY_VIEW]


def _suite(task: str) -> Suite:
    if task not in SUITES:
        raise AdvisorError(f"Unknown task type '{task}'; choose one of {', '.join(SUITES)}.")
    return SUITES[task]


def _own_prompt(suite: Suite, row: dict[str, Any], line: int) -> str | None:
    """The row's own prompt, if it gives one (else its template fields must be there)."""
    if "prompt" not in row or not suite.prompt_fields:
        missing = [f for f in suite.prompt_fields if f not in row]
        if missing:
            raise AdvisorError(
                f"line {line}: give 'prompt' (the exact text your deployment sends) or "
                f"{', '.join(repr(f) for f in missing)} for the built-in template."
            )
        return None
    prompt = row["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise AdvisorError(f"line {line}: 'prompt' must be a non-empty string.")
    return prompt


def _decoding(row: dict[str, Any], line: int) -> dict[str, Any]:
    """A generative row's own decoding settings: ``stop`` strings, ``max_new_tokens``."""
    settings: dict[str, Any] = {}
    if "stop" in row:
        stop = row["stop"]
        if (
            not isinstance(stop, list)
            or not 1 <= len(stop) <= 8
            or not all(isinstance(s, str) and s and len(s) <= 64 for s in stop)
        ):
            raise AdvisorError(
                f"line {line}: 'stop' must be a list of 1 to 8 non-empty strings (≤ 64 "
                f'characters each), e.g. ["\\n"].'
            )
        settings["stop"] = list(stop)
    if "max_new_tokens" in row:
        settings["max_new_tokens"] = count_field(row, "max_new_tokens", line, 32, most=512)
    return settings


def _user_item(suite: Suite, row: dict[str, Any], line: int) -> Item:
    own = _own_prompt(suite, row, line)
    if own is None:
        item = suite.from_row(row, line)
        source = "template" if suite.prompt_fields else "user"
    else:
        item = suite.from_row({**{f: "-" for f in suite.prompt_fields}, **row}, line)
        item = dataclasses.replace(item, prompt=own)
        if suite.with_own_prompt is not None:
            item = suite.with_own_prompt(item)
        source = "user"
    meta = {**item.meta, "prompt_source": source}
    if suite.prompt_fields:
        meta |= _decoding(row, line)
    return dataclasses.replace(item, meta=meta)


def _row_form(suite: Suite, row: dict[str, Any]) -> str:
    """The documented row of the form ``row`` uses: its own ``prompt``, or the template's
    fields (a row in one form is not helped by an example of the other)."""
    own = "prompt" in row and suite.prompt_fields and suite.prompt_schema
    return suite.prompt_schema if own else suite.schema


def _user_suite(suite: Suite, path: str | Path) -> list[Item]:
    required = tuple(f for f in suite.required if f not in suite.prompt_fields)
    rows = load_user_rows(path, required)
    items = []
    for line, row in rows:
        try:
            items.append(_user_item(suite, row, line))
        except AdvisorError as exc:
            form = _row_form(suite, row)
            raise AdvisorError(f"{path}, {exc} Expected rows like: {form}") from exc
        except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
            raise AdvisorError(
                f"{path}, line {line}: malformed row ({exc}). Expected rows like: "
                f"{_row_form(suite, row)}"
            ) from exc
    first_line: dict[str, int] = {}
    for item in items:
        line = item.meta["line"]
        if item.id in first_line:
            raise AdvisorError(
                f"{path}, line {line}: the id '{item.id}' is already used by line "
                f"{first_line[item.id]}; every row needs its own id (or none: the default "
                f"is user:<line>)."
            )
        first_line[item.id] = line
    if suite.finish is not None:
        try:
            items = suite.finish(items, load_spec(suite.task))
        except AdvisorError as exc:
            raise AdvisorError(f"{path}, {exc}") from exc
    return items


def build_suite(
    task: str,
    split: str = "calibration",
    seed: int = 0,
    data_file: str | Path | None = None,
    spec: dict[str, Any] | None = None,
) -> list[Item]:
    """The items of ``task``'s ``split`` ("calibration" or "evaluation") for ``seed``.

    With ``data_file``, the user's JSONL suite is read instead (``split`` and ``seed`` are
    then ignored: the file is the suite). ``spec`` overrides the shipped spec file.
    """
    suite = _suite(task)
    check_split(split)
    if data_file is not None:
        return _user_suite(suite, data_file)
    items = cached_build(suite, spec if spec is not None else load_spec(task), split, seed)
    if not items:
        raise AdvisorError(f"The {task} suite built no {split} items; check its spec.")
    return items


def cap(items: list[Item], limit: int) -> list[Item]:
    """At most ``limit`` questions (0 = all), spread evenly over the suite (which lists its
    sources in turn), keeping every view of a question together."""
    if limit < 0:
        raise AdvisorError(f"--eval-items must be 0 (all) or a positive number, not {limit}.")
    keys = list(dict.fromkeys(i.meta.get("question_id", i.id) for i in items))
    if not limit or limit >= len(keys):
        return items
    chosen = {keys[k * len(keys) // limit] for k in range(limit)}
    return [i for i in items if i.meta.get("question_id", i.id) in chosen]


def check_user_suite(suites: dict[str, list[Item]], data_file: str | Path) -> None:
    """Refuse a ``--data`` suite too small for the competence gate, before any model loads.

    The gate needs DEFAULT_MIN_ITEMS questions to tell whether the dense model can do the
    task at all; with fewer, every verdict could only be "not assessable", so a run would
    load and measure for nothing and a CI gate would pass without a verdict (exit 2 here,
    README "Failure modes")."""
    for task, items in suites.items():
        n = len(primary_items(items))
        if n < DEFAULT_MIN_ITEMS:
            raise AdvisorError(
                f"--data {data_file}: {n} {task} question(s) to use, fewer than the "
                f"{DEFAULT_MIN_ITEMS} the competence gate needs to tell whether the dense "
                f"model can do the task at all, so the verdict could only be "
                f"'{NOT_COMPETENT}'. Add rows to the file (or raise --eval-items)."
            )


def evaluation_suites(
    tasks: list[str], seed: int, limit: int = 0, data_file: str | Path | None = None
) -> dict[str, list[Item]]:
    """Each task type's evaluation split (or the user's suite file), at most ``limit``
    questions each (0 = all)."""
    return {t: cap(build_suite(t, "evaluation", seed, data_file), limit) for t in tasks}


def suite_record(task: str, split: str, seed: int, items: list[Item]) -> dict[str, Any]:
    """What a result file records about the suite: its spec, split, seed, size and hash."""

    return {
        "task": task,
        "split": split,
        "seed": seed,
        "items": len(items),
        "items_hash": items_hash(items),
        "spec": load_spec(task),
    }


# Tokenizers report "no limit" as a huge sentinel (int(1e30)); only smaller values are real.
_NO_LIMIT = 1_000_000


def context_length(model: Any, tokenizer: Any) -> int | None:
    """The longest sequence (prompt + generated tokens) the model is built for, if known."""
    limits = [getattr(model.config, "max_position_embeddings", None)]
    limits.append(getattr(tokenizer, "model_max_length", None))
    known = [int(n) for n in limits if isinstance(n, int | float) and 0 < n < _NO_LIMIT]
    return min(known) if known else None


def _reserve(item: Item, tokenizer: Any, horizon: int) -> int:
    """Tokens that follow the prompt when ``item`` is scored or decoded."""
    room = 0
    if is_generative(item):
        room = max(horizon, int(item.meta.get("max_new_tokens", 0)))
    if item.candidates:
        room = max(
            room,
            *(len(tokenizer(c, add_special_tokens=False).input_ids) + 1 for c in item.candidates),
        )
    return room


def _tail_within(text: str, tokenizer: Any, budget: int) -> str:
    """The longest tail of ``text`` (cut at a word start where possible) within ``budget``."""

    def fits(start: int) -> bool:
        return len(tokenizer(text[start:]).input_ids) <= budget

    starts = [m.start() for m in re.finditer(r"\S+", text)] or [0]
    if not fits(starts[-1]):  # one enormous "word": cut between characters instead
        starts = list(range(len(text)))
    lo, hi = 0, len(starts) - 1  # smallest index whose tail fits (the last one does)
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(starts[mid]):
            hi = mid
        else:
            lo = mid + 1
    return text[starts[lo] :]


def fit_to_context(
    items: list[Item], model: Any, tokenizer: Any, horizon: int
) -> tuple[list[Item], list[str]]:
    """Cut prompts that would not fit the model's context, keeping their end.

    A prompt plus what follows it (``horizon`` generated tokens, or the longest candidate)
    must fit the context; longer prompts lose their beginning (the question or the text to
    continue sits at the end of every prompt). Returns the items, the cut ones replaced,
    and the ids of the cut items, which the caller reports. Items that fit are returned
    unchanged, so their cache keys and numbers are untouched.
    """
    context = context_length(model, tokenizer)
    if context is None:
        return items, []
    fitted, cut = [], []
    for item in items:
        budget = context - _reserve(item, tokenizer, horizon)
        if budget < 1:
            raise AdvisorError(
                f"Item {item.id} ({item.task}) needs {context - budget} tokens after its prompt, "
                f"more than the model's whole context of {context} tokens. Use a model with a "
                f"longer context, or shorter candidates / max_new_tokens in your suite."
            )
        if len(tokenizer(item.prompt).input_ids) <= budget:
            fitted.append(item)
            continue
        prompt = _tail_within(item.prompt, tokenizer, budget)
        meta = {**item.meta, "truncated_from_chars": len(item.prompt)}
        fitted.append(dataclasses.replace(item, prompt=prompt, meta=meta))
        cut.append(item.id)
    return fitted, cut
