"""Where prune-advisor keeps converted models, downloads and measurement caches."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

CACHE_ENV = "PRUNE_ADVISOR_CACHE"
# Converted models and downloads: expensive to rebuild and never specific to one run.
MODEL_PARTS = ("models", "gguf", "wheels", "fingerprints")


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


def cache_file(kind: str, *key: object) -> Path:
    """The JSON file in cache ``kind`` for one key: its parts joined by ':' and hashed (a
    version, the model's cache identity, what was measured and on which items)."""
    payload = ":".join(str(part) for part in key)
    return cache_dir(kind) / f"{hashlib.sha256(payload.encode()).hexdigest()[:24]}.json"


def scratch_cache(prefix: str = "prune-advisor-cache-") -> Path:
    """A fresh cache directory with empty measurement caches (dense sides, scores) whose
    converted models and downloads are links into the real cache, so nothing is converted
    twice. For tests and benchmarks that must not read or write the user's results."""
    real = cache_root()
    root = Path(tempfile.mkdtemp(prefix=prefix))
    for part in MODEL_PARTS:
        (real / part).mkdir(parents=True, exist_ok=True)
        (root / part).symlink_to(real / part, target_is_directory=True)
    return root
