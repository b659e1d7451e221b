"""RAG: a passage in context, a fill-in-the-blank question on it, a short gold span."""

from __future__ import annotations

import dataclasses
import random
import re
from collections import defaultdict
from typing import Any

from advisor.errors import AdvisorError
from advisor.suites.common import Suite, fill_up, load_spec, units_of_split, wikipedia_passages
from advisor.suites.items import Item
from advisor.suites.rows import id_field, text_field
from advisor.suites.text import few_shot, fill, leading_sentences, sentences

_SPAN = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b|\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2}\b")


def random_span_chance(context: str, answer: str) -> float:
    """Chance of the answer when copying a uniformly random span of its length (in words)
    from ``context`` (the passage, or a user's whole prompt): the share of such spans that
    are the answer, counting it once where it does not occur (a closed-book question must
    not get chance 0, which any single success would pass)."""
    words, wanted = context.split(), answer.split()
    n = max(1, len(wanted))
    spans = max(1, len(words) - n + 1)
    hits = sum(words[k : k + n] == wanted for k in range(spans))
    return min(1.0, max(1, hits) / spans)


def with_own_prompt(item: Item) -> Item:
    """A user row whose ``prompt`` holds the passage: chance is read from that prompt (its
    template fields were placeholders, so the passage-based chance meant nothing)."""
    meta = {
        **item.meta,
        "passage": None,
        "chance": random_span_chance(item.prompt, item.reference or ""),
    }
    return dataclasses.replace(item, meta=meta)


def _item(
    spec: dict[str, Any], item_id: str, passage: str, question: str, answer: str, template: str
) -> Item:
    demos = few_shot(spec["demonstrations"], spec["template"] + spec["answer"], spec["separator"])
    prefix = question.split("___")[0].rstrip()
    return Item(
        id=item_id,
        task="rag",
        prompt=demos + fill(template, passage=passage, question=question, answer_prefix=prefix),
        reference=answer,
        meta={
            "passage": passage,
            "question": question,
            "chance": random_span_chance(passage, answer),
            "max_new_tokens": spec["max_new_tokens"],
            "stop": list(spec["stop"]),
        },
    )


def _questions(passage: dict[str, Any], spec: dict[str, Any], seed: int) -> list[Item]:
    parts = leading_sentences(sentences(passage["text"]), spec["max_passage_words"])
    if len(parts) < spec["min_passage_sentences"]:
        return []
    text = " ".join(parts)
    rng = random.Random(f"rag:{passage['id']}:{seed}")
    found = []
    for si, sentence in enumerate(parts[1:], start=1):
        spans = [
            m for m in _SPAN.finditer(sentence)
            if m.start() > 0 and text.count(m.group(0)) == 1
        ]  # fmt: skip
        if spans:
            m = rng.choice(spans)
            question = sentence[: m.start()] + "___" + sentence[m.end() :]
            uid = f"rag:p{passage['id']}s{si}"
            found.append(_item(spec, uid, text, question, m.group(0), spec["template"]))
    return found[:1]  # one question per passage


def build(spec: dict[str, Any], split: str, seed: int) -> list[Item]:
    """Questions from Wikipedia passages; articles never shared between splits."""
    by_article: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in wikipedia_passages():
        by_article[p["article_id"]].append(p)
    articles = units_of_split(
        sorted(by_article), seed, "rag:articles", spec["calibration_articles"], split
    )
    groups = ([q for p in by_article[a] for q in _questions(p, spec, seed)] for a in articles)
    return fill_up(groups, spec["sizes"][split], spec["per_article"])


def from_row(row: dict[str, Any], line: int) -> Item:
    """A user row: passage, question, answer (a short span, ideally found in the passage)."""
    answer = row.get("answer")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise AdvisorError(f"line {line}: 'answer' must be a non-empty string or a number.")
    spec = load_spec("rag")
    item = _item(
        spec,
        id_field(row, line),
        text_field(row, "passage", line),
        text_field(row, "question", line),
        answer.strip(),
        spec["user_template"],
    )
    item.meta.update(source="user", line=line)
    return item


SUITE = Suite(
    task="rag",
    build=build,
    from_row=from_row,
    required=("passage", "question", "answer"),
    schema='{"passage": "The Eiffel Tower ... completed in 1889 ...", "question": '
    '"When was the tower completed?", "answer": "1889"}  (prompted with the built-in '
    "demonstration; scored by span match)",
    prompt_fields=("passage", "question"),
    with_own_prompt=with_own_prompt,
    prompt_schema='{"prompt": "Context: The Eiffel Tower ... completed in 1889 ...\\nQ: When '
    'was the tower completed?\\nA:", "answer": "1889", "stop": ["\\n"], "max_new_tokens": 8}  '
    "(your prompt used verbatim; stop and max_new_tokens optional; scored by span match)",
)
