"""setuptools' build backend, less one notice that reads as a warning.

An editable install of this layout (``data/`` and ``templates/`` mapped into the package)
goes through setuptools' import finder, which announces itself with an
``InformationOnly`` "Editable installation." notice that pip prints as a
BuildBackendWarning on every ``pip install -e .`` (pypa/packaging-problems#558: setuptools
has no other channel for information). Nothing is wrong, so it is silenced here; every
real warning still prints.
"""

from __future__ import annotations

import warnings
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the PEP 517 / 660 hooks, unchanged)


def build_editable(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    """setuptools' ``build_editable`` without its "Editable installation." notice."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Editable installation")
        return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
