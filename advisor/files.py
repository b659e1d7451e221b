"""Publishing files safely: atomic writes, atomic folder publication and checksums.

Every result, report and cache entry prune-advisor writes goes through here, so that

* a reader never sees a half-written file: content goes to a unique temporary file in the
  same folder and appears under its name only through ``os.replace`` (atomic on POSIX);
* two processes writing the same cache entry at once cannot interleave: each writes its
  own temporary file or folder, and the first to publish a folder wins (entries are
  content-addressed, so the loser's copy is identical and is dropped);
* a damaged entry (e.g. truncated by a full disk or a killed copy) is caught by its
  sha256 and treated as absent, so the caller recomputes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError

CHECKSUMS_NAME = "checksums.json"


def _unwritable(path: Path, exc: OSError) -> AdvisorError:
    return AdvisorError(
        f"Cannot write to {path} ({exc.strerror or type(exc).__name__}). Choose a folder "
        f"you can write to (e.g. --out ./reports/run1), or fix its permissions or free space."
    )


def writable_dir(folder: str | Path) -> Path:
    """Create ``folder`` if needed and prove it is writable, before any long work starts.

    Raises :class:`AdvisorError` (exit code 2) naming the folder when it cannot be written.
    """
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise _unwritable(folder, exc) from exc
    return folder


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the whole new one.

    Text is written as UTF-8. The parent folder is created. An unwritable destination is a
    user error (:class:`AdvisorError`), not a traceback.
    """
    path = Path(path)
    blob = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise _unwritable(path, exc) from exc
    return path


def write_json(path: str | Path, payload: Any, **dumps: Any) -> Path:
    """``atomic_write`` of ``json.dumps(payload, **dumps)`` plus a final newline."""
    return atomic_write(path, json.dumps(payload, **dumps) + "\n")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """The sha256 (hex) of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- checked JSON


def _payload_digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def write_checked_json(path: str | Path, payload: Any) -> Path:
    """Atomically write ``payload`` as JSON together with its sha256 (see read_checked_json)."""
    return write_json(path, {"sha256": _payload_digest(payload), "payload": payload})


def read_checked_json(path: str | Path) -> Any | None:
    """The payload written by :func:`write_checked_json`, or None when the file is absent,
    unreadable, truncated or fails its checksum (the caller then recomputes it)."""
    try:
        envelope = json.loads(Path(path).read_text(encoding="utf-8"))
        if envelope["sha256"] == _payload_digest(envelope["payload"]):
            return envelope["payload"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


# --------------------------------------------------------------------------- folders


@contextlib.contextmanager
def staged_dir(target: str | Path) -> Iterator[Path]:
    """A fresh private folder beside ``target`` to fill; published to ``target`` on success.

    Files written inside get ``checksums.json`` (name, size, sha256) before publication.
    If ``target`` already exists when we publish (another process published the same
    content-addressed entry first), ours is dropped and theirs kept, unless theirs fails
    its checksums, in which case ours replaces it. On an exception the
    staging folder is removed and nothing is published.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield stage
        write_checksums(stage)
        # The first publisher wins, unless what is there is damaged (a crash, a truncation).
        if not _publish(stage, target) and not verify_checksums(target):
            discard(target)
            _publish(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _publish(stage: Path, target: Path) -> bool:
    """Rename ``stage`` to ``target``; False when ``target`` is already a folder (another
    process published first), which is left as it is."""
    try:
        os.rename(stage, target)
    except OSError:
        if not target.is_dir():
            raise
        return False
    return True


def discard(path: str | Path) -> None:
    """Remove a (damaged) cache folder or file so that readers see it as absent at once.

    The entry is first renamed aside (atomic), then deleted, so a concurrent reader never
    meets a half-deleted entry under the real name.
    """
    path = Path(path)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.discard")
    try:
        os.rename(path, aside)
    except OSError:
        return  # already gone (another process discarded it)
    if aside.is_dir():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


def _listing(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != CHECKSUMS_NAME)


def write_checksums(folder: str | Path) -> Path:
    """Record name, size and sha256 of every file in ``folder`` in ``checksums.json``."""
    folder = Path(folder)
    sums = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)} for p in _listing(folder)}
    return write_json(folder / CHECKSUMS_NAME, sums, indent=1, sort_keys=True)


def verify_checksums(folder: str | Path) -> bool:
    """True when every file listed in ``folder``'s ``checksums.json`` is present, of the
    recorded size and sha256. Sizes are compared first, so truncation is caught cheaply."""
    folder = Path(folder)
    try:
        sums = json.loads((folder / CHECKSUMS_NAME).read_text())
        files = {name: folder / name for name in sums}
        if any(files[n].stat().st_size != s["size"] for n, s in sums.items()):
            return False
        return all(sha256_file(files[n]) == s["sha256"] for n, s in sums.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False
