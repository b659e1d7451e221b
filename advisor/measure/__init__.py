"""Measure: the representation hierarchy of a pruned model against its dense original.

:func:`measure` records both models on the same items (:mod:`advisor.measure.record`, the
dense side from :mod:`advisor.measure.dense_cache` when cached), compares them per item in
each space (:mod:`advisor.measure.spaces`, generation drift in
:mod:`advisor.measure.accumulation`) and aggregates (:mod:`advisor.measure.aggregate`).
:mod:`advisor.measure.probe` checks first that a pruned model is not broken outright;
:mod:`advisor.measure.speed` times decoding.
"""

from advisor.measure.compare import Measurements, measure

__all__ = ["Measurements", "measure"]
