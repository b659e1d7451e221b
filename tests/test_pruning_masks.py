"""Mask selection: exact counts despite ties, valid N:M groups, seeded tie-breaks."""

from __future__ import annotations

import pytest
import torch

from advisor.errors import AdvisorError
from advisor.pruning import masks


def tied_scores(rows: int = 16, cols: int = 64) -> torch.Tensor:
    """Scores like |W| of de-quantised 4-bit weights: only 16 distinct values."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 16, (rows, cols), generator=generator).float()


@pytest.mark.parametrize("sparsity", [0.1, 0.3, 0.5, 0.77])
@pytest.mark.parametrize("per_row", [False, True])
def test_exact_count_despite_ties(sparsity, per_row):
    scores = tied_scores()
    keys = masks.tie_keys(tuple(scores.shape), 0, "w")
    mask = masks.select(scores, sparsity, None, keys, per_row=per_row)
    assert int(mask.sum()) == round(sparsity * scores.numel())
    # Never a kept weight scoring below a pruned one (in its row, when per row).
    if per_row:
        for r in range(scores.shape[0]):
            assert scores[r][mask[r]].max() <= scores[r][~mask[r]].min()
    else:
        assert scores[mask].max() <= scores[~mask].min()


def test_per_row_counts_are_even():
    scores = tied_scores(rows=5, cols=10)
    mask = masks.row_mask(scores, 23, masks.tie_keys((5, 10), 0, "w"))
    assert sorted(mask.sum(1).tolist()) == [4, 4, 5, 5, 5]


@pytest.mark.parametrize(("pattern", "n", "m"), [("2:4", 2, 4), ("4:8", 4, 8)])
def test_nm_every_group_valid(pattern, n, m):
    scores = tied_scores()
    assert masks.parse_pattern(pattern) == (n, m)
    mask = masks.select(scores, 0.0, (n, m), masks.tie_keys((16, 64), 3, "w"), per_row=True)
    groups = mask.reshape(16, 64 // m, m)
    assert bool((groups.sum(-1) == m - n).all())
    assert masks.check_nm(mask, n, m)
    kept, cut = scores.reshape(16, -1, m), groups
    assert bool((kept.masked_fill(~cut, -1).amax(-1) <= kept.masked_fill(cut, 99).amin(-1)).all())


def test_tie_break_is_seeded_and_deterministic():
    scores = torch.zeros(8, 32)  # all tied: only the tie-break decides
    pick = {
        seed: masks.lowest_mask(scores, 100, masks.tie_keys((8, 32), seed, "w"))
        for seed in (0, 0, 1)
    }
    again = masks.lowest_mask(scores, 100, masks.tie_keys((8, 32), 0, "w"))
    assert torch.equal(pick[0], again)
    assert not torch.equal(pick[0], pick[1])
    assert int(pick[1].sum()) == 100


def test_split_count_sums_to_total():
    assert masks.split_count(10, 4) == [2, 3, 2, 3]
    assert sum(masks.split_count(12345, 7)) == 12345


def test_bad_patterns():
    with pytest.raises(AdvisorError, match="Unknown sparsity pattern"):
        masks.parse_pattern("3:4")
    with pytest.raises(AdvisorError, match="not a multiple"):
        masks.nm_mask(torch.ones(2, 6), 2, 4, masks.tie_keys((2, 6), 0, "w"))
