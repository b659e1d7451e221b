"""Ground-truth outcome of one task type: quality retention with a bootstrap interval.

Retention = mean pruned score / mean dense score, on the same items, against gold or a
reference (docs/design.md §5). The interval is a paired percentile bootstrap over items. The
outcome is ``go`` when the interval lies at or above the tolerance, ``no-go`` when it lies
below, and ``caution`` when it straddles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from advisor.verdicts import CAUTION, GO, NO_GO

DEFAULT_TOLERANCE = 0.9
BOOTSTRAP_SAMPLES = 1000


def retention(
    dense: Sequence[float],
    pruned: Sequence[float],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Retention of ``pruned`` item scores relative to ``dense`` ones, with its outcome.

    ``decisive`` is True when the ``level`` interval lies wholly on one side of the
    tolerance (outcome go or no-go): a label to learn from; otherwise it is borderline.
    """
    d = np.asarray(dense, dtype=np.float64)
    p = np.asarray(pruned, dtype=np.float64)
    if d.shape != p.shape or d.size == 0:
        raise ValueError("dense and pruned need the same, non-zero number of item scores")
    dense_mean, pruned_mean = float(d.mean()), float(p.mean())
    record: dict[str, Any] = {
        "dense_score": dense_mean,
        "pruned_score": pruned_mean,
        "n": int(d.size),
        "tolerance": tolerance,
    }
    if dense_mean <= 0:
        return {**record, "retention": None, "ci": None, "outcome": None, "decisive": False}
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, d.size, size=(samples, d.size))
    d_means, p_means = d[picks].mean(axis=1), p[picks].mean(axis=1)
    ratios = np.divide(p_means, d_means, out=np.zeros_like(p_means), where=d_means > 0)
    tail = 100 * (1 - level) / 2
    low, high = (float(x) for x in np.percentile(ratios, [tail, 100 - tail]))
    point = pruned_mean / dense_mean
    if low >= tolerance:
        outcome = GO
    elif high < tolerance:
        outcome = NO_GO
    else:
        outcome = CAUTION
    return {
        **record,
        "retention": point,
        "ci": [low, high],
        "level": level,
        "outcome": outcome,
        "decisive": outcome != CAUTION,
    }
