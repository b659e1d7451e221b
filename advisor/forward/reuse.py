"""Reusing a model's prompt passes within one assessment (docs/design.md §5c).

`assess` runs the same calibration prompts through the pruned model twice: once for the
verdict's direct evidence, once for the report's representation hierarchy on a subset of
them. Both are pure functions of (model, token ids), so inside :func:`reuse` the forward
functions keep what they computed for a model and hand it back instead of running the
prompt again. Outside it nothing is kept (the memo is dropped when the block ends).

Values come back exactly as first computed; a prompt first run inside a batch of other
prompts may differ from a lone run in the last float bits (batch shape changes the
reduction order), as any batched pass does.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Hashable, Iterator
from typing import Any

_MEMOS: weakref.WeakKeyDictionary[Any, dict[Hashable, Any]] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def reuse(model: Any) -> Iterator[None]:
    """Within the block, prompt passes of ``model`` are computed once (see module doc)."""
    outer = model in _MEMOS
    if not outer:
        _MEMOS[model] = {}
    try:
        yield
    finally:
        if not outer:
            _MEMOS.pop(model, None)


def memo(model: Any) -> dict[Hashable, Any] | None:
    """The memo of ``model`` while a :func:`reuse` block is open for it, else None."""
    return _MEMOS.get(model)
