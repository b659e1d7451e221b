"""Retrieval: a held-out sentence of a Wikipedia paragraph must find the rest of it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from advisor.errors import AdvisorError
from advisor.suites.common import Suite, fill_up, units_of_split, wikipedia_passages
from advisor.suites.items import Item
from advisor.suites.rows import id_field, text_field
from advisor.suites.text import leading_sentences, sentences, words

Pair = tuple[str, str, dict[str, Any]]  # query, document, meta


def _pairs(passage: dict[str, Any], spec: dict[str, Any]) -> list[Pair]:
    parts = sentences(passage["text"])
    document = leading_sentences(parts, spec["max_document_words"])
    if len(document) < spec["min_document_sentences"] or len(document) >= len(parts):
        return []
    query = parts[len(document)]
    if not spec["min_query_words"] <= words(query) <= spec["max_query_words"]:
        return []
    meta = {"passage_id": passage["id"], "title": passage["title"], "section": passage["section"]}
    return [(query, " ".join(document), meta)]


def corpus_items(pairs: list[Pair], k: list[int], prefix: str) -> list[Item]:
    """Items over one shared corpus: every query ranks all the documents of ``pairs``.

    The corpus lives in ``meta["corpus"]`` (not in ``candidates``: passages are ranked by
    embedding similarity, never scored as continuations); ``gold`` indexes it.
    """
    corpus = [document for _, document, _ in pairs]
    if len(set(corpus)) != len(corpus):
        raise AdvisorError("retrieval: two queries share the same document text.")
    return [
        Item(
            id=f"{prefix}{i}",
            task="retrieval",
            prompt=query,
            gold=i,
            meta={**meta, "corpus": corpus, "k": list(k), "corpus_size": len(corpus)},
        )
        for i, (query, _, meta) in enumerate(pairs)
    ]


def build(spec: dict[str, Any], split: str, seed: int) -> list[Item]:
    """Queries and one shared corpus of documents per split."""
    by_article: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in wikipedia_passages():
        by_article[p["article_id"]].append(p)
    articles = units_of_split(
        sorted(by_article), seed, "retrieval:articles", spec["calibration_articles"], split
    )
    groups = ([pair for p in by_article[a] for pair in _pairs(p, spec)] for a in articles)
    # the calibration split takes more per article: its articles are few (retrieval.json)
    pairs = fill_up(groups, spec["sizes"][split], spec["per_article"][split])
    return corpus_items(pairs, spec["k"], f"retrieval:{split}:{seed}:")


def from_row(row: dict[str, Any], line: int) -> Item:
    """A user row: query and the passage it should find (the corpus is all rows' passages)."""
    return Item(
        id=id_field(row, line),
        task="retrieval",
        prompt=text_field(row, "query", line),
        meta={"source": "user", "line": line, "corpus": [text_field(row, "passage", line)]},
    )


def link_corpus(items: list[Item], spec: dict[str, Any]) -> list[Item]:
    """Turn one-passage user items into items that all rank the full corpus of passages."""
    seen: dict[str, int] = {}
    for item in items:
        passage, line = item.meta["corpus"][0], item.meta["line"]
        if passage in seen:
            raise AdvisorError(
                f"line {line}: the same passage as line {seen[passage]}. Every query needs "
                f"its own passage (the corpus is the passages of all rows)."
            )
        seen[passage] = line
    pairs = [(i.prompt, i.meta["corpus"][0], dict(i.meta)) for i in items]
    linked = corpus_items(pairs, spec["k"], "retrieval:user:")
    return [replace(new, id=orig.id) for orig, new in zip(items, linked, strict=True)]


SUITE = Suite(
    task="retrieval",
    build=build,
    from_row=from_row,
    required=("query", "passage"),
    schema='{"query": "Who wrote Hamlet?", "passage": "Hamlet is a tragedy written by '
    'William Shakespeare ..."}  (every query ranks the passages of all rows)',
    finish=link_corpus,
)
