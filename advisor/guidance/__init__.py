"""Guidance beyond a verdict (docs/guidance.md): what removing each unit of a structural
method costs each task type (:mod:`advisor.guidance.sensitivity`), and the largest set of
units whose removal stays go on every task type named (:mod:`advisor.guidance.plan`)."""
