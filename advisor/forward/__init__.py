"""The one place that runs models: batched prompt passes, candidate scores, greedy decoding.

Every function takes a Hugging Face causal LM and its tokenizer and returns plain tensors or
small dataclasses; the conventions they share (left padding with real position ids, the
residual-stream numbering, logits rebuilt from pre-norm states) are in
:mod:`advisor.forward.batching`.
"""

from advisor.forward.batching import PromptStates, cache_kwarg, encode, left_pad
from advisor.forward.choices import (
    OptionScore,
    candidate_logprobs,
    candidate_token_ids,
    continuation_logprobs,
    split_continuation,
)
from advisor.forward.decoding import DECODE_BATCH, Decoded, Generation, decode, greedy_generate
from advisor.forward.prefill import prompt_states
from advisor.forward.reuse import reuse

__all__ = [
    "DECODE_BATCH",
    "Decoded",
    "Generation",
    "OptionScore",
    "PromptStates",
    "cache_kwarg",
    "candidate_logprobs",
    "candidate_token_ids",
    "continuation_logprobs",
    "decode",
    "encode",
    "greedy_generate",
    "left_pad",
    "prompt_states",
    "reuse",
    "split_continuation",
]
