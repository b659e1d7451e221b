"""prune-advisor: is this pruned language model safe to ship for a given task type?

In Python, ``advisor.check`` is ``prune-advisor assess``::

    import advisor

    result = advisor.check(method="attn-drop", ratio=0.25, tasks=["rag"])
    print(result.verdicts, result.gate.sentence)

Data flows one way, and the sub-packages follow it: load (``models``) → prune
(``pruning``) → measure (``measure``, running models through ``forward`` on ``suites``) →
ground truth (``truth``) → rules (``rules``) → report (``report``); ``assess`` and
``sweep`` are the library functions behind the commands, ``api`` the public face of
``assess``, ``cli`` only parses and prints. docs/design.md explains why.
"""

__version__ = "0.1.0"

# Light on purpose: importing advisor loads no torch (the API imports it when it runs).
from advisor.api import Assessment, AssessOptions, Gate, TaskVerdict, check
from advisor.errors import AdvisorError

__all__ = [
    "AdvisorError",
    "AssessOptions",
    "Assessment",
    "Gate",
    "TaskVerdict",
    "__version__",
    "check",
]
