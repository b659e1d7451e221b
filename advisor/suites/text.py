"""Prose helpers for building prompts: sentences, word counts, templates, demonstrations."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

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
