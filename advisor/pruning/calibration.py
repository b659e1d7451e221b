"""Seeded calibration (and held-out) token batches cut from real Wikipedia articles.

The articles are split once, by article id, into a calibration pool (3 of every 4
articles) and a held-out pool (the 4th), so text used to choose what to prune is never the
text used to judge the pruned model.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from advisor.errors import AdvisorError
from advisor.suites.sources import wikipedia_articles_rows

MINIBATCH = 4
SPLITS = ("calibration", "heldout")


@dataclass(frozen=True)
class Calibration:
    """A fixed set of token sequences, shape (samples, length), and how it was made."""

    input_ids: torch.Tensor
    seed: int
    split: str
    source: str
    hash: str

    @property
    def tokens(self) -> int:
        return self.input_ids.numel()

    def batches(self, size: int = MINIBATCH) -> Iterator[torch.Tensor]:
        """Minibatches of whole sequences, so memory stays small on a CPU."""
        yield from self.input_ids.split(size)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready record for manifests."""
        samples, length = self.input_ids.shape
        return {
            "samples": samples,
            "length": length,
            "tokens": self.tokens,
            "seed": self.seed,
            "split": self.split,
            "source": self.source,
            "hash": self.hash,
        }


@functools.lru_cache(maxsize=2)
def _pool(split: str) -> tuple[str, ...]:

    articles = wikipedia_articles_rows()
    if split == "calibration":
        return tuple(a["text"] for a in articles if a["id"] % 4 != 0)
    return tuple(a["text"] for a in articles if a["id"] % 4 == 0)


def _prefix(tokenizer: Any) -> list[int]:
    """The special tokens the tokenizer puts at the start of a text (e.g. Gemma's <bos>)."""
    return list(tokenizer("", add_special_tokens=True)["input_ids"])


def check_size(samples: int, length: int) -> None:
    """Refuse a calibration size no method can use (before any model loads)."""
    if samples < 1 or length < 8:
        raise AdvisorError(
            f"Calibration needs at least 1 sample of at least 8 tokens (got {samples} x "
            f"{length}); pass larger --calib-samples / --calib-len."
        )


def token_batches(
    tokenizer: Any, samples: int, length: int, seed: int = 0, split: str = "calibration"
) -> Calibration:
    """``samples`` sequences of ``length`` tokens from one split of the Wikipedia articles.

    Articles are shuffled with ``seed``, joined into one token stream (separated by the
    end-of-sequence token) and cut into consecutive windows; each window starts with the
    tokenizer's own start tokens, as a normal prompt would.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    check_size(samples, length)
    prefix = _prefix(tokenizer)
    body = length - len(prefix)
    texts = list(_pool(split))
    random.Random(seed).shuffle(texts)
    separator = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    stream: list[int] = []
    for text in texts:
        if len(stream) >= samples * body:
            break
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + separator
    if len(stream) < samples * body:
        raise AdvisorError(
            f"The {split} text holds only {len(stream):,} tokens, fewer than the "
            f"{samples} x {length} requested; lower --calib-samples or --calib-len."
        )
    rows = [prefix + stream[i * body : (i + 1) * body] for i in range(samples)]
    input_ids = torch.tensor(rows, dtype=torch.long)
    digest = hashlib.sha256(input_ids.numpy().tobytes() + str(input_ids.shape).encode())
    return Calibration(
        input_ids=input_ids,
        seed=seed,
        split=split,
        source="Wikipedia (gensim extract), articles with id % 4 "
        + ("!= 0" if split == "calibration" else "== 0"),
        hash=digest.hexdigest()[:16],
    )
