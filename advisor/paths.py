"""Paths the user gave, checked before any work: one message for each way one can be wrong.

Every input path of every command (``--data``, ``--rules``, ``--pruned``, ``--model`` when it
is a folder, ``--lm-eval`` files, ``report``'s result file) goes through :func:`input_path`,
so a missing path, a folder where a file belongs (or the reverse), a symlink loop, an
unreadable path and a device or FIFO where a regular file belongs all end the same way: one
message naming the option and the path (exit 2), never a traceback from deep inside a
loader, and never a read that blocks (a FIFO is refused by its type, not opened).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from advisor.errors import AdvisorError

FILE, FOLDER = "file", "folder"

_TYPES = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def _type_of(mode: int) -> str:
    """What a path that is neither a regular file nor a folder is, in words."""
    return next((name for test, name in _TYPES if test(mode)), "a special file")


def _readable(path: Path, kind: str) -> bool:
    """Whether this process may read ``path`` (a folder must also be searchable).

    ``os.access`` asks the kernel with the real user's rights; root passes it for any mode,
    as the kernel would let root read the file too."""
    return os.access(path, os.R_OK | (os.X_OK if kind == FOLDER else 0))


def _unreachable(path: Path, kind: str, exc: OSError) -> str:
    """Why ``stat`` of ``path`` failed, as the end of a sentence that starts with the path."""
    if exc.errno == errno.ELOOP:
        return " is a symlink loop (a link that leads, directly or through others, back to itself)"
    if exc.errno == errno.ENOENT and path.is_symlink():
        return f": no such {kind} (it is a link to {os.readlink(path)}, which does not exist)"
    if exc.errno == errno.ENOENT:
        return f": no such {kind}"
    if exc.errno == errno.ENOTDIR:
        return f": no such {kind} (a part of the path is a file, not a folder)"
    if exc.errno == errno.EACCES:
        return " cannot be reached (permission denied on a folder above it)"
    return f" cannot be used ({exc.strerror or type(exc).__name__})"


def output_path(path: str | Path, flag: str, kind: str = FILE) -> Path:
    """``path`` for a command to write or append to: absent is fine (it is created), but
    what is there already must be a readable regular file (``kind`` FILE) or folder, so a
    folder, a device, a FIFO or a loop in the way fails as the command starts, not when
    it writes at the end of a long run."""
    path = Path(path).expanduser()
    if os.path.lexists(path):
        input_path(path, flag, kind)
    return path


def input_path(path: str | Path, flag: str, kind: str = FILE, hint: str = "") -> Path:
    """``path`` (``~`` expanded) when it is an existing, readable regular file (``kind``
    FILE) or folder (FOLDER); else an :class:`AdvisorError` that starts with ``flag`` and
    the path as the user gave them ("--data /dev/zero is not a regular file ...") and ends
    with ``hint`` (what to pass instead). ``flag`` may be empty for a positional argument.

    Only ``stat`` is used: nothing is opened, so a FIFO cannot block the check.
    """
    path = Path(path).expanduser()
    shown = f"{flag} {path}".strip()
    tail = f" {hint}" if hint else ""
    try:
        mode = path.stat().st_mode  # follows links, so a loop fails here with ELOOP
    except OSError as exc:
        raise AdvisorError(f"{shown}{_unreachable(path, kind, exc)}.{tail}") from None
    if kind == FOLDER and not stat.S_ISDIR(mode):
        what = "a file" if stat.S_ISREG(mode) else _type_of(mode)
        raise AdvisorError(f"{shown} is {what}, not a folder.{tail}")
    if kind == FILE and stat.S_ISDIR(mode):
        raise AdvisorError(f"{shown} is a folder, not a file.{tail}")
    if kind == FILE and not stat.S_ISREG(mode):
        raise AdvisorError(f"{shown} is not a regular file but {_type_of(mode)}.{tail}")
    if not _readable(path, kind):
        raise AdvisorError(f"{shown} cannot be read (permission denied).{tail}")
    return path
