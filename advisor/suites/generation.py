"""Generation: continue the opening of a real news or encyclopedia text."""

from __future__ import annotations

from typing import Any

from advisor.suites.common import Suite, fill_up, news_articles, units_of_split, wikipedia_passages
from advisor.suites.items import Item
from advisor.suites.rows import count_field, id_field, text_field
from advisor.suites.text import fill, leading_sentences, sentences, words


def _texts(source: str) -> list[tuple[str, str]]:
    """(unit id, text) of a source: one text per news article or Wikipedia article."""
    if source == "news":
        return [(f"news{r['id']}", r["text"]) for r in news_articles()]
    first: dict[int, tuple[str, str]] = {}
    for p in wikipedia_passages():
        first.setdefault(p["article_id"], (f"wiki{p['id']}", p["text"]))
    return [first[a] for a in sorted(first)]


def _split_text(text: str, spec: dict[str, Any]) -> tuple[str, str] | None:
    parts = sentences(text)
    opening = leading_sentences(parts, spec["max_prompt_words"])
    prompt = " ".join(opening)
    rest = " ".join(parts[len(opening) :]).split()
    if words(prompt) < spec["min_prompt_words"] or len(rest) < spec["reference_words"]:
        return None
    return prompt, " ".join(rest[: spec["reference_words"]])


def build(spec: dict[str, Any], split: str, seed: int) -> list[Item]:
    """Openings and their real continuations; a text is in one split only."""
    items = []
    for source, share in spec["shares"].items():
        units = units_of_split(
            _texts(source), seed, f"generation:{source}", spec["calibration_units"][source], split
        )
        pairs = ([(uid, p)] for uid, text in units if (p := _split_text(text, spec)))
        for uid, (opening, reference) in fill_up(pairs, round(spec["sizes"][split] * share), 1):
            items.append(
                Item(
                    id=f"generation:{uid}",
                    task="generation",
                    prompt=fill(spec["template"], text=opening),
                    reference=reference,
                    meta={"source": source, "max_new_tokens": spec["max_new_tokens"]},
                )
            )
    return items


def from_row(row: dict[str, Any], line: int) -> Item:
    """A user row: prompt (the text to continue) and reference (its real continuation)."""
    return Item(
        id=id_field(row, line),
        task="generation",
        prompt=text_field(row, "prompt", line),
        reference=text_field(row, "reference", line),
        meta={
            "source": "user",
            "line": line,
            "max_new_tokens": count_field(row, "max_new_tokens", line, default=32),
        },
    )


SUITE = Suite(
    task="generation",
    build=build,
    from_row=from_row,
    required=("prompt", "reference"),
    schema='{"prompt": "The storm reached the coast on Monday", "reference": "and cut power '
    'to thousands of homes ...", "max_new_tokens": 32}  (max_new_tokens optional)',
)
