"""The one place that runs models: batched forwards, continuation scores, greedy decoding.

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

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

Prompt = str | Sequence[int]

# Rows decoded together: each step's cost is dominated by reading the weights, so larger
# batches are nearly free up to here (SmolLM2-135M, one CPU thread: 8 -> 24 rows cut the
# decoding time of a 24-item suite from 13.4 s to 9.5 s).
DECODE_BATCH = 24


# --------------------------------------------------------------------------- model parts


def decoder_of(model: Any) -> Any:
    """The base decoder (embeddings, blocks, final norm) of a causal LM."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if decoder is None or decoder is model:
        decoder = getattr(model, "model", None)
    if decoder is None or not hasattr(decoder, "layers"):
        raise TypeError(f"{type(model).__name__} has no decoder with a `layers` list.")
    return decoder


def decoder_layers(model: Any) -> Any:
    """The decoder blocks the model actually runs, in order."""
    decoder = decoder_of(model)
    n = getattr(model.config, "num_hidden_layers", None)
    # transformers runs layers[:num_hidden_layers]; mirror that so streams match what runs.
    return decoder.layers[:n] if n is not None else decoder.layers


def final_norm(model: Any) -> Any:
    """The normalisation applied to the last stream before the output head."""
    decoder = decoder_of(model)
    for name in ("norm", "final_layernorm", "ln_f"):
        if hasattr(decoder, name):
            return getattr(decoder, name)
    raise TypeError(f"Cannot find the final norm of {type(model).__name__}.")


def head_logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """Logits from pre-norm residual-stream states: ``lm_head(final_norm(hidden))``.

    Works on any leading shape ``[..., d]``. Applied to the last stream this *is* the model's
    output; applied to an intermediate stream it is the logit lens with the final norm
    applied (the convention of the paper and of ``advisor.measure``).
    """
    with torch.inference_mode():
        head = model.get_output_embeddings()
        hidden = hidden.to(head.weight.device, head.weight.dtype)
        logits = head(final_norm(model)(hidden)).float()
        cap = getattr(model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a generation (generation config and tokenizer)."""
    ids: set[int] = set()
    gen = getattr(model, "generation_config", None)
    for source in (getattr(gen, "eos_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif source is not None:
            ids.update(int(i) for i in source)
    return ids


def _device(model: Any) -> torch.device:
    return (
        decoder_of(model).embed_tokens.weight.device
        if hasattr(decoder_of(model), "embed_tokens")
        else next(model.parameters()).device
    )


def _pad_id(tokenizer: Any) -> int:
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


def _batches(order: list[int], size: int, lengths: Sequence[int]) -> list[list[int]]:
    """``order`` cut into batches of at most ``size`` rows, a new batch also starting where
    the next row would make the batch's longest row more than BUCKET_RATIO times its
    shortest (plus BUCKET_SLACK tokens)."""
    batches: list[list[int]] = []
    low = high = 0
    for i in order:
        n = lengths[i]
        if batches and len(batches[-1]) < size:
            new_low, new_high = min(low, n), max(high, n)
            if new_high <= BUCKET_RATIO * new_low + BUCKET_SLACK:
                batches[-1].append(i)
                low, high = new_low, new_high
                continue
        batches.append([i])
        low = high = n
    return batches


def _lengths(seqs: Sequence[Sequence[int]]) -> list[int]:
    return [len(s) for s in seqs]


def _by_length(seqs: Sequence[Sequence[int]]) -> list[int]:
    # Batching neighbours of similar length wastes less compute on padding.
    return sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), i))


# --------------------------------------------------------------------------- core forward


class _StreamRecorder:
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

    def __enter__(self) -> _StreamRecorder:
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


def _summarise(mask: torch.Tensor) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """A stream reducer: ``(state at the last position, sum over real positions)``, fp32.

    Sums rather than means, so a shared prompt prefix run once can be added back in."""
    weights = mask[:, :, None].float()

    def reduce(hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = hidden.float()
        return hidden[:, -1], (hidden * weights).sum(1)

    return reduce


def _last_position(hidden: torch.Tensor) -> torch.Tensor:
    return hidden[:, -1].float()


def _decoder_call(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, **kw: Any
) -> Any:
    return decoder_of(model)(input_ids=ids, attention_mask=mask, position_ids=positions, **kw)


def _extend_cache(
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
    with _StreamRecorder(model, reduce) as rec:
        out = _decoder_call(model, ids, mask, positions, use_cache=True, **{cache_kw: cache})
    return getattr(out, cache_kw, None) or out.past_key_values, rec.states


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


def _stack_summaries(
    states: list[tuple[torch.Tensor, torch.Tensor]], counts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[b, n_streams, d]`` last-position and mean-pooled states from :func:`_summarise`
    (``counts``: real positions per row)."""
    last, total = (torch.stack(part, dim=1) for part in zip(*states, strict=True))
    return last, total / counts.float()[:, None, None]


def prompt_states(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    *,
    batch_size: int = 8,
    logit_lens: bool = False,
) -> PromptStates:
    """Run each prompt once and return its stream summaries and next-token logits.

    Rows come back in the order of ``prompts`` whatever the batching. ``logit_lens=True``
    adds a ``[B, n_streams, V]`` tensor — large for real vocabularies; prefer calling
    :func:`head_logits` on ``last`` one item at a time.
    """
    seqs = [encode(tokenizer, p) for p in prompts]
    device = _device(model)
    last: list[torch.Tensor | None] = [None] * len(seqs)
    mean: list[torch.Tensor | None] = [None] * len(seqs)
    with torch.inference_mode():
        for batch in _batches(_by_length(seqs), batch_size, _lengths(seqs)):
            ids, mask, pos = left_pad([seqs[i] for i in batch], _pad_id(tokenizer), device)
            with _StreamRecorder(model, _summarise(mask)) as rec:
                _decoder_call(model, ids, mask, pos, use_cache=False)
            batch_last, batch_mean = _stack_summaries(rec.states, mask.sum(1))
            for row, i in enumerate(batch):
                last[i] = batch_last[row].cpu()
                mean[i] = batch_mean[row].cpu()
        last_t = torch.stack(last)  # type: ignore[arg-type]
        mean_t = torch.stack(mean)  # type: ignore[arg-type]
        logits = head_logits(model, last_t[:, -1]).cpu()
        lens = head_logits(model, last_t).cpu() if logit_lens else None
    return PromptStates(last=last_t, mean=mean_t, logits=logits, lens=lens)


def final_states_at(
    model: Any,
    tokenizer: Any,
    sequences: Sequence[Sequence[int]],
    starts: Sequence[int],
    *,
    batch_size: int = 8,
) -> list[torch.Tensor]:
    """Pre-norm last-stream states that predict ``sequence[starts[i]:]``, one ``[n_i, d]`` each.

    Row ``t`` of item ``i`` is the state at position ``starts[i] - 1 + t``, i.e. the one
    whose :func:`head_logits` give the distribution of token ``sequence[starts[i] + t]``.
    This is teacher forcing: one forward over the whole sequence, no sampling.
    """
    device = _device(model)
    out: list[torch.Tensor | None] = [None] * len(sequences)
    with torch.inference_mode():
        for batch in _batches(_by_length(sequences), batch_size, _lengths(sequences)):
            ids, mask, pos = left_pad([sequences[i] for i in batch], _pad_id(tokenizer), device)
            with _StreamRecorder(model) as rec:
                # Only the last stream is kept; the recorder is the exact pre-norm state.
                _decoder_call(model, ids, mask, pos, use_cache=False)
            final = rec.states[-1].float()
            width = ids.shape[1]
            for row, i in enumerate(batch):
                n = len(sequences[i]) - starts[i]
                if starts[i] < 1 or n < 1:
                    raise ValueError("starts must leave at least one context and one target.")
                begin = width - len(sequences[i]) + starts[i] - 1
                out[i] = final[row, begin : begin + n].cpu()
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------- choice scoring


@dataclass(frozen=True)
class OptionScore:
    """Log-likelihood of one option text as a continuation of its prompt (lm-eval style).

    ``logprob`` is the sum over the option's tokens, ``mean_logprob`` the per-token mean
    (length-normalised), ``is_greedy`` whether greedy decoding would produce exactly it.
    """

    logprob: float
    n_tokens: int
    is_greedy: bool

    @property
    def mean_logprob(self) -> float:
        """Per-token (length-normalised) log-likelihood."""
        return self.logprob / self.n_tokens


def split_continuation(tokenizer: Any, prompt: str, option: str) -> tuple[list[int], list[int]]:
    """Token ids of ``prompt`` and of ``option`` continuing it, the lm-eval way.

    Trailing spaces of the prompt move to the option, the pair is tokenised together and
    the option's tokens are what follows the prompt's own tokens — so a word boundary is
    tokenised as it would be in running text.
    """
    stripped = prompt.rstrip(" ")
    option = prompt[len(stripped) :] + option
    context = encode(tokenizer, stripped)
    whole = encode(tokenizer, stripped + option)
    if whole[: len(context)] != context or len(whole) == len(context):
        # Tokenisation merged across the boundary (or the option is empty): fall back to
        # tokenising the option on its own, which is what the model would see appended.
        return context, list(tokenizer(option, add_special_tokens=False).input_ids)
    return context, whole[len(context) :]


def _feed_after_cache(
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
    _, streams = _extend_cache(model, ids.to(device), full_mask, new_pos, cache)
    return streams[-1].float()


@torch.inference_mode()
def _prefix_shared_states(
    model: Any,
    tokenizer: Any,
    contexts: Sequence[Sequence[int]],
    conts: Sequence[Sequence[Sequence[int]]],
    batch_size: int,
) -> list[list[torch.Tensor]]:
    """Pre-norm final states predicting each option's tokens, the prompt run only once.

    Each batch of prompts is run with a KV cache; the cache is then replicated once per
    option (``reorder_cache`` with repeated row indices) and the options' tokens are fed
    right-padded after it, with positions continuing from each prompt's real length. An
    item with four options costs one prompt forward plus the options' own tokens instead
    of four full prompt+option forwards.
    """
    from transformers import DynamicCache

    device = _device(model)
    pad = _pad_id(tokenizer)
    out: list[list[torch.Tensor | None]] = [[None] * len(c) for c in conts]
    for batch in _batches(_by_length(contexts), batch_size, _lengths(contexts)):
        ids, mask, pos = left_pad([contexts[i] for i in batch], pad, device)
        cache, streams = _extend_cache(
            model, ids, mask, pos, DynamicCache(config=model.config), _last_position
        )
        first = streams[-1]  # predicts every option's first token
        # Options of one token need nothing more; the rest feed all but their last token.
        rows = [
            (r, i, j)
            for r, i in enumerate(batch)
            for j in range(len(conts[i]))
            if len(conts[i][j]) >= 2
        ]
        states = None
        if rows:
            idx = torch.as_tensor([r for r, _, _ in rows], device=device)
            cache.reorder_cache(idx)
            states = _feed_after_cache(
                model, cache, mask[idx], pos[idx], [conts[i][j][:-1] for _, i, j in rows], pad
            )
        where = {(i, j): k for k, (_, i, j) in enumerate(rows)}
        for r, i in enumerate(batch):
            for j, cont in enumerate(conts[i]):
                hidden = first[r : r + 1]
                if (i, j) in where and states is not None:
                    hidden = torch.cat([hidden, states[where[i, j], : len(cont) - 1]])
                out[i][j] = hidden.cpu()
        del cache
    return out  # type: ignore[return-value]


def continuation_logprobs(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    options: Sequence[Sequence[str]],
    *,
    batch_size: int = 8,
) -> list[list[OptionScore]]:
    """Score every option text of every prompt as a continuation (lm-eval ``loglikelihood``).

    Returns ``scores[i][j]`` for option ``j`` of prompt ``i``. The prompt is run once per
    item and shared by its options through the KV cache; only the log-probabilities of the
    option tokens are gathered, and no full-vocabulary tensor outlives its option.
    """
    if len(prompts) != len(options):
        raise ValueError("prompts and options must have the same length.")
    contexts: list[list[int]] = []
    conts: list[list[list[int]]] = []
    for i, (prompt, opts) in enumerate(zip(prompts, options, strict=True)):
        row = []
        context: list[int] = []
        for j, opt in enumerate(opts):
            context, cont = split_continuation(tokenizer, prompt, opt)
            if not cont:
                raise ValueError(f"Option {j} of prompt {i} tokenises to nothing.")
            row.append(cont)
        if not opts:
            context = encode(tokenizer, prompt.rstrip(" "))
        contexts.append(context)
        conts.append(row)
    states = _prefix_shared_states(model, tokenizer, contexts, conts, batch_size)
    scores: list[list[OptionScore]] = []
    with torch.inference_mode():
        for row_states, row_conts in zip(states, conts, strict=True):
            row_scores = []
            for hidden, cont in zip(row_states, row_conts, strict=True):
                logprobs = torch.log_softmax(head_logits(model, hidden), dim=-1)
                targets = torch.as_tensor(cont)
                picked = logprobs.gather(-1, targets[:, None]).squeeze(-1)
                greedy = bool((logprobs.argmax(-1) == targets).all())
                row_scores.append(OptionScore(float(picked.sum()), len(targets), greedy))
            scores.append(row_scores)
    return scores


def candidate_token_ids(tokenizer: Any, candidates: Sequence[str]) -> list[int]:
    """The token id of each candidate label/option (``candidate_mode="tokens"``).

    Each candidate must be a single token of this tokenizer (e.g. ``" A"``); otherwise the
    next-token distribution cannot represent it and the item should use continuation mode.
    """
    ids = []
    for cand in candidates:
        toks = tokenizer(cand, add_special_tokens=False).input_ids
        if len(toks) != 1:
            raise ValueError(
                f"Candidate {cand!r} is {len(toks)} tokens for this tokenizer; token-mode "
                f"candidates must be single tokens. Score it as a continuation instead."
            )
        ids.append(int(toks[0]))
    if len(set(ids)) != len(ids):
        raise ValueError(f"Candidates {list(candidates)!r} map to repeated token ids {ids}.")
    return ids


def candidate_logprobs(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    candidates: Sequence[Sequence[str]],
    *,
    batch_size: int = 8,
) -> list[list[float]]:
    """Next-token log-probabilities (full softmax) of each prompt's candidate tokens.

    Not renormalised: ``advisor.measure`` renormalises over the candidates.
    """
    states = prompt_states(model, tokenizer, prompts, batch_size=batch_size)
    out = []
    for logits, cands in zip(states.logits, candidates, strict=True):
        ids = torch.as_tensor(candidate_token_ids(tokenizer, cands))
        out.append(torch.log_softmax(logits, -1)[ids].tolist())
    return out


# --------------------------------------------------------------------------- generation


@dataclass
class Generation:
    """Greedy continuations of a batch of prompts.

    ``tokens[i]``: generated ids, cut after the first end-of-sequence token (kept) or at the
    horizon. ``hidden[i]``: ``[len(tokens[i]), d]`` pre-norm last-stream states, row ``t``
    being the state whose :func:`head_logits` gave the distribution token ``t`` was picked
    from — so per-step distributions can be rebuilt without storing ``[H, V]`` logits.
    ``prompt_ids[i]``: the prompt's token ids. ``texts[i]``: decoded continuation.
    """

    prompt_ids: list[list[int]]
    tokens: list[list[int]]
    hidden: list[torch.Tensor]
    texts: list[str]
    ended: list[bool]


def cache_kwarg(model: Any) -> str:
    """The decoder's keyword for a KV cache: transformers renamed ``past_key_values`` to
    ``cache`` during 5.x, and both spellings are in use."""
    params = inspect.signature(decoder_of(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


@dataclass
class Decoded:
    """One prefill per prompt, read three ways: the prompt's stream summaries (as
    :func:`prompt_states`), the greedy continuation (as :func:`greedy_generate`), and, when
    continuations to force were given, the teacher-forced states along them (as
    :func:`final_states_at`: row ``t`` predicts forced token ``t``)."""

    states: PromptStates
    generation: Generation
    forced: list[torch.Tensor] | None


def greedy_generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    max_new_tokens: int,
    *,
    batch_size: int = DECODE_BATCH,
    stop_at_eos: bool = True,
) -> Generation:
    """Greedy decoding with a KV cache, batched with left padding (see :func:`decode`)."""
    return decode(
        model, tokenizer, prompts, max_new_tokens, batch_size=batch_size, stop_at_eos=stop_at_eos
    ).generation


def _cut_at_stop(row_tokens: list[int], stop: set[int]) -> tuple[list[int], bool]:
    """A row's tokens up to and including its first end-of-sequence token, and whether it
    ended there."""
    for t, tok in enumerate(row_tokens):
        if tok in stop:
            return row_tokens[: t + 1], True
    return row_tokens, False


def _forced_rows(
    model: Any,
    cache: Any,
    mask: torch.Tensor,
    positions: torch.Tensor,
    prompt_state: torch.Tensor,
    forced: Sequence[Sequence[int]],
    pad: int,
) -> list[torch.Tensor]:
    """Teacher-forced last-stream states along each row's ``forced`` tokens, read from a
    copy of the prefill ``cache`` (the original stays ready for free decoding). Row ``t``
    predicts forced token ``t``: row 0 is the prompt's own state."""
    import copy

    if any(len(f) == 0 for f in forced):
        raise ValueError("Every forced continuation needs at least one token.")
    rows = [r for r, f in enumerate(forced) if len(f) >= 2]
    fed = None
    if rows:
        idx = torch.as_tensor(rows, device=mask.device)
        branch = copy.deepcopy(cache)
        branch.reorder_cache(idx)
        fed = _feed_after_cache(
            model, branch, mask[idx], positions[idx], [forced[r][:-1] for r in rows], pad
        )
    out = []
    for r, f in enumerate(forced):
        row_states = prompt_state[r : r + 1]
        if fed is not None and r in rows:
            row_states = torch.cat([row_states, fed[rows.index(r), : len(f) - 1]])
        out.append(row_states.cpu())
    return out


# Prompts of one suite often open with the same instructions and demonstrations; below
# this many shared tokens, running the prefix once is not worth a second forward call.
MIN_SHARED_PREFIX = 16


def _by_template(seqs: Sequence[Sequence[int]]) -> list[int]:
    """Batch order for prefill: prompts that open alike (same first MIN_SHARED_PREFIX
    tokens as another prompt) together, then by length; the rest by length alone."""
    head = [tuple(s[:MIN_SHARED_PREFIX]) for s in seqs]
    counts: dict[tuple[int, ...], int] = {}
    for h in head:
        counts[h] = counts.get(h, 0) + 1
    return sorted(
        range(len(seqs)), key=lambda i: (head[i] if counts[head[i]] > 1 else (), len(seqs[i]), i)
    )


def _shared_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every sequence shares, leaving each at least one token."""
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for k in range(max(n, 0)):
        if any(s[k] != first[k] for s in seqs):
            return k
    return max(n, 0)


def _window_allows_holes(model: Any, span: int) -> bool:
    """Whether padding inside a row is harmless: sliding-window layers measure distance
    in cache slots, so a hole would push real tokens out of the window unless the whole
    row (``span`` slots) fits inside it."""
    cfg = model.config
    if "sliding_attention" not in (getattr(cfg, "layer_types", None) or []):
        return True
    window = getattr(cfg, "sliding_window", None)
    return window is not None and span <= window


def _prefill(
    seqs: Sequence[Sequence[int]], model: Any, pad: int, extra: int = 0
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a batch of prompts into a fresh KV cache; return ``(cache, attention mask,
    position ids, last-position states, mean-pooled states)`` (states ``[b, n_streams, d]``).

    A prefix shared by every row (at least MIN_SHARED_PREFIX tokens) is run once and its
    cache replicated; the rows' own suffixes follow it, left-padded, so the layout is
    ``[prefix][pad][suffix]`` with the padding masked and positions counting real tokens
    only: every row still computes what it would alone, and ends at the last column.
    ``extra``: cache slots the caller will add (decoding, forcing), for the window check.
    """
    from transformers import DynamicCache

    device = _device(model)
    cache = DynamicCache(config=model.config)
    shared = _shared_prefix(seqs) if len(seqs) > 1 else 0
    span = max(len(s) for s in seqs) + extra
    if shared < MIN_SHARED_PREFIX or not _window_allows_holes(model, span):
        ids, mask, pos = left_pad(seqs, pad, device)
        cache, streams = _extend_cache(model, ids, mask, pos, cache, _summarise(mask))
        return (cache, mask, pos, *_stack_summaries(streams, mask.sum(1)))
    ids, mask, pos = left_pad([seqs[0][:shared]], pad, device)
    cache, streams = _extend_cache(model, ids, mask, pos, cache, _summarise(mask))
    prefix_sums = [total for _, total in streams]  # [1, d] per stream
    cache.reorder_cache(torch.zeros(len(seqs), dtype=torch.long, device=device))
    ids, own, pos = left_pad([s[shared:] for s in seqs], pad, device)
    mask = torch.cat([torch.ones((len(seqs), shared), dtype=own.dtype, device=device), own], 1)
    pos = pos + shared
    cache, streams = _extend_cache(model, ids, mask, pos, cache, _summarise(own))
    streams = [
        (lst, total + before) for (lst, total), before in zip(streams, prefix_sums, strict=True)
    ]
    return (cache, mask, pos, *_stack_summaries(streams, mask.sum(1)))


def decode(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    max_new_tokens: int,
    *,
    forced: Sequence[Sequence[int]] | None = None,
    batch_size: int = DECODE_BATCH,
    stop_at_eos: bool = True,
) -> Decoded:
    """Prefill each prompt once, then greedy-decode from its KV cache.

    The prefill's hooks give the prompt's stream summaries; with ``forced`` (one non-empty
    token list per prompt) a copy of the prefill cache reads each forced continuation
    teacher-forced, so the prompt is never run twice. Each decoding step feeds one token
    per row; the attention mask grows by one real column and the position id is the row's
    own real length, so every row decodes as it would alone. A row that emitted an
    end-of-sequence token stops contributing (its later tokens are discarded); the batch
    stops when all rows are done or at ``max_new_tokens``.
    """

    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be at least 1.")
    if forced is not None and len(forced) != len(prompts):
        raise ValueError("forced must give one continuation per prompt.")
    seqs = [encode(tokenizer, p) for p in prompts]
    device = _device(model)
    pad = _pad_id(tokenizer)
    stop = eos_ids(model, tokenizer) if stop_at_eos else set()
    last: list[torch.Tensor | None] = [None] * len(seqs)
    mean: list[torch.Tensor | None] = [None] * len(seqs)
    logits: list[torch.Tensor | None] = [None] * len(seqs)
    tokens: list[list[int]] = [[] for _ in seqs]
    hidden: list[torch.Tensor | None] = [None] * len(seqs)
    ended = [False] * len(seqs)
    forced_out: list[torch.Tensor | None] = [None] * len(seqs)
    with torch.inference_mode():
        for batch in _batches(_by_template(seqs), batch_size, _lengths(seqs)):
            longest_forced = max((len(forced[i]) for i in batch), default=0) if forced else 0
            cache, mask, pos, batch_last, batch_mean = _prefill(
                [seqs[i] for i in batch], model, pad, max_new_tokens + longest_forced
            )
            state = batch_last[:, -1]  # the last stream at the last prompt token
            if forced is not None:
                rows_forced = [forced[i] for i in batch]
                for i, row_states in zip(
                    batch,
                    _forced_rows(model, cache, mask, pos, state, rows_forced, pad),
                    strict=True,
                ):
                    forced_out[i] = row_states
            done = torch.zeros(len(batch), dtype=torch.bool)
            steps: list[torch.Tensor] = []
            picked: list[torch.Tensor] = []
            for step in range(max_new_tokens):
                step_logits = head_logits(model, state)
                if step == 0:  # the prompts' own next-token logits: kept, not recomputed
                    first_logits = step_logits.cpu()
                nxt = step_logits.argmax(-1)
                steps.append(state.cpu())
                picked.append(nxt.cpu())
                done |= torch.as_tensor([int(t) in stop for t in nxt.tolist()])
                if bool(done.all()) or step == max_new_tokens - 1:
                    break
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
                pos = pos[:, -1:] + 1
                cache, streams = _extend_cache(
                    model, nxt[:, None].to(device), mask, pos, cache, _last_position
                )
                state = streams[-1]
            chosen = torch.stack(picked, dim=1)  # [b, steps]
            states = torch.stack(steps, dim=1)  # [b, steps, d]
            for row, i in enumerate(batch):
                last[i] = batch_last[row].cpu()
                mean[i] = batch_mean[row].cpu()
                logits[i] = first_logits[row]
                tokens[i], ended[i] = _cut_at_stop(chosen[row].tolist(), stop)
                hidden[i] = states[row, : len(tokens[i])].clone()
    texts = [tokenizer.decode(t, skip_special_tokens=True) for t in tokens]
    generation = Generation(prompt_ids=seqs, tokens=tokens, hidden=hidden, texts=texts, ended=ended)  # type: ignore[arg-type]
    return Decoded(
        states=PromptStates(
            last=torch.stack(last),  # type: ignore[arg-type]
            mean=torch.stack(mean),  # type: ignore[arg-type]
            logits=torch.stack(logits),  # type: ignore[arg-type]
        ),
        generation=generation,
        forced=forced_out if forced is not None else None,  # type: ignore[arg-type]
    )
