"""sweep: the largest pruning amount that is still go, per task type (docs/design.md §5d).

:mod:`advisor.sweep.plan` (the amounts, read and checked), :mod:`advisor.sweep.frontier`
(which amounts a task type still needs: the frontier search or every amount with early
stop), :mod:`advisor.sweep.run` (the amounts assessed and published here, resumable) and
:mod:`advisor.sweep.ray` (every amount as one Ray task).
"""
