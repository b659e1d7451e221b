"""A few cells of benchmarks/interval_coverage.py: the whole verdict procedure (exact
bounds, sequential looks) commits to the wrong side of the tolerance at most at the
design's nominal level (5% per side), near the tolerance where it is hardest. Seeded, so
every run draws the same suites."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "interval_coverage.py"
spec = importlib.util.spec_from_file_location("interval_coverage", PATH)
coverage = importlib.util.module_from_spec(spec)
spec.loader.exec_module(coverage)


@pytest.mark.parametrize(
    ("kind", "truth", "n"),
    [
        ("survival", 0.895, 32),  # go while below: the hardest go cell of the table
        ("survival", 0.905, 16),
        ("answers", 0.905, 8),  # no-go while above: the hardest no-go cell
        ("answers", 0.895, 64),
    ],
)
def test_wrong_commitments_stay_at_or_under_the_nominal_level(kind, truth, n):
    rate = coverage.error_rate(kind, truth, n, 2000, np.random.default_rng(0))
    assert rate <= coverage.NOMINAL


def test_sixteen_of_sixteen_surviving_is_not_go():
    assert coverage.survival_verdict(np.ones(16)) == "caution"
    assert coverage.survival_verdict(np.ones(128)) == "go"  # enough items make go reachable
