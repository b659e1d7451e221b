"""Reading one row of a user's suite file: each field checked, each error naming the line."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from advisor.errors import AdvisorError


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


# A number as a person writes one: sign, digits (thousands may be grouped by commas), a
# fraction, an exponent. Nothing else around it: "7 pens" or "about 7" is not a gold answer.
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?")


def number_field(row: dict[str, Any], key: str, line: int) -> float:
    """``row[key]`` as the exact number it writes (a JSON number, or a string holding only
    a number, as CSV gives), or an error naming the line.

    Never read through the model-output extractor: that reads the final number in a text,
    so ``1e-5`` became 5 and ``1e20`` became 20. A whole number too large for a float to
    hold exactly, NaN and infinities are refused too: the gold would not be the number
    written."""
    value = row.get(key)
    number: float | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = float(value) if abs(value) <= 2**53 or int(float(value)) == value else None
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str) and re.search(r"\d", value) and _NUMBER.fullmatch(value.strip()):
        number = float(value.strip().replace(",", ""))
    if number is None or not math.isfinite(number):
        raise AdvisorError(
            f"line {line}: '{key}' must be a number written exactly (e.g. 7, -2.5, 1,234 or "
            f"1e-5), got {_shown(value)}."
        )
    return number
