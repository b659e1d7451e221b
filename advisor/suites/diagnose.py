"""Why your suite may say little: the dense model's own answers, read for the usual causes.

A generative row of your suite (``--data``) is decoded greedily up to its ``max_new_tokens``
and cut at its first ``stop`` string. When many of the dense model's answers come back
empty, identical, or cut by the token limit, the competence gate can only say "not clearly
above chance"; these hints say why, and what to change in the file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from advisor.suites.items import Item

# A cause is named when it touches at least this share of the answers (and two of them).
SHARE = 0.2


def _many(count: int, total: int) -> bool:
    return count >= 2 and count >= SHARE * total


def suite_hints(items: list[Item], results: list[Any], tokenizer: Any = None) -> list[str]:
    """Hints about the dense model's answers to ``items`` (its ``ItemResult``s, whose
    ``output`` is the decoded text cut at the stop strings; None for choice tasks).
    ``tokenizer`` (the dense model's) lets an answer cut by ``max_new_tokens`` be told."""
    pairs = [(i, r.output) for i, r in zip(items, results, strict=True) if r.output is not None]
    total, hints = len(pairs), []
    if not total:
        return hints
    empty = [i for i, text in pairs if not text.strip()]
    if _many(len(empty), total):
        stops = sorted({s for i in empty for s in i.meta.get("stop", [])})
        swap = " (e.g. '\\n\\n' instead of '\\n')" if "\n" in stops else ""
        hints.append(
            f"{len(empty)} of {total} dense answers are empty. "
            + (
                f"Where the continuation begins with a stop string ({', '.join(map(repr, stops))})"
                f", the answer is cut before its first word: use stop strings that end an "
                f"answer but cannot begin one{swap}, and end each prompt where the answer's "
                f"first word belongs."
                if stops
                else "The model ends its text at once: end each prompt where the answer "
                "begins (e.g. with 'Answer:')."
            )
        )
    texts = Counter(text.strip() for _, text in pairs if text.strip())
    if texts:
        text, count = texts.most_common(1)[0]
        if _many(count, total) and count > total / 2:
            hints.append(
                f"{count} of {total} dense answers are the same text ({text[:40]!r}): the "
                f"prompts may not reach the question, or a demonstration's answer is being "
                f"repeated; read a few prompts as the model sees them."
            )
    if tokenizer is not None:
        cut = [
            i
            for i, text in pairs
            if text.strip()
            and len(tokenizer(text, add_special_tokens=False)["input_ids"])
            >= int(i.meta.get("max_new_tokens", 32)) - 1
        ]
        if _many(len(cut), total):
            limit = max(int(i.meta.get("max_new_tokens", 32)) for i in cut)
            hints.append(
                f"{len(cut)} of {total} dense answers ran to max_new_tokens ({limit}) without "
                f"reaching a stop string: raise max_new_tokens in those rows, or add a stop "
                f"string where an answer ends."
            )
    return hints
