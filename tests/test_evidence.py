"""Direct evidence: losses by hand, identical models, and answer survival against real
greedy decoding (the claim the cheap assess rests on)."""

from __future__ import annotations

import math

import pytest
import torch

from advisor import forward
from advisor.measure import evidence, loss
from advisor.models import load_model
from advisor.pruning import prune_model
from advisor.suites.items import Item
from advisor.truth.score import score_model
from tests.tiny_models import save_tiny_model

WORDS = "the cat dog house river city king war music science water fire stone tree bird"


def _short_answers(n: int = 12) -> list[Item]:
    words = WORDS.split()
    return [
        Item(
            id=f"m{i}",
            task="math",
            prompt=f"{words[i % 15]} {words[(3 * i) % 15]} plus {i % 10} equals",
            reference=str(i % 10),
            meta={"answer": float(i % 10), "max_new_tokens": 6, "stop": [" we"]},
        )
        for i in range(n)
    ]


def _texts(n: int = 6) -> list[Item]:
    words = WORDS.split()
    return [
        Item(
            id=f"g{i}",
            task="generation",
            prompt=" ".join(words[i : i + 5]),
            reference=" ".join(words[i + 5 : i + 9]),
            meta={"max_new_tokens": 4},
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    # Wider initial weights than the shared tiny model: its greedy text varies with the
    # prompt (the default tiny model repeats one word), so survival has something to test.
    folder = save_tiny_model(
        tmp_path_factory.mktemp("tiny-varied"),
        "llama",
        initializer_range=0.2,
        tie_word_embeddings=False,
    )
    dense = load_model(str(folder))
    return dense, prune_model(dense, "magnitude", sparsity=0.3).loaded


def test_losses_by_hand():
    u, sd = loss._loss_answers([1.0] * 10, [1.0] * 9 + [0.0])
    assert u == pytest.approx(0.1)
    # no less than the Jeffreys posterior SD for 1 lost of 10
    assert sd >= math.sqrt(1.5 * 9.5 / (11**2 * 12)) - 1e-12
    u, sd = loss._loss_answers([1.0] * 10, [1.0] * 10)
    assert u == 0.0 and sd == pytest.approx(math.sqrt(0.5 * 10.5 / (11**2 * 12)))
    # gaining items is not a loss below zero
    assert loss._loss_answers([1.0, 0.0], [1.0, 1.0])[0] == 0.0
    assert loss._loss_reference([0.0, 0.0, 0.0]) == (0.0, 0.0)
    u, sd = loss._loss_reference([0.1, 0.3])
    assert u == pytest.approx(0.2) and sd > 0


def test_an_identical_model_loses_nothing(models):
    dense, _ = models
    for items in (_short_answers(), _texts()):
        task = items[0].task
        found = evidence.task_evidence(dense, dense, task, items, score_model(dense, items))
        assert found.stats["loss"] == 0.0, task
        if found.kind == "reference":
            assert found.stats["loss_sd"] == 0.0
            assert found.stats["delta_nll"] == pytest.approx(0.0, abs=1e-9)
        else:
            assert found.stats["survival"] == 1.0


def test_survival_is_exactly_greedy_reproduction(models):
    """Teacher-forced survival says yes exactly where the pruned model's own greedy
    decoding reproduces the dense answer window (its closing boundary may be any token
    that ends the word)."""
    dense, pruned = models
    items = _short_answers(24)
    side = evidence.dense_side(dense, "math", items, cache=False)
    kept = evidence.survival(pruned.model, dense.tokenizer, items, side)
    free = forward.greedy_generate(pruned.model, pruned.tokenizer, [i.prompt for i in items], 6)
    for n, item in enumerate(items):
        k, boundary = side["window"][n], side["boundary"][n]
        mine, theirs = free.tokens[n], side["tokens"][n]
        same = mine[: k - 1] == theirs[: k - 1] and len(mine) >= k
        if same:
            last_ok = mine[k - 1] == theirs[k - 1] or (
                boundary and evidence._ends_word(dense.tokenizer, mine[k - 1])
            )
            same = last_ok
        assert kept[n] == same, item.id
    assert 0 < sum(kept) < len(items)  # both outcomes occur: the test can fail
    assert 0 < sum(side["boundary"]) < len(items)  # stops met and horizons reached


def test_answer_window_stops_at_the_stop_and_keeps_its_token(models):
    dense, _ = models
    tok = dense.tokenizer
    ids = tok("seven . eight nine", add_special_tokens=False).input_ids
    item = Item(id="x", task="math", prompt="p", meta={"stop": [" ."]})
    assert evidence._answer_window(tok, ids, item) == (2, True)
    no_stop = Item(id="y", task="math", prompt="p", meta={"stop": ["zebra"]})
    assert evidence._answer_window(tok, ids, no_stop) == (len(ids), False)
    span = Item(id="z", task="rag", prompt="p", reference="eight", meta={})
    assert evidence._answer_window(tok, ids, span) == (4, True)


def test_reference_evidence_matches_a_hand_computed_nll(models):
    import torch

    dense, pruned = models
    items = _texts(3)
    nll = evidence.reference_nll(pruned.model, dense.tokenizer, items)
    for item, value in zip(items, nll, strict=True):
        prompt, ref = evidence._reference_ids(dense.tokenizer, item)
        ids = torch.tensor([prompt + ref])
        with torch.inference_mode():
            logits = pruned.model(ids).logits[0, len(prompt) - 1 : -1].double()
        logp = torch.log_softmax(logits, -1).gather(-1, torch.tensor(ref)[:, None])
        assert value == pytest.approx(float(-logp.mean()), abs=1e-5)


def test_same_weights_tells_an_unpruned_copy_from_a_pruned_one(models, tiny_llama_dir):
    import copy

    from advisor.measure.probe import same_weights

    dense, pruned = models
    assert same_weights(dense.model, copy.deepcopy(dense.model))
    assert not same_weights(dense.model, pruned.model)  # magnitude: same shapes, zeros
    dropped = prune_model(dense, "attn-drop", layers=1).loaded.model
    assert not same_weights(dense.model, dropped)


@pytest.mark.parametrize("items", [_short_answers(12), _texts(8)], ids=["survival", "reference"])
def test_a_later_look_runs_only_the_items_an_earlier_one_did_not(models, items):
    """Inside a reuse block, evidence on a superset of items runs the teacher-forced pass
    only for the new ones, and equals the evidence read on the superset from scratch."""
    dense, pruned = models
    task = items[0].task
    results = score_model(dense, items)
    evidence.dense_side(dense, task, items, cache=False)
    forced = []
    original = evidence._forced_logits

    def counting(model, tokenizer, prompts, conts):
        if model is pruned.model:  # (the dense side, not cached here, runs too)
            forced.append(len(prompts))
        return original(model, tokenizer, prompts, conts)

    evidence._forced_logits = counting
    try:
        with forward.reuse(pruned.model):
            first = [0, 4]
            evidence.task_evidence(dense, pruned, task, items, results, cache=False, picks=first)
            forced.clear()
            every = list(range(len(items)))
            later = evidence.task_evidence(
                dense, pruned, task, items, results, cache=False, picks=every
            )
    finally:
        evidence._forced_logits = original
    fresh = evidence.task_evidence(dense, pruned, task, items, results, cache=False)
    scoring = sum(r.score > 0 for n, r in enumerate(results) if n not in first)
    assert sum(forced) == (len(items) - 2 if task == "generation" else scoring)
    assert later.stats == pytest.approx(fresh.stats)
    assert later.pruned == pytest.approx(fresh.pruned)


def test_evidence_on_picked_items_is_the_evidence_of_those_items(models):
    """Reading a subset by ``picks`` equals reading a suite made of those items."""
    dense, pruned = models
    items = _short_answers(12)
    results = score_model(dense, items)
    picks = [1, 3, 8]
    mine = evidence.task_evidence(dense, pruned, "math", items, results, cache=False, picks=picks)
    alone = [items[n] for n in picks]
    theirs = evidence.task_evidence(
        dense, pruned, "math", alone, score_model(dense, alone), cache=False
    )
    assert mine.to_dict() == theirs.to_dict()


def test_answer_reads_by_hand(models):
    """The NLL that orders tied restorations (blame) is the mean NLL per token of the
    dense answer window teacher-forced through the model, lower for the dense model itself
    than for its pruning on an item the pruning loses. By hand from the logits."""
    dense, pruned = models
    items = _short_answers(24)
    side = evidence.dense_side(dense, "math", items, cache=False)
    reads = {
        name: evidence.answer_reads(m.model, dense.tokenizer, items, side)
        for name, m in (("dense", dense), ("pruned", pruned))
    }
    n = next(k for k, (kept, _) in enumerate(reads["pruned"]) if not kept)
    cont = list(side["tokens"][n][: side["window"][n]])
    (logits,) = evidence._forced_logits(
        pruned.model, dense.tokenizer, [forward.encode(dense.tokenizer, items[n].prompt)], [cont]
    )
    by_hand = -torch.log_softmax(logits.double(), -1)[torch.arange(len(cont)), cont].mean()
    assert reads["pruned"][n][1] == pytest.approx(float(by_hand), rel=1e-9)
    assert reads["dense"][n][0] and reads["dense"][n][1] < reads["pruned"][n][1]


def test_dense_margins_by_hand(models):
    """The dense side keeps the dense model's margin on each answer window (what a
    screened reading orders items by): the answer token's logit over the best other one,
    least over the window, as teacher forcing the dense answer gives it; never negative
    (greedy picked those tokens), and the pruning's margin is negative on an item it loses."""
    dense, pruned = models
    items = _short_answers(24)
    side = evidence.dense_side(dense, "math", items, cache=False)
    prompts = [forward.encode(dense.tokenizer, i.prompt) for i in items]
    conts = [list(t[:k]) for t, k in zip(side["tokens"], side["window"], strict=True)]
    kept = evidence.survival(pruned.model, dense.tokenizer, items, side)
    for n in range(len(items)):
        (z,) = evidence._forced_logits(dense.model, dense.tokenizer, [prompts[n]], [conts[n]])
        chosen = z[torch.arange(len(conts[n])), conts[n]]
        others = z.clone()
        others[torch.arange(len(conts[n])), conts[n]] = -torch.inf
        by_hand = float((chosen - others.max(-1).values).min())
        assert side["margins"][n] == pytest.approx(by_hand, abs=1e-4), n
        assert side["margins"][n] >= -evidence.ARGMAX_SLACK
        if not kept[n]:
            (z,) = evidence._forced_logits(pruned.model, dense.tokenizer, [prompts[n]], [conts[n]])
            assert evidence._margin(z, conts[n]) < 0
    assert not all(kept)
