"""Cache folder housekeeping: who owns a build folder, stale ones removed, a damaged folder
moved aside, and the short lock under which folders move into place.

A cache is built in ``.<name>.tmp-<host>-<pid>`` beside its final folder ``<name>`` and
renamed into place when complete (see :mod:`medaug.data.cache`). A build killed with SIGKILL
leaves its build folder behind: :func:`remove_stale` (run by every build) removes each such
folder whose owner, on this host, is no longer running. Build folders of live processes, and
of other hosts sharing the cache root, are left alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

# ".<name>.tmp-<host>-<pid>" (a build) or ".<name>.old-<host>-<pid>" (a damaged folder being
# removed); older versions wrote ".<name>.tmp-<pid>" (no host).
_OWNED = re.compile(r"^\..+\.(?:tmp|old)-(?:(?P<host>\w+)-)?(?P<pid>\d+)$")


def host() -> str:
    """This host's name as it appears in build folder names (letters, digits, ``_``)."""
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"


def build_folder(folder: Path) -> Path:
    """Where this process builds the cache that becomes ``folder``."""
    return folder.parent / f".{folder.name}.tmp-{host()}-{os.getpid()}"


def remove_stale(root: Path) -> list[Path]:
    """Remove the build (and discarded) folders in ``root`` whose owner process, on this
    host, has exited; returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    me = host()
    for entry in entries:
        owner = _OWNED.match(entry.name)
        if owner is None or owner["host"] not in (None, me) or not entry.is_dir():
            continue
        if not pid_alive(int(owner["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, on Linux, counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux), or it exited just now: keep its folder this time
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def discard(folder: Path) -> None:
    """Move ``folder`` aside (one rename, so it is never seen half-deleted) and delete it."""
    aside = folder.parent / f".{folder.name}.old-{host()}-{os.getpid()}"
    shutil.rmtree(aside, ignore_errors=True)
    try:
        os.replace(folder, aside)
    except FileNotFoundError:  # another process discarded it first
        return
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:  # a file (or link) where the cache folder should be
        aside.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the folder ``root`` itself (no lock file is left) while
    the block runs; where the file system cannot lock a folder, the block runs unlocked."""
    try:
        import fcntl

        fd = os.open(root, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
