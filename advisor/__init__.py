"""prune-advisor: is this pruned language model safe to ship for a given task type?

Data flows one way, and the sub-packages follow it: load (``models``) → prune
(``pruning``) → measure (``measure``, running models through ``forward`` on ``suites``) →
ground truth (``truth``) → rules (``rules``) → report (``report``); ``assess`` and
``sweep`` are the library functions behind the commands, ``cli`` only parses and prints.
docs/design.md explains why.
"""

__version__ = "0.1.0"
