"""Where prune-advisor keeps converted models, downloads and measurement caches."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "PRUNE_ADVISOR_CACHE"


def cache_root() -> Path:
    """The cache directory: ``$PRUNE_ADVISOR_CACHE``, else ``$XDG_CACHE_HOME/prune-advisor``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "prune-advisor"


def cache_dir(*parts: str) -> Path:
    """A sub-directory of the cache, created on demand."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
