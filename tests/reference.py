"""Reference implementations the tests check the optimised code paths against."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from advisor.forward.batching import (
    StreamRecorder,
    batches,
    by_length,
    decoder_call,
    left_pad,
    lengths_of,
    pad_id,
)
from advisor.models.anatomy import input_device


def final_states_at(
    model: Any,
    tokenizer: Any,
    sequences: Sequence[Sequence[int]],
    starts: Sequence[int],
    *,
    batch_size: int = 8,
) -> list[torch.Tensor]:
    """Teacher forcing the plain way, one full forward per sequence: the pre-norm
    last-stream states that predict ``sequence[starts[i]:]`` (row ``t`` predicts token
    ``sequence[starts[i] + t]``). :func:`advisor.forward.decode` reads the same states from
    the prefill it decodes from; the tests compare the two."""
    device = input_device(model)
    out: list[torch.Tensor | None] = [None] * len(sequences)
    with torch.inference_mode():
        for batch in batches(by_length(sequences), batch_size, lengths_of(sequences)):
            ids, mask, pos = left_pad([sequences[i] for i in batch], pad_id(tokenizer), device)
            with StreamRecorder(model) as rec:
                decoder_call(model, ids, mask, pos, use_cache=False)
            final = rec.states[-1].float()
            width = ids.shape[1]
            for row, i in enumerate(batch):
                n = len(sequences[i]) - starts[i]
                begin = width - len(sequences[i]) + starts[i] - 1
                out[i] = final[row, begin : begin + n].cpu()
    return out  # type: ignore[return-value]


def teacher_forced_states(
    model: Any,
    tokenizer: Any,
    prompt_ids: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
) -> list[torch.Tensor]:
    """:func:`final_states_at` over prompt + continuation: row t gives the model's
    distribution for token t of the continuation."""
    seqs = [list(p) + list(c) for p, c in zip(prompt_ids, continuations, strict=True)]
    return final_states_at(model, tokenizer, seqs, [len(p) for p in prompt_ids])
