"""Rules: from the direct evidence of task quality to go / caution / no-go (docs/design.md §5c).

:mod:`advisor.rules.features` (the representation-hierarchy features a report shows),
:mod:`advisor.rules.grid` (the pruning grid, measured and evaluated for fitting),
:mod:`advisor.rules.predict` (one line per task type: predicted retention with an
interval, the verdict it implies, and how its verdicts fare on held-out models and
methods) and :mod:`advisor.rules.fit` (a validated rules file).
"""
