"""Rules: from the direct evidence of task quality to go / caution / no-go (docs/design.md §5c).

The predictor an assessment reads: :mod:`advisor.rules.rules_file` (a rules file, read and
checked), :mod:`advisor.rules.predict` (one line per task type: predicted retention with an
interval and the verdict it implies), :mod:`advisor.rules.looks` (the sequential looks),
:mod:`advisor.rules.bounds` (exact bounds for share evidence) and
:mod:`advisor.rules.features` (the representation-hierarchy features a report shows).
Making a rules file is :mod:`advisor.fitting`.
"""
