"""Multiple choice: Wikipedia cloze items (next sentence, next word) and GPQA-Diamond.

Every question yields two Items: the ``options`` view (option texts scored as
continuations) and the ``letters`` view (A–D after a listing of the options).
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from typing import Any

from advisor.suites import sources
from advisor.suites.common import (
    Suite,
    fill_up,
    split_units,
    take_split,
    units_of_split,
    wikipedia_passages,
)
from advisor.suites.items import Item
from advisor.suites.rows import choices_field, gold_field, id_field, text_field
from advisor.suites.text import fill, sentences, words

Question = dict[str, Any]  # source, uid, context fields, options (gold first)
_WORD = re.compile(r"^[A-Za-z]+$")
_COMMON = set(
    "about above after again along also among another around because before being below "
    "between could during every first other their there these those through under until "
    "where which while would should since still though whose within without".split()
)


def _article_paragraphs() -> dict[int, list[list[str]]]:
    """Each article's paragraphs as sentence lists, keyed by article id."""
    paragraphs: dict[int, list[list[str]]] = defaultdict(list)
    for p in wikipedia_passages():
        paragraphs[p["article_id"]].append(sentences(p["text"]))
    return paragraphs


def _next_sentence(
    article: int, paras: list[list[str]], cfg: dict[str, Any], rng: random.Random
) -> list[Question]:
    fits = [
        s for para in paras for s in para
        if cfg["min_option_words"] <= words(s) <= cfg["max_option_words"]
    ]  # fmt: skip
    questions = []
    k = cfg["context_sentences"]
    for pi, para in enumerate(paras):
        if len(para) <= k:
            continue
        context, true = " ".join(para[:k]), para[k]
        if words(context) > cfg["max_context_words"] or true not in fits:
            continue
        others = [s for s in fits if s not in para]
        if len(set(others)) < 3:
            continue
        distractors = rng.sample(sorted(set(others)), 3)
        questions.append(
            {
                "source": "next_sentence",
                "uid": f"a{article}p{pi}",
                "fields": {"context": context},
                "options": [true, *distractors],
            }
        )
    return questions


def _blanked_word(
    article: int, paras: list[list[str]], cfg: dict[str, Any], rng: random.Random
) -> list[Question]:
    def candidate(w: str) -> bool:
        return bool(_WORD.match(w)) and len(w) >= cfg["min_word_length"] and w not in _COMMON

    vocabulary = sorted({w for para in paras for s in para for w in s.split() if candidate(w)})
    questions = []
    for pi, para in enumerate(paras):
        for si, sentence in enumerate(para):
            tokens = sentence.split()
            if len(tokens) > cfg["max_sentence_words"]:
                continue
            spots = [
                i for i in range(cfg["min_prefix_words"], len(tokens))
                if candidate(tokens[i]) and tokens.count(tokens[i]) == 1
            ]  # fmt: skip
            if not spots:
                continue
            spot = spots[len(spots) // 2]
            target = tokens[spot]
            same_case = [
                w for w in vocabulary
                if w not in tokens and w[0].isupper() == target[0].isupper()
            ]  # fmt: skip
            if len(same_case) < 3:
                continue
            questions.append(
                {
                    "source": "blanked_word",
                    "uid": f"a{article}p{pi}s{si}",
                    "fields": {"context": " ".join(tokens[:spot])},
                    "options": [target, *rng.sample(same_case, 3)],
                }
            )
            break  # one per paragraph
    return questions


def _gpqa_rows() -> list[dict[str, str]]:
    """GPQA-Diamond rows from the installed package (read at run time, never committed)."""
    path = sources.bench_dataset_file("gpqa/gpqa_diamond.csv", "GPQA-Diamond")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _gpqa(seed: int, sizes: dict[str, int], split: str) -> list[Question]:
    rows = list(enumerate(_gpqa_rows()))
    chosen = take_split(([r] for r in split_units(rows, seed, "gpqa")), sizes, split, 1)
    return [
        {
            "source": "gpqa",
            "uid": f"q{i}",
            "fields": {"question": " ".join(row["Question"].split())},
            "options": [
                " ".join(row[key].split())
                for key in ("Correct Answer", *(f"Incorrect Answer {n}" for n in (1, 2, 3)))
            ],
        }
        for i, row in chosen
    ]


def balanced_positions(count: int, options: int, seed: int, salt: str) -> list[int]:
    """Gold positions for ``count`` questions: each position equally often, in seeded order.

    A balanced answer key keeps a constant answer ("always A") at chance, so the
    competence gate can tell it apart from real skill.
    """
    positions = [n % options for n in range(count)]
    random.Random(f"{salt}:{seed}").shuffle(positions)
    return positions


def _views(q: Question, spec: dict[str, Any], seed: int, gold: int) -> list[Item]:
    cfg = spec[q["source"]]
    distractors = list(q["options"][1:])
    random.Random(f"mc:{q['source']}:{q['uid']}:{seed}").shuffle(distractors)
    options = [*distractors[:gold], q["options"][0], *distractors[gold:]]
    base = f"multiple-choice:{q['source']}:{q['uid']}"
    meta = {"source": q["source"], "question_id": base}
    items = []
    if "options" in spec["views"]:
        items.append(
            Item(
                id=f"{base}:options",
                task="multiple-choice",
                prompt=fill(cfg["options_prompt"], **q["fields"]),
                candidates=tuple(" " + o for o in options),
                candidate_mode=spec["task_type"]["candidate_mode"],
                gold=gold,
                meta={**meta, "view": "options"},
            )
        )
    if "letters" in spec["views"]:
        letters = dict(zip("ABCD", options, strict=False))
        items.append(
            Item(
                id=f"{base}:letters",
                task="multiple-choice",
                prompt=fill(cfg["letters_prompt"], **q["fields"], **letters),
                candidates=tuple(spec["letters"][: len(options)]),
                candidate_mode="tokens",
                gold=gold,
                meta={**meta, "view": "letters"},
            )
        )
    return items


def build(spec: dict[str, Any], split: str, seed: int) -> list[Item]:
    """Both views of each question; Wikipedia articles never shared between splits."""
    paragraphs = _article_paragraphs()
    articles = units_of_split(
        sorted(paragraphs), seed, "mc:articles", spec["calibration_articles"], split
    )
    questions: list[Question] = []
    for source, make in (("next_sentence", _next_sentence), ("blanked_word", _blanked_word)):
        groups = (
            make(a, paragraphs[a], spec[source], random.Random(f"mc:{source}:{a}:{seed}"))
            for a in articles
        )
        # the calibration split takes more per article: its articles are few (a larger
        # calibration suite narrows the exact bounds, docs/design.md §5h)
        per_article = spec["per_article"][split]
        questions += fill_up(groups, spec["sizes"][split].get(source, 0), per_article)
    gpqa_sizes = {s: spec["sizes"][s].get("gpqa", 0) for s in spec["sizes"]}
    if any(gpqa_sizes.values()):
        questions += _gpqa(seed, gpqa_sizes, split)
    items = []
    for source in ("next_sentence", "blanked_word", "gpqa"):
        group = [q for q in questions if q["source"] == source]
        golds = balanced_positions(len(group), 4, seed, f"mc:{source}:{split}")
        items += [
            item for q, g in zip(group, golds, strict=True) for item in _views(q, spec, seed, g)
        ]
    return items


def _candidate(option: str) -> str:
    """An option's text as the continuation scored after the question."""
    return " " + option.lstrip()


def from_row(row: dict[str, Any], line: int) -> Item:
    """A user row: question, options (list of distinct texts), gold (index or option text)."""
    options = choices_field(row, "options", line, same=_candidate)
    return Item(
        id=id_field(row, line),
        task="multiple-choice",
        prompt=text_field(row, "question", line),
        candidates=tuple(_candidate(o) for o in options),
        candidate_mode="continuation",
        gold=gold_field(row, options, "options", line),
        meta={"source": "user", "line": line, "view": "options"},
    )


SUITE = Suite(
    task="multiple-choice",
    build=build,
    from_row=from_row,
    required=("question", "options", "gold"),
    schema='{"question": "The capital of France is", "options": ["Paris", "Rome", '
    '"Oslo", "Bern"], "gold": 0}  (options scored as continuations; gold: index or text)',
)
