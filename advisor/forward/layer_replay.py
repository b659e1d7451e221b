"""Shared layer prefixes across a sweep's models (docs/design.md §5d).

A sweep of a structural method assesses models that differ only in which layers they drop:
with importance ranking the drop sets are nested, so two amounts run the *same* layers, on
the same shared (dense) tensors, up to the first layer where they differ. Every forward
pass of the evidence is a pure function of its token ids, so the hidden state entering that
layer is the same in both models, bit for bit. :class:`LayerReplay` keeps it:

* while one model's evidence for a task runs, each decoder call's hidden state entering
  layer ``d`` is kept (with the stream summaries of the layers before it), for every depth
  ``d`` at which a later model of the sweep first differs from this one;
* when a later model runs the same task, each call whose inputs match the kept call (token
  ids, mask, positions, cache length; in the same order) skips layers ``0 .. d-1``: stand-ins
  return the kept state and fill the KV cache with zeros of the right shape (nothing reads
  them: layer ``j`` attends only over its own cache layer, and the sequence length the
  masks are built from is right), and the kept stream summaries replace theirs.

Any mismatch raises :class:`ReplayMismatch` and the task is run again without sharing, so
results never depend on whether sharing happened. Models whose weights are not the dense
model's tensors (sparsity methods) never match: their signatures are unique.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from advisor.models.anatomy import decoder_layers, replace_decoder_layers


class ReplayMismatch(RuntimeError):
    """A call did not match the kept one: the task is rerun without sharing."""


def layer_signature(layer: nn.Module, shared: set[int]) -> tuple | None:
    """What a layer computes: its module classes and the addresses of its tensors, or None
    when a tensor is not one of ``shared`` (the dense model's, alive all sweep long)."""
    tensors = [*layer.parameters(), *layer.buffers()]
    if any(t.data_ptr() not in shared for t in tensors):
        return None
    classes = tuple(type(m).__name__ for m in layer.modules())
    return classes, tuple((t.data_ptr(), tuple(t.shape)) for t in tensors)


def signatures(model: Any, shared: set[int]) -> list[tuple | None]:
    """One signature per position: the embedding's (position 0), then every decoder layer's."""
    embed = model.get_input_embeddings()  # wte, embed_in, word_embeddings: §9b
    return [layer_signature(embed, shared)] + [
        layer_signature(layer, shared) for layer in decoder_layers(model)
    ]


def common_depth(a: Sequence[tuple | None], b: Sequence[tuple | None]) -> int:
    """How many leading decoder layers two models share (0 unless their embeddings match)."""
    depth = 0
    for x, y in zip(a, b, strict=False):
        if x is None or x != y:
            break
        depth += 1
    return max(depth - 1, 0)


@dataclass
class _Kept:
    key: str
    hidden: torch.Tensor
    states: list[Any]


class _StandIn(nn.Module):
    """Layer ``index`` skipped: fills its KV cache slot with zeros; the last one returns
    the kept hidden state."""

    def __init__(self, layer: nn.Module, index: int, hidden: torch.Tensor | None) -> None:
        super().__init__()
        attn = getattr(layer, "self_attn", None)
        self.kv = None
        if attn is not None and hasattr(attn, "k_proj"):
            heads = attn.k_proj.out_features // attn.head_dim
            self.kv = (heads, attn.head_dim, attn.k_proj.weight.dtype)
        self.index, self.hidden = index, hidden

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if cache is not None and self.kv is not None:
            heads, dim, dtype = self.kv
            b, s = hidden_states.shape[:2]
            zeros = torch.zeros(b, heads, s, dim, dtype=dtype, device=hidden_states.device)
            cache.update(zeros, zeros, self.index)
        return hidden_states if self.hidden is None else self.hidden


def call_key(ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any) -> str:
    """What identifies a decoder call's inputs (with the length of the cache it extends)."""
    digest = hashlib.sha256()
    for t in (ids, mask, positions):
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    digest.update(str(cache.get_seq_length() if cache is not None else -1).encode())
    return digest.hexdigest()


@dataclass
class _Session:
    replay: list[_Kept] | None
    depth: int
    record: dict[int, list[_Kept]] = field(default_factory=dict)
    calls: int = 0

    def run(self, model: Any, ids: Any, mask: Any, positions: Any, reduce: Any, plain, **kw):
        """``plain(model, ids, mask, positions, reduce, **kw) -> (out, states)``, with the
        kept prefix replayed and the prefixes later models need kept."""
        cache = kw.get("cache", kw.get("past_key_values"))
        key = call_key(ids, mask, positions, cache)
        n, self.calls = self.calls, self.calls + 1
        kept = None
        if self.replay is not None:
            if n >= len(self.replay) or self.replay[n].key != key:
                raise ReplayMismatch(f"call {n} differs from the kept one")
            kept = self.replay[n]
        layers = list(decoder_layers(model))
        seen: dict[int, torch.Tensor] = {}
        hooks = []
        for depth in self.record:

            def grab(_m: Any, _a: Any, out: Any, depth: int = depth) -> None:
                seen[depth] = out[0] if isinstance(out, tuple) else out

            hooks.append((depth, grab))
        if kept is not None:
            stand_ins = [
                _StandIn(layers[j], j, kept.hidden if j == self.depth - 1 else None)
                for j in range(self.depth)
            ]
            replace_decoder_layers(model, stand_ins + layers[self.depth :])
        handles = [decoder_layers(model)[d - 1].register_forward_hook(h) for d, h in hooks]
        try:
            out, states = plain(model, ids, mask, positions, reduce, **kw)
        finally:
            for handle in handles:
                handle.remove()
            if kept is not None:
                replace_decoder_layers(model, layers)
        if kept is not None:
            states = list(kept.states) + list(states[self.depth :])
        for depth, entries in self.record.items():
            entries.append(_Kept(key, seen[depth], list(states[:depth])))
        return out, states


_ACTIVE: weakref.WeakKeyDictionary[Any, _Session] = weakref.WeakKeyDictionary()


def active(model: Any) -> _Session | None:
    """The sharing session open for ``model``, if any (consulted by the forward passes)."""
    return _ACTIVE.get(model)


class LayerReplay:
    """Kept layer prefixes for the models of one sweep (see the module docstring).

    ``models``: every model of the sweep in the order they run; ``shared``: the addresses
    of the dense model's tensors (:func:`dense_tensors`)."""

    def __init__(self, models: Sequence[Any], shared: set[int]) -> None:
        self.shared = shared
        self.sigs = [signatures(m, shared) for m in models]
        self.index = {id(m): k for k, m in enumerate(models)}
        # the signatures of the models that may run after model k (all later ones here)
        self.later = [self.sigs[k + 1 :] for k in range(len(self.sigs))]
        self.held: list[Any] = []  # models added by expect(): their ids must stay theirs
        self.kept: dict[tuple[str, int, tuple], list[_Kept]] = {}
        self.stats = {"replayed_calls": 0, "reruns": 0, "skipped_layer_calls": 0}

    def expect(self, model: Any, successors: Sequence[Any]) -> None:
        """Add ``model`` to run next, followed by one of ``successors`` (models), for a
        search that knows only its next step (a plan's next set to check is one of two,
        by whether this one is go): prefixes are kept for those, and ``finished`` drops
        what none of them can use."""
        self.index[id(model)] = len(self.sigs)
        self.sigs.append(signatures(model, self.shared))
        self.later.append([signatures(m, self.shared) for m in successors])
        self.held.append(model)

    def _plan(self, k: int, task: str) -> tuple[int, list[_Kept] | None, list[int]]:
        sig = self.sigs[k]
        depth, replay = 0, None
        for (t, d, prefix), entries in self.kept.items():
            if t == task and d > depth and tuple(sig[: d + 1]) == prefix:
                depth, replay = d, entries
        later = {common_depth(sig, other) for other in self.later[k]}
        record = sorted(
            d
            for d in later
            if d >= max(depth, 1) and (task, d, tuple(sig[: d + 1])) not in self.kept
        )
        return depth, replay, record

    def run(self, model: Any, task: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` (one task's evidence on ``model``) with prefixes shared; rerun
        without sharing if any call does not match."""
        k = self.index.get(id(model))
        if k is None:
            return compute()
        depth, replay, record = self._plan(k, task)
        session = _Session(replay, depth, {d: [] for d in record})
        _ACTIVE[model] = session
        try:
            result = compute()
        except ReplayMismatch:
            self.stats["reruns"] += 1
            # Run again without replaying, still keeping what later models can use, unless
            # calls ran before the mismatch: their results may now come from a memo
            # (:mod:`advisor.forward.reuse`), and a kept list must hold every call.
            again = record if session.calls == 1 else []
            session = _Session(None, 0, {d: [] for d in again})
            _ACTIVE[model] = session
            result = compute()
            replay = None
        finally:
            _ACTIVE.pop(model, None)
        if replay is not None:
            self.stats["replayed_calls"] += session.calls
            self.stats["skipped_layer_calls"] += session.calls * depth
        for d, entries in session.record.items():
            self.kept[task, d, tuple(self.sigs[k][: d + 1])] = entries
        return result

    def forget(self) -> None:
        """Drop every kept prefix (a lockstep reading moves on to other items)."""
        self.kept.clear()

    def finished(self, model: Any) -> None:
        """Drop what no model after ``model`` can use."""
        k = self.index.get(id(model))
        later = self.later[k] if k is not None else self.sigs
        self.kept = {
            key: entries
            for key, entries in self.kept.items()
            if any(tuple(s[: key[1] + 1]) == key[2] for s in later)
        }


def dense_tensors(model: Any) -> set[int]:
    """The addresses of a model's tensors (the dense model's: shared by structural copies)."""
    return {t.data_ptr() for t in [*model.parameters(), *model.buffers()]}
