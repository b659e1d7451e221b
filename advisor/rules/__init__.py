"""Rules: from cheap calibration measurements to go / caution / no-go (docs/design.md §5).

:mod:`advisor.rules.features` (what a rule reads), :mod:`advisor.rules.grid` (the pruning
grid measured and evaluated for fitting), :mod:`advisor.rules.tree` (one shallow tree per
task type), :mod:`advisor.rules.fit` (a validated rules file) and :mod:`advisor.rules.apply`
(a verdict with its reasons).
"""
