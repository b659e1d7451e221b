"""Numbers in text: the final numeric answer of a model's output, and how a number is shown.

Shared by the suites (a math item's gold answer, read from its source) and the ground truth
(a model's answer, scored against it), so it sits below both.
"""

from __future__ import annotations

import re

_MARKED = (
    re.compile(r"####\s*(?P<n>[^\n]*)"),
    re.compile(r"\\boxed\{(?P<n>[^{}]*)\}"),
    re.compile(r"answer\s*(?:is|:|=)\s*(?P<n>[^\n]*)", re.IGNORECASE),
)
# A number as written: sign, currency, thousands separators, decimals and an exponent
# (``1e-5`` is one number, not 1 and then 5).
_NUMBER = re.compile(
    r"(?<![\w.])[-−]?(?:\$\s?)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+−]?\d+)?"
)


def _to_float(token: str) -> float:
    cleaned = token.replace("−", "-").replace("$", "").replace(",", "").replace(" ", "")
    return float(cleaned)


def _numbers(text: str) -> list[float]:
    return [_to_float(m.group(0)) for m in _NUMBER.finditer(text)]


def extract_final_number(text: str) -> float | None:
    """The final numeric answer in a model's output, or None.

    An explicitly marked answer wins: ``#### 42``, ``\\boxed{42}``, ``The answer is 42.``
    (the first number after the last marker); otherwise the last number in the text.
    Handles ``$1,234``, ``42.0``, ``-7``, ``1e-5`` and a trailing full stop.
    """
    for pattern in _MARKED:
        marked = list(pattern.finditer(text))
        if marked:
            found = _numbers(marked[-1].group("n"))
            if found:
                return found[0]
    found = _numbers(text)
    return found[-1] if found else None


def format_number(value: float) -> str:
    """42.0 -> '42', 2.5 -> '2.5': how an extracted number is shown and counted."""
    return str(int(value)) if float(value).is_integer() else str(value)
