"""Batched forward passes: left padding, the residual-stream recorder, prompt states.

Every function takes a Hugging Face causal LM and its tokenizer and returns plain tensors or
small dataclasses. Conventions shared by all of them:

* **Left padding with real position ids.** Sequences of a batch are left-padded; each
  token's position id is its index among the *real* tokens of its row, so a padded row
  computes exactly what it would alone (to float rounding). Padded positions are masked.
* **The residual stream.** ``streams`` index 0 is the input to the first decoder block
  (the token embedding, scaled where the architecture scales it), index ``k`` is the output
  of the ``k``-th decoder block that the model *has*. For a block-dropped model that is
  fewer streams than the dense model; :mod:`advisor.measure` aligns them.
* **Logits from the last stream.** Final logits are ``lm_head(final_norm(h))`` of the
  pre-norm last stream ``h`` (plus the final soft-cap where the architecture has one),
  computed only at the positions asked for. :func:`head_logits` does it, so anyone holding
  a pre-norm state (e.g. a cached one) can rebuild exact logits without a forward pass and
  without keeping full-vocabulary tensors around.
* ``torch.inference_mode`` everywhere; inputs go to the device of the model's embeddings.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from advisor.forward import layer_replay
from advisor.forward.reuse import memo
from advisor.models.anatomy import decoder_layers, decoder_of

Prompt = str | Sequence[int]


def pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)


# --------------------------------------------------------------------------- tokenising


def encode(tokenizer: Any, prompt: Prompt) -> list[int]:
    """Token ids of a prompt: text is tokenised with the tokenizer's special tokens (e.g. a
    BOS where the model expects one); a sequence of ints is taken as already tokenised."""
    if isinstance(prompt, str):
        return list(tokenizer(prompt).input_ids)
    return [int(t) for t in prompt]


def left_pad(
    sequences: Sequence[Sequence[int]], pad_id: int, device: Any = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad token id lists into ``(input_ids, attention_mask, position_ids)``.

    Position ids count real tokens only (0 at each row's first real token), which is what
    makes a padded row compute the same numbers as the row alone.
    """
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if len(seq) == 0:
            raise ValueError(f"Cannot run an empty sequence (row {row}).")
        ids[row, width - len(seq) :] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


# A batch never mixes prompts of very different lengths: left padding makes every row as
# long as the longest, so one long prompt multiplied the work (and memory) of the short
# ones batched with it (a cut 8k-token user prompt padded 23 short rows to 8k tokens).
# The built-in suites' prompts never differ this much, so their batches are unchanged.
BUCKET_RATIO, BUCKET_SLACK = 4, 256


def batches(
    order: list[int],
    size: int,
    lengths: Sequence[int],
    ratio: float = BUCKET_RATIO,
    slack: int = BUCKET_SLACK,
) -> list[list[int]]:
    """``order`` cut into batches of at most ``size`` rows, a new batch also starting where
    the next row would make the batch's longest row more than ``ratio`` times its
    shortest (plus ``slack`` tokens)."""
    out: list[list[int]] = []
    low = high = 0
    for i in order:
        n = lengths[i]
        if out and len(out[-1]) < size:
            new_low, new_high = min(low, n), max(high, n)
            if new_high <= ratio * new_low + slack:
                out[-1].append(i)
                low, high = new_low, new_high
                continue
        out.append([i])
        low = high = n
    return out


def lengths_of(seqs: Sequence[Sequence[int]]) -> list[int]:
    """Each sequence's length (what :func:`batches` buckets by)."""
    return [len(s) for s in seqs]


def by_length(seqs: Sequence[Sequence[int]]) -> list[int]:
    # Batching neighbours of similar length wastes less compute on padding.
    return sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), i))


# --------------------------------------------------------------------------- core forward


class StreamRecorder:
    """Forward hooks that collect the residual stream entering block 0 and leaving each block.

    ``reduce`` (optional) is applied to each stream as it is produced, so a caller that
    needs only a summary (the last position, a pooled mean) never holds every block's full
    ``[b, S, d]`` output at once.
    """

    def __init__(self, model: Any, reduce: Callable[[torch.Tensor], Any] | None = None) -> None:
        self.layers = list(decoder_layers(model))
        self.reduce = reduce or (lambda hidden: hidden)
        self.states: list[Any] = []
        self.handles: list[Any] = []

    def __enter__(self) -> StreamRecorder:
        def grab_input(_module: Any, args: tuple, kwargs: dict) -> None:
            hidden = args[0] if args else kwargs["hidden_states"]
            self.states.append(self.reduce(hidden))

        def grab_output(_module: Any, _args: Any, output: Any) -> None:
            self.states.append(self.reduce(output[0] if isinstance(output, tuple) else output))

        self.handles.append(self.layers[0].register_forward_pre_hook(grab_input, with_kwargs=True))
        self.handles.extend(layer.register_forward_hook(grab_output) for layer in self.layers)
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()


def summarise_streams(
    mask: torch.Tensor,
) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """A stream reducer: ``(state at the last position, sum over real positions)``, fp32.

    Sums rather than means, so a shared prompt prefix run once can be added back in."""
    weights = mask[:, :, None].float()

    def reduce(hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = hidden.float()
        return hidden[:, -1], (hidden * weights).sum(1)

    return reduce


def last_position(hidden: torch.Tensor) -> torch.Tensor:
    return hidden[:, -1].float()


def decoder_call(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, **kw: Any
) -> Any:
    return decoder_of(model)(input_ids=ids, attention_mask=mask, position_ids=positions, **kw)


def extend_cache(
    model: Any,
    ids: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    cache: Any,
    reduce: Callable[[torch.Tensor], Any] | None = None,
) -> tuple[Any, list[Any]]:
    """Run ``ids`` after what ``cache`` holds; return the extended cache and the recorded
    streams (each passed through ``reduce``)."""
    cache_kw = cache_kwarg(model)
    out, states = recorded_call(
        model, ids, mask, positions, reduce, use_cache=True, **{cache_kw: cache}
    )
    return getattr(out, cache_kw, None) or out.past_key_values, states


def _recorded(model: Any, ids: Any, mask: Any, positions: Any, reduce: Any, **kw: Any) -> tuple:
    with StreamRecorder(model, reduce) as rec:
        out = decoder_call(model, ids, mask, positions, **kw)
    return out, rec.states


def recorded_call(
    model: Any,
    ids: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    reduce: Callable[[torch.Tensor], Any] | None,
    **kw: Any,
) -> tuple[Any, list[Any]]:
    """One decoder call with its residual streams recorded (through ``reduce``); inside a
    sweep's prefix sharing (:mod:`advisor.forward.layer_replay`) a kept layer prefix is replayed."""
    session = layer_replay.active(model)
    if session is not None:
        return session.run(model, ids, mask, positions, reduce, _recorded, **kw)
    return _recorded(model, ids, mask, positions, reduce, **kw)


@dataclass
class PromptStates:
    """Per-prompt residual-stream summaries and final logits at the last prompt token.

    ``last``/``mean``: ``[B, n_streams, d]`` float32 — the stream at the last real token and
    mean-pooled over real tokens (stream 0 = block-0 input, stream k = after k-th block run).
    ``logits``: ``[B, V]`` final logits at the last token. ``lens``: ``[B, n_streams, V]``
    logit lens (final norm applied) at the last token, only when asked for.
    """

    last: torch.Tensor
    mean: torch.Tensor
    logits: torch.Tensor
    lens: torch.Tensor | None = None


def stack_summaries(
    states: list[tuple[torch.Tensor, torch.Tensor]], counts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[b, n_streams, d]`` last-position and mean-pooled states from :func:`summarise_streams`
    (``counts``: real positions per row)."""
    last, total = (torch.stack(part, dim=1) for part in zip(*states, strict=True))
    return last, total / counts.float()[:, None, None]


def remember_states(model: Any, seq: Sequence[int], last: Any, mean: Any) -> None:
    """Keep a prompt's stream summaries for reuse while a :func:`reuse` block is open."""
    kept = memo(model)
    if kept is not None:
        kept["states", tuple(seq)] = (last, mean)


def cache_kwarg(model: Any) -> str:
    """The decoder's keyword for a KV cache: transformers renamed ``past_key_values`` to
    ``cache`` during 5.x, and both spellings are in use."""
    params = inspect.signature(decoder_of(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


# Continuations fed after a prompt cache (answer options, teacher-forced answers) are
# short and of very different lengths (a one-word option beside a sentence); padding every
# row to the batch's longest more than doubled the tokens run for the multiple-choice
# suite. They go in buckets of similar length instead, each from its own copy of the cache.
FEED_RATIO, FEED_SLACK, FEED_ROWS = 1.5, 4, 64


def feed_branches(
    model: Any,
    cache: Any,
    mask: torch.Tensor,
    positions: torch.Tensor,
    rows: Sequence[int],
    tokens: Sequence[Sequence[int]],
    pad: int,
) -> list[torch.Tensor]:
    """Feed each ``tokens[k]`` after prompt row ``rows[k]`` of ``cache`` (rows may repeat:
    several options of one prompt) and return its pre-norm last-stream states
    ``[len(tokens[k]), d]`` (fp32). Continuations of similar length run together, each
    bucket from a copy of the cache, which itself is left as it was."""

    out: list[torch.Tensor | None] = [None] * len(tokens)
    lengths = lengths_of(tokens)
    order = sorted(range(len(tokens)), key=lambda k: (lengths[k], k))
    for bucket in batches(order, FEED_ROWS, lengths, FEED_RATIO, FEED_SLACK):
        idx = torch.as_tensor([rows[k] for k in bucket], device=mask.device)
        branch = copy.deepcopy(cache)
        branch.reorder_cache(idx)
        fed = feed_after_cache(
            model, branch, mask[idx], positions[idx], [tokens[k] for k in bucket], pad
        )
        for b, k in enumerate(bucket):
            out[k] = fed[b, : lengths[k]]
    return out  # type: ignore[return-value]


def feed_after_cache(
    model: Any,
    cache: Any,
    mask: torch.Tensor,
    positions: torch.Tensor,
    tokens: Sequence[Sequence[int]],
    pad: int,
) -> torch.Tensor:
    """Feed each row's ``tokens`` (right-padded) after the rows already in ``cache``, with
    positions continuing from each row's real length; return the pre-norm last-stream
    states ``[rows, width, d]`` (fp32). Padded positions come after every real one, so the
    causal mask keeps them from touching the real states."""
    device = mask.device
    width = max(len(t) for t in tokens)
    ids = torch.full((len(tokens), width), pad, dtype=torch.long)
    new_mask = torch.zeros((len(tokens), width), dtype=torch.long)
    for k, toks in enumerate(tokens):
        ids[k, : len(toks)] = torch.as_tensor(list(toks), dtype=torch.long)
        new_mask[k, : len(toks)] = 1
    full_mask = torch.cat([mask, new_mask.to(device)], dim=1)
    new_pos = positions[:, -1:] + 1 + torch.arange(width, device=device)[None, :]
    _, streams = extend_cache(model, ids.to(device), full_mask, new_pos, cache)
    return streams[-1].float()
