"""advisor.forward on tiny random models: padding invariance and agreement with transformers."""

from __future__ import annotations

import pytest
import torch

from advisor import forward as F
from advisor.forward import batching, decoding, prefill as prefill_mod
from advisor.models import anatomy
from tests.reference import final_states_at
from tests.tiny_models import tiny_model

PROMPTS = [
    "the cat is on the road and the dog is in the house .",
    "a dog",
    "one two three four five plus six",
]
OPTIONS = [[" the dog", " a river"], [" is", " was on the"], [" one two", " three"]]
ATOL = 1e-4


@pytest.fixture(scope="module", params=["llama", "qwen2", "gemma3_text"])
def tiny(request):
    """A 3-layer random model with a larger init, so greedy outputs vary between prompts."""
    return tiny_model(request.param, layers=3, initializer_range=0.2)


def test_left_pad_positions_count_real_tokens():
    ids, mask, pos = F.left_pad([[5, 6, 7], [8]], pad_id=1)
    assert ids.tolist() == [[5, 6, 7], [1, 1, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert pos.tolist() == [[0, 1, 2], [0, 0, 0]]


def test_prompt_states_batch_equals_single(tiny):
    model, tok = tiny
    batch = F.prompt_states(model, tok, PROMPTS, batch_size=3)
    for i, prompt in enumerate(PROMPTS):
        alone = F.prompt_states(model, tok, [prompt], batch_size=1)
        assert torch.allclose(batch.last[i], alone.last[0], atol=ATOL)
        assert torch.allclose(batch.mean[i], alone.mean[0], atol=ATOL)
        assert torch.allclose(batch.logits[i], alone.logits[0], atol=ATOL)
    # Streams: block-0 input plus one per block.
    assert batch.last.shape[1] == model.config.num_hidden_layers + 1


def test_prompt_logits_match_transformers(tiny):
    model, tok = tiny
    states = F.prompt_states(model, tok, PROMPTS, logit_lens=True)
    for i, prompt in enumerate(PROMPTS):
        with torch.inference_mode():
            ref = model(tok(prompt, return_tensors="pt").input_ids).logits[0, -1]
        assert torch.allclose(states.logits[i], ref, atol=ATOL)
    # The lens of the last stream is the model's output.
    assert torch.allclose(states.lens[:, -1], states.logits, atol=ATOL)


def test_mean_pool_ignores_padding(tiny):
    model, tok = tiny
    states = F.prompt_states(model, tok, PROMPTS[:2], batch_size=2)
    ids = tok(PROMPTS[1], return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model(ids, output_hidden_states=True)
    # hidden_states[1] is the output of block 0 in every supported architecture.
    assert torch.allclose(states.mean[1, 1], out.hidden_states[1][0].mean(0), atol=ATOL)


def test_continuation_scores_batch_equals_single_and_match_manual(tiny):
    model, tok = tiny
    batch = F.continuation_logprobs(model, tok, PROMPTS, OPTIONS, batch_size=4)
    for i, (prompt, opts) in enumerate(zip(PROMPTS, OPTIONS, strict=True)):
        alone = F.continuation_logprobs(model, tok, [prompt], [opts], batch_size=1)[0]
        for j, opt in enumerate(opts):
            assert batch[i][j].logprob == pytest.approx(alone[j].logprob, abs=ATOL)
            # Manual: full forward of prompt+option, sum of target log-probs.
            ctx, cont = F.split_continuation(tok, prompt, opt)
            with torch.inference_mode():
                logits = model(torch.tensor([ctx + cont])).logits[0]
            logp = torch.log_softmax(logits[len(ctx) - 1 : -1], -1)
            manual = logp.gather(-1, torch.tensor(cont)[:, None]).sum().item()
            assert batch[i][j].logprob == pytest.approx(manual, abs=ATOL)
            assert batch[i][j].n_tokens == len(cont)
            assert batch[i][j].mean_logprob == pytest.approx(manual / len(cont), abs=ATOL)


def test_split_continuation_moves_trailing_space():
    _, tok = tiny_model("llama", layers=1)
    ctx, cont = F.split_continuation(tok, "the cat ", "is")
    assert ctx == tok("the cat").input_ids
    assert cont == tok("is", add_special_tokens=False).input_ids


def test_candidate_token_ids_rejects_multi_token():
    _, tok = tiny_model("llama", layers=1)
    ids = F.candidate_token_ids(tok, ["A", "B"])
    assert ids == [tok.convert_tokens_to_ids("A"), tok.convert_tokens_to_ids("B")]
    with pytest.raises(ValueError, match="single tokens"):
        F.candidate_token_ids(tok, ["A B"])


def test_generation_batch_equals_single_and_transformers(tiny):
    model, tok = tiny
    horizon = 10
    batch = F.greedy_generate(model, tok, PROMPTS, horizon, batch_size=3, stop_at_eos=False)
    for i, prompt in enumerate(PROMPTS):
        alone = F.greedy_generate(model, tok, [prompt], horizon, stop_at_eos=False)
        assert batch.tokens[i] == alone.tokens[0]
        assert torch.allclose(batch.hidden[i], alone.hidden[0], atol=ATOL)
        stopping = F.greedy_generate(model, tok, [prompt], horizon)
        ids = tok(prompt, return_tensors="pt").input_ids
        with torch.inference_mode():
            ref = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=horizon,
                do_sample=False,
            )
        # transformers stops at EOS too and pads after it; compare up to our stop.
        produced = ref[0, ids.shape[1] :].tolist()
        assert stopping.tokens[0] == produced[: len(stopping.tokens[0])]
        assert stopping.tokens[0] == alone.tokens[0][: len(stopping.tokens[0])]
    # Not all prompts collapse to the same constant continuation (else the test is weak).
    assert len({tuple(t) for t in batch.tokens}) > 1


def test_generation_hidden_rebuilds_step_logits(tiny):
    model, tok = tiny
    gen = F.greedy_generate(model, tok, PROMPTS[:1], 6, stop_at_eos=False)
    seq = gen.prompt_ids[0] + gen.tokens[0]
    with torch.inference_mode():
        logits = model(torch.tensor([seq])).logits[0]
    start = len(gen.prompt_ids[0])
    expected = logits[start - 1 : start - 1 + len(gen.tokens[0])]
    assert torch.allclose(anatomy.head_logits(model, gen.hidden[0]), expected, atol=ATOL)
    # Teacher forcing over the same tokens gives the same states.
    forced = final_states_at(model, tok, [seq], [start])[0]
    assert torch.allclose(forced, gen.hidden[0], atol=ATOL)


def test_decode_reads_prompt_and_forced_continuations_from_one_prefill(tiny):
    """The fused pass equals the separate ones: prompt states as prompt_states, free
    decoding as greedy_generate, teacher forcing as a full forward (final_states_at)."""
    model, tok = tiny
    forced = [[5, 9, 11, 3], [7], [2, 2, 8]]  # lengths differ, one single-token row
    out = F.decode(model, tok, PROMPTS, 6, forced=forced, batch_size=3, stop_at_eos=False)
    alone = F.prompt_states(model, tok, PROMPTS, batch_size=1)
    assert torch.allclose(out.states.last, alone.last, atol=ATOL)
    assert torch.allclose(out.states.mean, alone.mean, atol=ATOL)
    assert torch.allclose(out.states.logits, alone.logits, atol=ATOL)
    free = F.greedy_generate(model, tok, PROMPTS, 6, batch_size=1, stop_at_eos=False)
    assert out.generation.tokens == free.tokens
    for i, prompt in enumerate(PROMPTS):
        ids = F.encode(tok, prompt)
        reference = final_states_at(model, tok, [ids + forced[i]], [len(ids)])[0]
        assert out.forced[i].shape == (len(forced[i]), model.config.hidden_size)
        assert torch.allclose(out.forced[i], reference, atol=ATOL)


DEMO = "one two three four five plus six . the cat is on the road and the dog is in the house . "


def _counting_calls():
    """Patch the decoder call to record each call's batch shape; returns (calls, undo)."""
    calls: list[tuple[int, ...]] = []
    original = batching.decoder_call

    def counting(model_, ids, *args, **kw):
        calls.append(tuple(ids.shape))
        return original(model_, ids, *args, **kw)

    batching.decoder_call = counting
    return calls, lambda: setattr(batching, "decoder_call", original)


def test_decode_runs_a_shared_prompt_prefix_once_and_changes_nothing(tiny):
    """Prompts opening with the same demonstration share one prefix forward; states,
    continuations and teacher-forced states equal those of each prompt run alone."""
    model, tok = tiny
    demo = (
        "one two three four five plus six . the cat is on the road and the dog is in the house . "
    )
    prompts = [demo + "a dog", demo + "the king of the city is", demo + "one"]
    seqs = [F.encode(tok, p) for p in prompts]
    assert prefill_mod.shared_prefix(seqs) >= prefill_mod.MIN_SHARED_PREFIX  # shared path taken
    forced = [[5, 9, 11], [7, 3], [2]]
    calls, undo = _counting_calls()
    try:
        out = F.decode(model, tok, prompts, 5, forced=forced, batch_size=3, stop_at_eos=False)
    finally:
        undo()
    # The prefix runs once, except where a sliding window (tiny Gemma-3: 16 tokens) could
    # not span the padding between prefix and suffix.
    sliding = "sliding_attention" in (getattr(model.config, "layer_types", None) or [])
    assert calls[0][0] == (3 if sliding else 1)
    for i, prompt in enumerate(prompts):
        alone = F.decode(model, tok, [prompt], 5, forced=[forced[i]], stop_at_eos=False)
        assert torch.allclose(out.states.last[i], alone.states.last[0], atol=ATOL)
        assert torch.allclose(out.states.mean[i], alone.states.mean[0], atol=ATOL)
        assert out.generation.tokens[i] == alone.generation.tokens[0]
        assert torch.allclose(out.generation.hidden[i], alone.generation.hidden[0], atol=ATOL)
        assert torch.allclose(out.forced[i], alone.forced[0], atol=ATOL)


def test_prompt_states_run_a_shared_prefix_once_and_change_nothing(tiny):
    """Prompt states of prompts opening with the same demonstrations (a few-shot suite):
    the prefix runs once for the batch, and every row equals the prompt run alone."""
    model, tok = tiny
    prompts = [DEMO + "a dog", DEMO + "the king of the city is", DEMO + "one"]
    calls, undo = _counting_calls()
    try:
        shared = F.prompt_states(model, tok, prompts, batch_size=3)
    finally:
        undo()
    sliding = "sliding_attention" in (getattr(model.config, "layer_types", None) or [])
    assert calls[0][0] == (3 if sliding else 1)  # the prefix alone, unless a window forbids
    for i, prompt in enumerate(prompts):
        alone = F.prompt_states(model, tok, [prompt], batch_size=1)
        assert torch.allclose(shared.last[i], alone.last[0], atol=ATOL)
        assert torch.allclose(shared.mean[i], alone.mean[0], atol=ATOL)
        assert torch.allclose(shared.logits[i], alone.logits[0], atol=ATOL)


def test_option_scores_run_a_shared_prefix_once_and_change_nothing(tiny):
    """Continuation scores of options after prompts sharing demonstrations equal the
    scores of each prompt alone, with the shared prefix run once."""
    model, tok = tiny
    prompts = [DEMO + "a dog", DEMO + "the king of the city is", DEMO + "one"]
    calls, undo = _counting_calls()
    try:
        shared = F.continuation_logprobs(model, tok, prompts, OPTIONS, batch_size=3)
    finally:
        undo()
    sliding = "sliding_attention" in (getattr(model.config, "layer_types", None) or [])
    assert calls[0][0] == (3 if sliding else 1)
    for i, prompt in enumerate(prompts):
        alone = F.continuation_logprobs(model, tok, [prompt], [OPTIONS[i]], batch_size=1)[0]
        for got, want in zip(shared[i], alone, strict=True):
            assert got.logprob == pytest.approx(want.logprob, abs=ATOL)
            assert (got.n_tokens, got.is_greedy) == (want.n_tokens, want.is_greedy)


def test_template_order_groups_shared_openings_and_sorts_the_rest_by_length():
    a = list(range(20))
    seqs = [[9, 9], [*a, 1, 2, 3], [8] * 5, [*a, 4], [7] * 3]
    order = prefill_mod.by_template(seqs)
    assert order == [0, 4, 2, 3, 1]  # lone prompts by length, then the shared group by length
    assert prefill_mod.shared_prefix([[*a, 1], [*a, 2, 3]]) == 20
    assert prefill_mod.shared_prefix([a, a]) == 19  # every row keeps one token of its own


def test_decode_rejects_bad_arguments(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="at least 1"):
        F.decode(model, tok, PROMPTS[:1], 0)
    with pytest.raises(ValueError, match="one continuation per prompt"):
        F.decode(model, tok, PROMPTS[:2], 3, forced=[[1]])
    with pytest.raises(ValueError, match="at least one token"):
        F.decode(model, tok, PROMPTS[:1], 3, forced=[[]])


def test_generation_stops_at_eos():
    model, tok = tiny_model("llama", layers=2, initializer_range=0.2)
    free = F.greedy_generate(model, tok, ["the cat"], 8, stop_at_eos=False).tokens[0]
    # Declare the third generated token to be end-of-sequence: decoding must stop there.
    model.generation_config.eos_token_id = free[2]
    gen = F.greedy_generate(model, tok, ["the cat"], 8)
    first = free.index(free[2])
    assert gen.ended[0]
    assert gen.tokens[0] == free[: first + 1]
    assert gen.hidden[0].shape[0] == first + 1


@pytest.mark.parametrize(("kind", "dropped"), [("attn", [0, 2]), ("block", [0, 2]), ("mlp", [1])])
def test_pruned_models_decode_and_score_consistently(kind, dropped):
    """Dropped sublayers/blocks (as advisor.pruning makes them, incl. the first layer's
    attention, whose KV cache normally sizes the masks) keep batching exact."""
    from advisor.pruning import layer_drop

    model, tok = tiny_model("llama", layers=4, initializer_range=0.2)
    layer_drop.drop(model, kind, dropped)
    batch = F.greedy_generate(model, tok, PROMPTS, 8, batch_size=3, stop_at_eos=False)
    scores = F.continuation_logprobs(model, tok, PROMPTS, OPTIONS)
    for i, prompt in enumerate(PROMPTS):
        alone = F.greedy_generate(model, tok, [prompt], 8, stop_at_eos=False)
        assert batch.tokens[i] == alone.tokens[0]
        seq = batch.prompt_ids[i] + batch.tokens[i]
        with torch.inference_mode():
            logits = model(torch.tensor([seq])).logits[0]
        start = len(batch.prompt_ids[i])
        assert torch.allclose(
            anatomy.head_logits(model, batch.hidden[i]), logits[start - 1 : -1], atol=ATOL
        )
        single = F.continuation_logprobs(model, tok, [prompt], [OPTIONS[i]])[0]
        for a, b in zip(scores[i], single, strict=True):
            assert a.logprob == pytest.approx(b.logprob, abs=ATOL)


def test_batches_never_mix_very_different_lengths():
    """One long prompt (a cut 8k-token user row) gets its own batch instead of padding the
    short ones; prompts of similar length are batched as before, up to the batch size."""
    lengths = [50, 8000, 60, 55, 70, 58]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    assert batching.batches(order, 24, lengths) == [[0, 3, 5, 2, 4], [1]]
    assert batching.batches(order, 2, lengths) == [[0, 3], [5, 2], [4], [1]]
    similar = [150, 260, 190, 230]  # a built-in suite's spread: one batch, as before
    assert batching.batches([0, 2, 3, 1], 24, similar) == [[0, 2, 3, 1]]


def test_reuse_hands_back_prompt_passes_without_running_the_model_again(tiny):
    """Inside `reuse`, a prompt already run (by prompt_states, or by decode's prefill) and
    option scores already computed come back equal, with no new forward call; outside it
    every call runs the model."""
    model, tok = tiny
    calls = []
    hook = model.get_decoder().register_forward_hook(lambda *_: calls.append(1))
    try:
        with F.reuse(model):
            decoded = F.decode(model, tok, PROMPTS[:2], 2)
            before = len(calls)
            first = F.prompt_states(model, tok, PROMPTS, batch_size=3)
            ran = len(calls) - before
            again = F.prompt_states(model, tok, list(reversed(PROMPTS)), batch_size=1)
            scores = F.continuation_logprobs(model, tok, PROMPTS, OPTIONS)
            ran_scores = len(calls)
            scores_again = F.continuation_logprobs(model, tok, PROMPTS, OPTIONS)
            assert len(calls) == ran_scores  # nothing new ran
        assert ran == 1  # only the third prompt: decode's prefill gave the first two
        assert scores_again == scores
        for i in range(3):
            assert torch.equal(again.last[2 - i], first.last[i])
            assert torch.equal(again.mean[2 - i], first.mean[i])
        assert torch.equal(first.last[:2], decoded.states.last)
        F.prompt_states(model, tok, PROMPTS[:1])
        assert len(calls) == ran_scores + 1  # the memo is gone after the block
    finally:
        hook.remove()


def test_kept_prefills_seed_a_later_decoding_that_equals_a_fresh_one(tiny):
    """Inside `reuse(keep_prefill=…)`, the evidence-style pass (prefill + one step, here
    with the shared-prefix layout) keeps the asked-for rows; a later decoding of a mix of
    kept and new prompts runs only the new prompts' prefill and gives what a fresh
    decoding gives: states, tokens, hidden states and teacher-forced states."""
    model, tok = tiny
    demo = "one two three four five plus six . the cat is on the road and the dog is . "
    first = [demo + "a dog", demo + "the king of the city is", demo + "one"]
    later = [first[1], PROMPTS[0], first[0]]  # two kept, one new, in another order
    forced = [[5, 9, 11], [7, 3], [2]]
    keep = [F.encode(tok, p) for p in first[:2]]
    fresh = F.decode(model, tok, later, 6, forced=forced, stop_at_eos=False)
    prefilled = []
    original = decoding.prefill

    def counting(seqs, *args, **kw):
        prefilled.append(len(seqs))
        return original(seqs, *args, **kw)

    decoding.prefill = counting
    try:
        with F.reuse(model, keep_prefill=keep):
            F.decode(model, tok, first, 1, forced=[[3], [4, 5], [6]], stop_at_eos=False)
            prefilled.clear()
            out = F.decode(model, tok, later, 6, forced=forced, stop_at_eos=False)
    finally:
        decoding.prefill = original
    # Only the new prompt runs its prompt, except where a sliding window (tiny Gemma-3: 16
    # tokens) had already dropped cache slots: such a cache is not kept, all run again.
    sliding = "sliding_attention" in (getattr(model.config, "layer_types", None) or [])
    assert prefilled == ([3] if sliding else [1])
    assert out.generation.tokens == fresh.generation.tokens
    assert torch.allclose(out.states.last, fresh.states.last, atol=ATOL)
    assert torch.allclose(out.states.mean, fresh.states.mean, atol=ATOL)
    for i in range(len(later)):
        assert torch.allclose(out.generation.hidden[i], fresh.generation.hidden[i], atol=ATOL)
        assert torch.allclose(out.forced[i], fresh.forced[i], atol=ATOL)
