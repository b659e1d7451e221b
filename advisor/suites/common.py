"""Shared pieces of the suite builders: the registry entry, spec files, splits and text."""

from __future__ import annotations

import functools
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from advisor.errors import AdvisorError
from advisor.resources import resource
from advisor.suites import sources as data
from advisor.suites.items import Item

SPLITS = ("calibration", "evaluation")

T = TypeVar("T")
Builder = Callable[[dict[str, Any], str, int], list[Item]]
RowReader = Callable[[dict[str, Any], int], Item]
Finisher = Callable[[list[Item], dict[str, Any]], list[Item]]


@dataclass(frozen=True)
class Suite:
    """How one task type's items are made: from the offline sources, or from a user's file.

    ``build(spec, split, seed)`` makes the built-in items; ``from_row(row, line)`` turns one
    row of a user's JSONL file (already checked to hold ``required``) into an Item.
    ``schema`` documents that row format for the CLI and README; ``finish(items, spec)``,
    where given, completes a user suite as a whole (e.g. a retrieval corpus of all rows).
    """

    task: str
    build: Builder
    from_row: RowReader
    required: tuple[str, ...]
    schema: str
    finish: Finisher | None = None


def text_field(row: dict[str, Any], key: str, line: int) -> str:
    """``row[key]`` as a non-empty string, or an error naming the line."""
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise AdvisorError(f"line {line}: '{key}' must be a non-empty string, got {_shown(value)}.")
    return value


# Limits of a user suite row (checked when the file is read, each error naming the line).
MAX_ID_CHARS = 200
MAX_CHOICES = 26  # options or labels per row: A..Z


def id_field(row: dict[str, Any], line: int) -> str:
    """``row["id"]`` as a string (a non-empty string of at most MAX_ID_CHARS, or a whole
    number), default ``user:<line>``; an error naming the line otherwise."""
    value = row.get("id")
    if value is None:
        return f"user:{line}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_CHARS:
        raise AdvisorError(
            f"line {line}: 'id' must be a non-empty string of at most {MAX_ID_CHARS} "
            f"characters or a whole number, got {_shown(value)}."
        )
    return value


def choices_field(
    row: dict[str, Any], key: str, line: int, same: Callable[[str], str] = lambda text: text
) -> list[str]:
    """``row[key]`` as a list of 2 to MAX_CHOICES distinct non-empty strings; ``same`` maps
    a choice to what is compared (two options that become one candidate are duplicates)."""
    value = row.get(key)
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_CHOICES:
        raise AdvisorError(
            f"line {line}: '{key}' must be a list of 2 to {MAX_CHOICES} texts, got {_shown(value)}."
        )
    seen: dict[str, int] = {}
    for n, choice in enumerate(value):
        if not isinstance(choice, str) or not choice.strip():
            raise AdvisorError(
                f"line {line}: '{key}' entry {n} must be a non-empty string, got {_shown(choice)}."
            )
        if same(choice) in seen:
            raise AdvisorError(
                f"line {line}: '{key}' entries {seen[same(choice)]} and {n} are the same "
                f"({choice!r}); every choice must differ, or the gold answer is ambiguous."
            )
        seen[same(choice)] = n
    return value


def gold_field(row: dict[str, Any], choices: list[str], key: str, line: int) -> int:
    """``row["gold"]``, a choice's text or its index into ``choices`` (``key`` names them),
    as the index; an error naming the line otherwise."""
    gold = row.get("gold")
    if isinstance(gold, str):
        if gold not in choices:
            raise AdvisorError(f"line {line}: gold {gold!r} is not one of the {key} {choices}.")
        return choices.index(gold)
    if isinstance(gold, bool) or not isinstance(gold, int) or not 0 <= gold < len(choices):
        raise AdvisorError(
            f"line {line}: gold must be one of the {key} or an index into them "
            f"(0 to {len(choices) - 1}), got {_shown(gold)}."
        )
    return gold


def _shown(value: Any, most: int = 60) -> str:
    """A short repr of a user value for an error message."""
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."


def count_field(row: dict[str, Any], key: str, line: int, default: int, most: int = 4096) -> int:
    """``row[key]`` as a whole number in [1, ``most``] (``default`` when absent), or an error
    naming the line."""
    value = row.get(key, default)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value != int(value):
        raise AdvisorError(f"line {line}: '{key}' must be a whole number, got {value!r}.")
    if not 1 <= value <= most:
        raise AdvisorError(f"line {line}: '{key}' must be between 1 and {most}, got {value!r}.")
    return int(value)


@functools.cache
def wikipedia_passages() -> tuple[dict[str, Any], ...]:
    """The Wikipedia passages of :func:`advisor.suites.sources.wikipedia_passages`, read once."""
    return tuple(data.wikipedia_passages())


@functools.cache
def news_articles() -> tuple[dict[str, Any], ...]:
    """The news articles of :func:`advisor.suites.sources.news_articles`, read once."""
    return tuple(data.news_articles())


def load_spec(task: str) -> dict[str, Any]:
    """The human-readable spec of ``task`` (prompt templates, demonstrations, sizes)."""
    path = resource("data", "suites", f"{task}.json")
    if not path.is_file():
        raise AdvisorError(f"No suite spec for task '{task}' at {path}.")
    return json.loads(path.read_text(encoding="utf-8"))


def check_split(split: str) -> None:
    """Raise a clear error for an unknown split name."""
    if split not in SPLITS:
        raise AdvisorError(f"Unknown split '{split}'; use one of {', '.join(SPLITS)}.")


def split_units(units: Sequence[T], seed: int, salt: str) -> list[T]:
    """``units`` in a seeded, reproducible order (independent of Python's hash seed)."""
    order = list(units)
    random.Random(f"{salt}:{seed}").shuffle(order)
    return order


def take_split(
    groups: Iterable[Sequence[T]], sizes: dict[str, int], split: str, per_group: int
) -> list[T]:
    """Fill calibration first, then evaluation, from whole groups (e.g. articles).

    A group (all the candidate items of one article, say) is given to one split only, so
    the splits never share a source text. At most ``per_group`` items come from a group.
    """
    check_split(split)
    wanted = [sizes.get(s, 0) for s in SPLITS]
    chosen: list[list[T]] = [[] for _ in SPLITS]
    current = 0
    for group in groups:
        while current < len(SPLITS) and len(chosen[current]) >= wanted[current]:
            current += 1
        if current == len(SPLITS):
            break
        room = wanted[current] - len(chosen[current])
        chosen[current].extend(list(group)[: min(per_group, room)])
    return chosen[SPLITS.index(split)]


def units_of_split(
    units: Sequence[T], seed: int, salt: str, calibration: int, split: str
) -> list[T]:
    """Shuffle ``units`` (seeded) and give the first ``calibration`` to the calibration split,
    the rest to evaluation: a unit (an article, say) belongs to exactly one split."""
    check_split(split)
    order = split_units(units, seed, salt)
    return order[:calibration] if split == "calibration" else order[calibration:]


def fill_up(groups: Iterable[Sequence[T]], size: int, per_group: int) -> list[T]:
    """Up to ``size`` items, at most ``per_group`` from each group, in group order."""
    chosen: list[T] = []
    for group in groups:
        if len(chosen) >= size:
            break
        chosen.extend(list(group)[: min(per_group, size - len(chosen))])
    return chosen


_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "col", "lt", "sgt", "capt",
    "vs", "etc", "e.g", "i.e", "c", "ca", "no", "vol", "fig", "approx", "inc", "co", "ltd",
    "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "mt", "ft",
}  # fmt: skip
_BOUNDARY = re.compile(r"(?<=[.!?])(?P<close>[\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")


_EMPTY_PARENS = re.compile(r"\s*\([^\w]*\)")
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?])")


def tidy(text: str) -> str:
    """Remove the empty brackets and stray spaces left where wiki markup was stripped."""
    return " ".join(_SPACE_BEFORE.sub(r"\1", _EMPTY_PARENS.sub("", text)).split())


def sentences(text: str) -> list[str]:
    """Split prose into sentences (a small rule-based splitter; abbreviations are kept)."""
    text = tidy(text)
    out: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end("close")
        before = text[start:end].rstrip(".!?\"')]")
        last = before.split()[-1].lower() if before.split() else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        out.append(text[start:end].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]


def words(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())


def leading_sentences(parts: Sequence[str], max_words: int) -> list[str]:
    """The longest prefix of ``parts`` whose total length stays within ``max_words``."""
    kept: list[str] = []
    total = 0
    for part in parts:
        if total + words(part) > max_words:
            break
        kept.append(part)
        total += words(part)
    return kept


def fill(template: str, **values: Any) -> str:
    """``template`` with ``{name}`` fields filled (a thin, named wrapper over str.format)."""
    return template.format(**values)


def few_shot(demonstrations: Sequence[dict[str, Any]], template: str, separator: str) -> str:
    """The fixed demonstration block: each demonstration rendered, then the separator."""
    return "".join(fill(template, **demo) + separator for demo in demonstrations)
