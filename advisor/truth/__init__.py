"""Ground truth: score a model against gold, gate on dense competence, measure retention.

:mod:`advisor.truth.metrics` (pure item scores), :mod:`advisor.truth.score` (one model on a
suite's items), :mod:`advisor.truth.competence` (is the dense model informative?),
:mod:`advisor.truth.retention` (pruned / dense with a bootstrap interval) and
:mod:`advisor.truth.evaluate` (the dense-vs-pruned comparison behind `prune-advisor evaluate`).
"""
