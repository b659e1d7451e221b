"""Item-level scores, as small pure functions (no model needed).

* math: :func:`advisor.numbers.extract_final_number` and :func:`numbers_match` (exact
  match on the number);
* rag: :func:`span_match` (the gold span appears in the answer) and :func:`token_f1`;
* generation / summarization: :func:`chrf` against the reference;
* retrieval: :func:`recall_at_k`.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def numbers_match(predicted: float | None, gold: float, tolerance: float = 1e-6) -> bool:
    """True when the extracted number equals the gold number (42 == 42.0)."""
    return predicted is not None and math.isclose(predicted, gold, abs_tol=tolerance)


def normalise_answer(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces.

    Hyphens and dashes separate words first ("0.4-meter" -> "04 meter").
    """
    text = re.sub(r"[-–—]", " ", text.lower())
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return " ".join(_ARTICLES.sub(" ", text).split())


def first_line(text: str) -> str:
    """The answer part of a short generated answer: its first non-empty line."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def span_match(answer: str, gold: str) -> bool:
    """True when the normalised gold span occurs, as whole words, in the answer's first line."""
    gold_words = normalise_answer(gold).split()
    answer_words = normalise_answer(first_line(answer)).split()
    if not gold_words:
        return False
    n = len(gold_words)
    return any(answer_words[i : i + n] == gold_words for i in range(len(answer_words) - n + 1))


def token_f1(answer: str, gold: str) -> float:
    """SQuAD-style word-overlap F1 between the answer's first line and the gold span."""
    predicted = normalise_answer(first_line(answer)).split()
    reference = normalise_answer(gold).split()
    common = sum((Counter(predicted) & Counter(reference)).values())
    if not predicted or not reference or common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def _char_ngrams(text: str, n: int) -> Counter[str]:
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def chrf(hypothesis: str, reference: str, order: int = 6, beta: float = 2.0) -> float:
    """Character n-gram F-score (chrF, Popović 2015), on a 0–1 scale.

    Whitespace is removed; for each order n = 1..``order`` the clipped n-gram matches give
    a precision and a recall; both are averaged over the orders that both strings are long
    enough to have, and combined as F-beta (beta = 2 weighs recall twice as much).
    """
    hyp, ref = "".join(hypothesis.split()), "".join(reference.split())
    precisions, recalls = [], []
    for n in range(1, order + 1):
        hyp_grams, ref_grams = _char_ngrams(hyp, n), _char_ngrams(ref, n)
        if not hyp_grams or not ref_grams:
            continue
        matches = sum((hyp_grams & ref_grams).values())
        precisions.append(matches / sum(hyp_grams.values()))
        recalls.append(matches / sum(ref_grams.values()))
    if not precisions:
        return 1.0 if hyp == ref else 0.0
    precision = sum(precisions) / len(precisions)
    recall = sum(recalls) / len(recalls)
    if precision == 0 and recall == 0:
        return 0.0
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


def recall_at_k(ranking: Sequence[int], gold: int, k: int) -> float:
    """1.0 when ``gold`` is among the first ``k`` entries of ``ranking``, else 0.0."""
    return 1.0 if gold in list(ranking)[:k] else 0.0
