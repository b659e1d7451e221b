"""Fitting: the machinery that makes a rules file (docs/design.md §5c), apart from the
predictor that reads one (:mod:`advisor.rules`).

:mod:`advisor.fitting.grid` (the pruning grid, measured and evaluated: the cases),
:mod:`advisor.fitting.external` (cases labelled by lm-eval results instead),
:mod:`advisor.fitting.fit` (cases to a validated rules file), :mod:`advisor.fitting.ray`
(a grid over Ray) and :mod:`advisor.fitting.choices` (what ``prune-advisor fit`` runs).
"""
