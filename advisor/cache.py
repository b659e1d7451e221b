"""Where prune-advisor keeps converted models, downloads and measurement caches."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from advisor.errors import AdvisorError

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
    """A sub-directory of the cache, created on demand; a cache that cannot hold it (the
    setting names a file, or a place no folder can be made) is a user error naming the
    setting, not a traceback from the first command that needs the cache."""
    path = cache_root().joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(exc) from None
    return path


def _unusable(exc: OSError) -> AdvisorError:
    root = cache_root()
    if os.environ.get(CACHE_ENV):
        where = f"{CACHE_ENV}={os.environ[CACHE_ENV]}"
        fix = f"Point {CACHE_ENV} at a folder you can write to, or unset it for the default."
    else:
        where = f"The cache folder {root}"
        fix = f"Set {CACHE_ENV} to a folder you can write to."
    if root.exists() and not root.is_dir():
        return AdvisorError(f"{where} names a file, not a folder. {fix}")
    why = exc.strerror or type(exc).__name__
    return AdvisorError(f"{where}: the cache folder cannot be created there ({why}). {fix}")


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
