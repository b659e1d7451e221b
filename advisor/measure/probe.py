"""Is a pruned model broken outright? A cheap probe run before any measurement.

Aggressive pruning can leave a model whose outputs are NaN / inf (nothing downstream can
be measured), whose output no longer depends on its input, or that predicts ordinary text
worse than a uniform guess over its vocabulary would: its text is noise. Measured on
SmolLM2-135M with magnitude pruning (mean next-token loss on the probes below; a uniform
guess scores ln 49,152 = 10.8): dense 3.6, 50% 5.7, 70% 11.6, 90% 20.5, 99% 17.6; dropping
16 of 30 blocks 7.8. Such a model is no-go for every task type, whatever the rules say; the
probe names what is wrong instead of letting the measurement crash or average over noise.

Each check is relative to the dense model, so a dense model that is itself no better than
a uniform guess (a tiny random test model) does not make its pruned copy "degenerate".
"""

from __future__ import annotations

import math
from typing import Any

import torch

from advisor.cache import cache_file
from advisor.measure.speed import dense_latency
from advisor.models import LoadedModel
from advisor.models.low_memory import DIGESTS, LAYER_FILE, weight_digests
from advisor.publish import read_checked_json, write_checked_json

PROBES = (
    "The history of the city begins in the early medieval period, when",
    "Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nAnswer:",
    "The river flows north through the valley and reaches the sea near",
    "Review: a warm, funny and beautifully acted film.\nSentiment:",
)
# Next-token log-probabilities closer than this across all probes count as identical.
CONSTANT_ATOL = 1e-5
# The dense model must beat a uniform guess by this much (nats per token) before its
# pruned copy can be called noise: a random model sits at the uniform loss give or take
# a little, and that noise must not decide a verdict.
DENSE_MARGIN = 1.0
PROBE_MEMO = "dense_probe"
PROBE_VERSION = "probe-v1"  # bump when the probe's dense summary changes


@torch.inference_mode()
def _outputs(model: Any, tokenizer: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(token ids [T], logits [T, V]) of each probe, on the CPU in fp32."""
    device = next(model.parameters()).device
    rows = []
    for prompt in PROBES:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        logits = model(input_ids=ids.to(device)).logits[0].float().cpu()
        rows.append((ids[0], logits))
    return rows


def _constant(outputs: list[tuple[torch.Tensor, torch.Tensor]]) -> bool:
    last = [torch.log_softmax(logits[-1], -1) for _, logits in outputs]
    return all(torch.allclose(last[0], other, atol=CONSTANT_ATOL, rtol=0) for other in last[1:])


def _loss(outputs: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean next-token negative log-likelihood (nats) of the probes' own text."""
    total, count = 0.0, 0
    for ids, logits in outputs:
        logp = torch.log_softmax(logits[:-1], -1).gather(1, ids[1:, None])
        total -= float(logp.sum())
        count += len(ids) - 1
    return total / max(count, 1)


def _cache_path(dense: LoadedModel) -> Any:
    """Where a dense model's probe summary is kept on disk (None: no cache identity)."""
    identity = getattr(dense, "cache_identity", None)
    if not identity:
        return None

    return cache_file("probe", PROBE_VERSION, identity, PROBES)


def dense_probe(dense: LoadedModel) -> dict[str, Any]:
    """The dense side of the probe (does its output depend on the input, its loss),
    measured once per dense model: kept in its ``extra`` where it has one, and on disk by
    its cache identity (a warm assessment then runs the probe on the pruned model only)."""
    memo = getattr(dense, "extra", {}).get(PROBE_MEMO)
    if memo is None:
        path = _cache_path(dense)
        memo = read_checked_json(path) if path is not None else None
        if not isinstance(memo, dict):
            outputs = _outputs(dense.model, dense.tokenizer)
            memo = {"constant": _constant(outputs), "loss": _loss(outputs)}
            if path is not None:
                write_checked_json(path, memo)
        if isinstance(getattr(dense, "extra", None), dict):
            dense.extra[PROBE_MEMO] = memo
    return memo


def probe_broken(dense: LoadedModel, pruned: Any) -> str | None:
    """Why the pruned model is degenerate, in one sentence, or None when it is not.

    ``dense`` and ``pruned`` are LoadedModel-likes (``.model``, ``.tokenizer``); the dense
    tokenizer is used for both.
    """
    tokenizer = dense.tokenizer
    pruned_out = _outputs(pruned.model, tokenizer)
    if not all(torch.isfinite(logits).all() for _, logits in pruned_out):
        return (
            "the pruned model's outputs are NaN or infinite on ordinary prompts, so it cannot "
            "produce text at all; nothing further was measured."
        )
    pruned_constant, pruned_loss = _constant(pruned_out), _loss(pruned_out)
    dense_side = dense_probe(dense)
    if pruned_constant and not dense_side["constant"]:
        return (
            "the pruned model's output does not depend on its input: it gives the same "
            "next-token distribution for every prompt, so it cannot do any task."
        )
    uniform = math.log(pruned_out[0][1].shape[-1])
    dense_loss = dense_side["loss"]
    if pruned_loss > uniform and dense_loss < uniform - DENSE_MARGIN:
        return (
            f"the pruned model predicts ordinary text worse than a uniform guess over its "
            f"vocabulary ({pruned_loss:.1f} nats per token against ln V = {uniform:.1f}; "
            f"the dense model: {dense_loss:.1f}), so its output is noise."
        )
    return None


def same_weights(dense_model: Any, pruned_model: Any) -> bool:
    """Whether the "pruned" model holds exactly the dense model's weights (an unpruned
    copy, or pruning that removed nothing): then it computes the same function on every
    input, and no sampling of calibration items is needed to say it loses nothing."""
    if dense_model is pruned_model:
        return True
    dense_state, pruned_state = dense_model.state_dict(), pruned_model.state_dict()
    if dense_state.keys() != pruned_state.keys():
        return False
    return all(
        dense_state[k].shape == pruned_state[k].shape and torch.equal(dense_state[k], v)
        for k, v in pruned_state.items()
    )


def remember_dense(dense: LoadedModel) -> None:
    """Measure what an assessment otherwise reads from the live dense model (its probe
    summary, its decoding speed, its weight digests) into ``dense.extra``."""
    dense_probe(dense)
    dense_latency(dense)
    dense.extra[DIGESTS] = weight_digests(dense.model)


def same_as_dense(dense: LoadedModel, pruned_model: Any) -> bool:
    """Whether ``pruned_model`` holds exactly the dense weights (see
    :func:`advisor.measure.probe.same_weights`), by digests for a released stand-in."""
    digests = dense.extra.get(DIGESTS)
    if digests is None or LAYER_FILE not in dense.extra:
        return same_weights(dense.model, pruned_model)
    return weight_digests(pruned_model) == digests
