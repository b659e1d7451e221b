"""Classification: few-shot label words (movie-review polarity; news vs encyclopedia text)."""

from __future__ import annotations

from typing import Any

from advisor.errors import AdvisorError
from advisor.suites import sources as data
from advisor.suites.common import Suite, news_articles, split_units, take_split, wikipedia_passages
from advisor.suites.items import Item
from advisor.suites.rows import choices_field, gold_field, id_field, text_field
from advisor.suites.text import few_shot, fill, leading_sentences, sentences


def _labelled_texts(name: str, label_set: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source id, text, source label) for a label set's source."""
    if name == "sentiment":
        return [(f"review{r['id']}", r["text"], r["label"]) for r in data.movie_reviews_rows()]
    if name == "source":
        limit = label_set["max_words"]
        rows = []
        for r in news_articles():
            lead = " ".join(leading_sentences(sentences(r["text"]), limit))
            if lead:
                rows.append((f"news{r['id']}", lead, "news"))
        seen: set[int] = set()
        for p in wikipedia_passages():
            lead = " ".join(leading_sentences(sentences(p["text"]), limit))
            if lead and p["article_id"] not in seen:  # one passage per article
                seen.add(p["article_id"])
                rows.append((f"wiki{p['id']}", lead, "wikipedia"))
        return rows
    raise AdvisorError(f"classification: unknown label set '{name}'.")


def _item(label_set: dict[str, Any], mode: str, uid: str, text: str, label: str) -> Item:
    words = list(label_set["labels"].values())
    answer = label_set["answer"]
    demos = [{"text": d["text"], "label": d["label"]} for d in label_set["demonstrations"]]
    demo_block = few_shot(demos, label_set["template"] + answer, label_set["separator"])
    return Item(
        id=f"classification:{label_set['name']}:{uid}",
        task="classification",
        prompt=demo_block + fill(label_set["template"], text=text),
        candidates=tuple(fill(answer, label=w) for w in words),
        candidate_mode=mode,  # type: ignore[arg-type]
        gold=words.index(label_set["labels"][label]),
        meta={"label_set": label_set["name"], "source_id": uid},
    )


def build(spec: dict[str, Any], split: str, seed: int) -> list[Item]:
    """Balanced items per label set and label; texts never shared between splits."""
    items: list[Item] = []
    for label_set in spec["label_sets"]:
        name = label_set["name"]
        rows = _labelled_texts(name, label_set)
        per_label = len(label_set["labels"])
        for label in label_set["labels"]:
            pool = [r for r in rows if r[2] == label]
            share = label_set["share"] / per_label
            sizes = {s: round(n * share) for s, n in spec["sizes"].items()}
            order = split_units(pool, seed, f"classification:{name}:{label}")
            chosen = take_split(([r] for r in order), sizes, split, per_group=1)
            if split == "calibration":  # more calibration texts, taken after the evaluation
                # split's so that growing the calibration suite never moves an evaluation text
                start = sizes["calibration"] + sizes["evaluation"]
                chosen += order[start : start + round(spec["calibration_after_evaluation"] * share)]
            items += [_item(label_set, spec["task_type"]["candidate_mode"], *row) for row in chosen]
    return split_units(items, seed, "classification:order")


def from_row(row: dict[str, Any], line: int) -> Item:
    """A user row: prompt, labels (distinct label words), gold (index or label word)."""
    labels = choices_field(row, "labels", line)
    gold = gold_field(row, labels, "labels", line)
    mode = row.get("candidate_mode", "continuation")
    if mode not in ("tokens", "continuation"):
        raise AdvisorError(f"line {line}: candidate_mode must be 'tokens' or 'continuation'.")
    return Item(
        id=id_field(row, line),
        task="classification",
        prompt=text_field(row, "prompt", line),
        candidates=tuple(labels),
        candidate_mode=mode,
        gold=gold,
        meta={"source": "user", "line": line},
    )


SUITE = Suite(
    task="classification",
    build=build,
    from_row=from_row,
    required=("prompt", "labels", "gold"),
    schema='{"prompt": "Review: great film\\nSentiment:", "labels": [" positive", '
    '" negative"], "gold": " positive"}  (gold: a label or its index)',
)
