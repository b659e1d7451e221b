"""prune-advisor: is this pruned language model safe to ship for a given task type?

Data flows one way: load → prune → measure → (evaluate) → rules → report.
"""

__version__ = "0.1.0"
