"""Summarization: a news article without its lead; the lead sentence is the reference."""

from __future__ import annotations

from typing import Any

from advisor.suites.common import Suite, fill_up, load_spec, news_articles, units_of_split
from advisor.suites.items import Item
from advisor.suites.rows import id_field, text_field
from advisor.suites.text import few_shot, fill, leading_sentences, sentences, words


def _item(spec: dict[str, Any], item_id: str, body: str, reference: str) -> Item:
    demos = few_shot(spec["demonstrations"], spec["template"] + spec["answer"], spec["separator"])
    return Item(
        id=item_id,
        task="summarization",
        prompt=demos + fill(spec["template"], body=body),
        reference=reference,
        meta={"max_new_tokens": spec["max_new_tokens"], "stop": list(spec["stop"])},
    )


def _lead_and_body(text: str, spec: dict[str, Any]) -> tuple[str, str] | None:
    parts = sentences(text)
    if len(parts) < 2 or not spec["min_lead_words"] <= words(parts[0]) <= spec["max_lead_words"]:
        return None
    body = " ".join(leading_sentences(parts[1:], spec["max_body_words"]))
    return (parts[0], body) if words(body) >= spec["min_body_words"] else None


def build(spec: dict[str, Any], split: str, seed: int) -> list[Item]:
    """News articles minus their lead, the lead as reference; an article in one split only."""
    articles = units_of_split(
        list(news_articles()), seed, "summarization", spec["calibration_units"], split
    )
    pairs = ([(a["id"], p)] for a in articles if (p := _lead_and_body(a["text"], spec)))
    return [
        _item(spec, f"summarization:news{uid}", body, lead)
        for uid, (lead, body) in fill_up(pairs, spec["sizes"][split], 1)
    ]


def from_row(row: dict[str, Any], line: int) -> Item:
    """A user row: text (to summarise) and reference (a reference summary)."""
    item = _item(
        load_spec("summarization"),
        id_field(row, line),
        text_field(row, "text", line),
        text_field(row, "reference", line),
    )
    item.meta.update(source="user", line=line)
    return item


SUITE = Suite(
    task="summarization",
    build=build,
    from_row=from_row,
    required=("text", "reference"),
    schema='{"text": "The council voted on Tuesday to ...", "reference": "The council '
    'approved the new budget."}  (prompted with the built-in template and demonstration)',
    prompt_fields=("text",),
    prompt_schema='{"prompt": "Summarize: The council voted on Tuesday to ...\\nSummary:", '
    '"reference": "The council approved the new budget."}  (your prompt used verbatim; '
    "stop and max_new_tokens optional)",
)
