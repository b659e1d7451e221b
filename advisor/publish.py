"""Publishing files safely: atomic writes, atomic folder publication and checksums.

Every result, report and cache entry prune-advisor writes goes through here, so that

* a reader never sees a half-written file: content goes to a unique temporary file in the
  same folder and appears under its name only through ``os.replace`` (atomic on POSIX);
* two processes writing the same cache entry at once cannot interleave: each writes its
  own temporary file or folder, and the first to publish a folder wins (entries are
  content-addressed, so the loser's copy is identical and is dropped);
* a damaged entry (e.g. truncated by a full disk or a killed copy) is caught by its
  sha256 and treated as absent, so the caller recomputes it. A reader parses the very bytes
  it checked (:func:`read_verified`), never a second read of the file, so a change to the
  file after the check cannot reach it;
* files and folders get the ordinary permissions of the user's umask (0644 / 0755 under
  the usual umask 022), not the private 0600 / 0700 of temporary files: reports are read
  by web servers and colleagues, caches may be shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
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


def _umask() -> int:
    """The process umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def public_mode(path: str | Path, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open`` / ``mkdir`` would: 0666 / 0777 less the umask.

    ``tempfile`` creates 0600 files and 0700 folders (private by design); a published
    result or cache entry must be readable like any other file the user writes.
    """
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


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
        tmp = _staged_file(path, blob)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise _unwritable(path, exc) from exc
    return path


def _staged_file(path: Path, blob: bytes) -> str:
    """A complete, synced temporary copy of ``blob`` beside ``path``, with public mode."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        public_mode(tmp)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def finite_json(payload: Any) -> Any:
    """``payload`` with every non-finite float (NaN, ±inf) replaced by None (JSON null).

    A metric that is NaN or infinite is undefined for that input (e.g. a slope over fewer
    than two steps); strict JSON has no such numbers and parsers reject bare ``NaN``.
    """
    if isinstance(payload, float):
        return payload if math.isfinite(payload) else None
    if isinstance(payload, dict):
        return {k: finite_json(v) for k, v in payload.items()}
    if isinstance(payload, list | tuple):
        return [finite_json(v) for v in payload]
    return payload


def json_text(payload: Any, **dumps: Any) -> str:
    """Strict JSON text of ``payload`` (non-finite numbers written as null, see finite_json)."""
    return json.dumps(finite_json(payload), allow_nan=False, **dumps)


def write_json(path: str | Path, payload: Any, **dumps: Any) -> Path:
    """``atomic_write`` of strict JSON (:func:`json_text`) plus a final newline."""
    return atomic_write(path, json_text(payload, **dumps) + "\n")


@contextlib.contextmanager
def publish_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` itself for a group of writes.

    Two processes publishing a set of files into one folder (result.json and report.html)
    take turns, so the folder ends with one process's complete set, never a mix. The lock
    is taken on the folder (``flock`` of a directory descriptor), so no lock file is left
    among the user's files; it is released when the holder exits, even on a crash.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def publish_files(folder: str | Path, contents: dict[str, str | bytes]) -> list[Path]:
    """Publish several files into ``folder`` as one set: all staged (written and synced)
    first, then renamed into place back to back under :func:`publish_lock`.

    Readers see each file whole (atomic rename); two concurrent publishers take turns, so
    the folder ends with one run's complete set, never result.json of one run beside
    report.html of another. Nothing is replaced unless every file could be staged (e.g.
    the disk is not full). Why not one rename of a staged folder: a folder cannot be
    renamed over a non-empty one, and ``--out`` may hold other files (a sweep's step
    marker); the lock keeps ``--out`` an ordinary folder. What remains is a crash in the
    microseconds between the renames; ``prune-advisor report`` re-renders the page then.
    """
    folder = Path(folder)
    staged: list[tuple[str, Path]] = []
    try:
        for name, data in contents.items():
            blob = data.encode("utf-8") if isinstance(data, str) else data
            staged.append((_staged_file(folder / name, blob), folder / name))
        with publish_lock(folder):
            for tmp, path in staged:
                os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise _unwritable(folder, exc) from exc
    return [path for _, path in staged]


@contextlib.contextmanager
def output_dir(folder: str | Path | None) -> Iterator[Path | None]:
    """:func:`writable_dir` for a command's ``--out``, removed again if the command fails
    before writing anything into it (a failed run leaves no empty folder behind)."""
    if folder is None:
        yield None
        return
    folder = Path(folder).expanduser()
    # The folders this call creates: --out and any missing parents, innermost first.
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    writable_dir(folder)
    try:
        yield folder
    except BaseException:
        with contextlib.suppress(OSError):
            for path in created:
                path.rmdir()  # only when empty: never delete anything written
        raise


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
    """Atomically write ``payload`` as JSON together with its sha256 (see read_checked_json).

    Non-finite numbers are kept (Python's JSON extension): a cache must give back exactly
    what was computed, so that a hit equals a miss."""
    envelope = {"sha256": _payload_digest(payload), "payload": payload}
    return atomic_write(path, json.dumps(envelope) + "\n")


def read_checked_json(path: str | Path) -> Any | None:
    """The payload written by :func:`write_checked_json`, or None when the file is absent,
    unreadable, truncated or fails its checksum (the caller then recomputes it)."""
    try:
        # One read: the payload returned is the one whose checksum was checked.
        envelope = json.loads(Path(path).read_bytes().decode("utf-8"))
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
        public_mode(stage, directory=True)
        for child in stage.iterdir():
            public_mode(child, directory=child.is_dir())
        # The first publisher wins, unless what is there is damaged (a crash, a truncation).
        if not _publish(stage, target) and not verify_checksums(target):
            discard(target)
            _publish(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# How often a publication retries when the entry it collided with vanished in between.
_PUBLISH_ATTEMPTS = 8


def _publish(stage: Path, target: Path) -> bool:
    """Rename ``stage`` to ``target``; False when ``target`` is already a folder (another
    process published first), which is left as it is.

    The rename can fail because ``target`` exists and then find it gone (another process
    discarded it as damaged between the two steps): that is a collision with an entry that
    no longer exists, so the rename is tried again rather than reported as an error.
    """
    for _ in range(_PUBLISH_ATTEMPTS):
        try:
            os.rename(stage, target)
        except OSError:
            if target.is_dir():
                return False
            if os.path.lexists(target):
                raise  # a file or link in the way: not ours to replace
            continue  # it vanished between the failed rename and the check: try again
        return True
    raise OSError(f"could not publish {target}: it kept appearing and vanishing")


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


def read_verified(folder: str | Path, names: tuple[str, ...]) -> dict[str, bytes] | None:
    """The bytes of ``names`` in ``folder``, each checked against ``checksums.json``; None
    when any is missing, truncated or altered.

    The bytes returned are the bytes that were checked: a reader that parses them is safe
    from the file changing after the check (a check followed by a second read of the
    file, or a memory map of it, is not: the map follows the file).
    """
    folder = Path(folder)
    try:
        sums = json.loads((folder / CHECKSUMS_NAME).read_bytes().decode("utf-8"))
        blobs = {name: (folder / name).read_bytes() for name in names}
        for name, blob in blobs.items():
            record = sums[name]
            if len(blob) != record["size"] or hashlib.sha256(blob).hexdigest() != record["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return blobs


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
