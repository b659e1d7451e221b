"""prune-advisor: is this pruned language model safe to ship for a given task type?

In Python, ``advisor.check`` is ``prune-advisor assess``::

    import advisor

    result = advisor.check(method="attn-drop", ratio=0.25, tasks=["rag"])
    print(result.verdicts, result.gate.sentence)

Data flows one way, and the sub-packages follow it (docs/design.md §9): load (``models``)
→ prune (``pruning``) → run (``forward``, on ``suites``) → ground truth (``truth``) →
measure (``measure``) → the dense/pruned pair (``pair``) → rules (``rules``, the
predictor) → guidance → fitting (``fitting``, what makes a rules file) → ``assess`` →
report (``report``) → ``api`` (the public face of ``assess``) → ``sweep`` → ``cli``, which
only parses and prints. ``tests/test_layout.py`` holds the order.
"""

__version__ = "0.1.0"

from typing import Any

from advisor.errors import AdvisorError

# The API's names, loaded on first use: importing advisor loads no torch (the API does).
_API = ("Assessment", "AssessOptions", "Gate", "TaskVerdict", "check")


def __getattr__(name: str) -> Any:
    """``advisor.check`` and the API's types, imported from :mod:`advisor.api` when first
    asked for (PEP 562)."""
    if name in _API:
        from advisor import api  # lazy: the API imports torch; `import advisor` stays light

        return getattr(api, name)
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")


__all__ = [
    "AdvisorError",
    "AssessOptions",
    "Assessment",
    "Gate",
    "TaskVerdict",
    "__version__",
    "check",
]
