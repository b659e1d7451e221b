"""Reusing a model's prompt passes within one assessment (docs/design.md §5c).

`assess` runs the same calibration prompts through the pruned model twice: once for the
verdict's direct evidence, once for the report's representation hierarchy on a subset of
them. Both are pure functions of (model, token ids), so inside :func:`reuse` the forward
functions keep what they computed for a model and hand it back instead of running the
prompt again. Outside it nothing is kept (the memo is dropped when the block ends).

Values come back exactly as first computed; a prompt first run inside a batch of other
prompts may differ from a lone run in the last float bits (batch shape changes the
reduction order), as any batched pass does. The same holds for a kept prefill
(:mod:`advisor.forward.handoff`): its KV cache rows are the ones the evidence computed.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any

_MEMOS: weakref.WeakKeyDictionary[Any, dict[Hashable, Any]] = weakref.WeakKeyDictionary()


# Where the memo lists the prompts (token-id tuples) whose whole prefill, KV cache
# included, is worth keeping: the few the report decodes freely after the evidence has
# run them (a KV cache is ~46 KB a token on SmolLM2-135M, so not every prompt's).
KEEP_PREFILL = "keep_prefill"


@contextlib.contextmanager
def reuse(model: Any, keep_prefill: Iterable[Sequence[int]] = ()) -> Iterator[None]:
    """Within the block, prompt passes of ``model`` are computed once (see module doc);
    the prompts in ``keep_prefill`` also keep their KV cache, so decoding them later
    starts from it instead of running the prompt again."""
    outer = model in _MEMOS
    if not outer:
        _MEMOS[model] = {}
    _MEMOS[model].setdefault(KEEP_PREFILL, set()).update(tuple(s) for s in keep_prefill)
    try:
        yield
    finally:
        if not outer:
            _MEMOS.pop(model, None)


def memo(model: Any) -> dict[Hashable, Any] | None:
    """The memo of ``model`` while a :func:`reuse` block is open for it, else None."""
    return _MEMOS.get(model)


def memoised(
    model: Any, keys: Sequence[Hashable], compute: Callable[[list[int]], Sequence[Any]]
) -> list[Any]:
    """One value per key: read from ``model``'s memo where it holds one, the rest from
    ``compute(positions)`` (the positions of the missing keys, in order) and kept. Outside
    a :func:`reuse` block every key is computed and nothing is kept."""
    kept = memo(model)
    out = [kept.get(key) if kept is not None else None for key in keys]
    todo = [k for k, value in enumerate(out) if value is None]
    if todo:
        for k, value in zip(todo, compute(todo), strict=True):
            out[k] = value
            if kept is not None:
                kept[keys[k]] = value
    return out
