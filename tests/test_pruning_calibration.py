"""Calibration text: seeded, hashed, and disjoint from the held-out text."""

from __future__ import annotations

import pytest
import torch

from advisor.errors import AdvisorError
from advisor.pruning import calibration
from tests.tiny_models import tiny_tokenizer


def test_splits_are_disjoint_articles():
    calib, heldout = calibration._pool("calibration"), calibration._pool("heldout")
    assert calib and heldout and not set(calib) & set(heldout)
    assert 2 * len(heldout) < len(calib) < 4 * len(heldout)  # 3 of every 4 articles


def test_seeded_and_hashed():
    tok = tiny_tokenizer()
    first = calibration.token_batches(tok, 4, 32, seed=0)
    again = calibration.token_batches(tok, 4, 32, seed=0)
    other = calibration.token_batches(tok, 4, 32, seed=1)
    assert first.input_ids.shape == (4, 32)
    assert torch.equal(first.input_ids, again.input_ids) and first.hash == again.hash
    assert not torch.equal(first.input_ids, other.input_ids) and first.hash != other.hash
    assert [b.shape[0] for b in first.batches(3)] == [3, 1]
    assert first.describe()["tokens"] == 128 and first.describe()["split"] == "calibration"


def test_each_sequence_starts_like_a_prompt():
    """Tokenizers that prepend <bos> (Gemma) get it on every calibration sequence."""
    tok = tiny_tokenizer()
    tok._tokenizer.post_processor = None
    from tokenizers.processors import TemplateProcessing

    tok._tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)]
    )
    ids = calibration.token_batches(tok, 3, 16).input_ids
    assert ids.shape == (3, 16) and bool((ids[:, 0] == tok.bos_token_id).all())
    assert int((ids[:, 1:] == tok.bos_token_id).sum()) == 0


def test_too_much_calibration_is_a_clear_error():
    with pytest.raises(AdvisorError, match="lower --calib-samples"):
        calibration.token_batches(tiny_tokenizer(), 100_000, 512)
    with pytest.raises(AdvisorError, match="at least 8 tokens"):
        calibration.token_batches(tiny_tokenizer(), 4, 2)
