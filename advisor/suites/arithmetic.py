"""Math: few-shot one-digit arithmetic (procedural) and GSM8K word problems."""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Callable
from typing import Any

from advisor.numbers import format_number
from advisor.suites import sources as data
from advisor.suites.common import Suite, load_spec, split_units, units_of_split
from advisor.suites.items import Item
from advisor.suites.rows import id_field, number_field, text_field
from advisor.suites.text import few_shot, fill

_OPS: dict[str, Callable[[int, int], int]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}


def mode_share(answers: list[float]) -> float:
    """Share of the most common answer: the accuracy of always giving that answer."""
    return Counter(answers).most_common(1)[0][1] / len(answers) if answers else 0.0


def _item(cfg: dict[str, Any], item_id: str, fields: dict[str, Any], answer: float) -> Item:
    demos = few_shot(cfg["demonstrations"], cfg["template"] + cfg["answer"], cfg["separator"])
    return Item(
        id=item_id,
        task="math",
        prompt=demos + fill(cfg["template"], **fields),
        reference=format_number(answer),
        meta={
            "answer": float(answer),
            "max_new_tokens": cfg["max_new_tokens"],
            "stop": list(cfg["stop"]),
        },
    )


def arithmetic_problems(cfg: dict[str, Any]) -> list[tuple[int, str, int, int]]:
    """Every (a, op, b, answer) of the spec (subtraction only where a > b)."""
    low, high = cfg["operands"]
    problems = []
    operands = range(low, high + 1)
    for op, a, b in itertools.product(cfg["operators"], operands, operands):
        if op != "-" or a > b:
            problems.append((a, op, b, _OPS[op](a, b)))
    return problems


def _arithmetic(cfg: dict[str, Any], split: str, seed: int, size: int) -> list[Item]:
    problems = arithmetic_problems(cfg)
    chance = mode_share([float(p[3]) for p in problems])
    chosen = units_of_split(problems, seed, "math:arithmetic", cfg["calibration_units"], split)
    items = []
    for a, op, b, answer in chosen[:size]:
        item = _item(cfg, f"math:arithmetic:{a}{op}{b}", {"a": a, "op": op, "b": b}, answer)
        item.meta.update(source="arithmetic", chance=chance)
        items.append(item)
    return items


def _gsm8k(cfg: dict[str, Any], split: str, seed: int, size: int) -> list[Item]:
    rows = data.gsm8k_rows()
    chance = mode_share([r["answer"] for r in rows])
    chosen = units_of_split(rows, seed, "math:gsm8k", cfg["calibration_units"], split)
    items = []
    for row in chosen[:size]:
        item = _item(cfg, f"math:gsm8k:{row['id']}", {"question": row["question"]}, row["answer"])
        item.meta.update(source="gsm8k", chance=chance)
        items.append(item)
    return items


def build(spec: dict[str, Any], split: str, seed: int) -> list[Item]:
    """Arithmetic and GSM8K items; a problem belongs to one split only."""
    sizes = spec["sizes"][split]
    items = _arithmetic(spec["arithmetic"], split, seed, sizes.get("arithmetic", 0))
    if sizes.get("gsm8k", 0):
        items += _gsm8k(spec["gsm8k"], split, seed, sizes["gsm8k"])
    return split_units(items, seed, "math:order")


def from_row(row: dict[str, Any], line: int) -> Item:
    """A user row: question and answer (a number); prompted like the GSM8K items."""
    answer = number_field(row, "answer", line)
    cfg = load_spec("math")["gsm8k"]
    item_id = id_field(row, line)
    item = _item(cfg, item_id, {"question": text_field(row, "question", line)}, answer)
    item.meta.update(source="user", line=line)
    return item


def finish_user(items: list[Item], spec: dict[str, Any]) -> list[Item]:
    """Give every user item the chance rate of its source, as the built-in sources have:
    the share of the most common gold answer in the file (always giving that answer is
    right that often). Without it a user suite had chance 0 and any success passed the
    competence gate's "above chance" test."""
    chance = mode_share([item.meta["answer"] for item in items])
    for item in items:
        item.meta["chance"] = chance
    return items


SUITE = Suite(
    task="math",
    build=build,
    from_row=from_row,
    finish=finish_user,
    required=("question", "answer"),
    schema='{"question": "Ann has 3 pens and buys 4 more. How many pens does she have?", '
    '"answer": 7}  (prompted like the GSM8K items; scored on the final number)',
    prompt_fields=("question",),
    prompt_schema='{"prompt": "Calculate 40 minus 12.\\nResult:", "answer": 28, "stop": '
    '["\\n"], "max_new_tokens": 5}  (your prompt used verbatim; stop and max_new_tokens '
    "optional; scored on the final number)",
)
