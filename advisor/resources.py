"""The files prune-advisor ships beside its code: rules, suite specs, schema, templates.

They live in the repository's top-level ``data/`` and ``templates/`` folders (the product's
agreed layout) and are mapped into the package at build time (``pyproject.toml``:
``advisor._data`` → ``data/``, ``advisor._templates`` → ``templates/``), so an installed
wheel carries them. Every reader goes through :func:`resource`; this module is the one
place that knows where they are.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path

# Resource folder → the package it is installed as.
PACKAGES = {"data": "advisor._data", "templates": "advisor._templates"}


def resource_root(folder: str) -> Traversable:
    """The shipped ``data`` or ``templates`` folder.

    Installed (wheel or editable): the mapped package. Run from a source checkout that was
    never installed (``PYTHONPATH=.``), the mapped package does not exist; the folder then
    sits beside ``advisor/``.
    """
    try:
        return importlib.resources.files(PACKAGES[folder])
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / folder


def resource(folder: str, *parts: str) -> Traversable:
    """One shipped file, e.g. ``resource("data", "rules", "default.json")``."""
    found = resource_root(folder)
    for part in parts:
        found = found / part
    return found
