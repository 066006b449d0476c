"""Decode worker processes that die with the process that started them.

A build killed with SIGKILL cannot shut its process pool down; without this its workers go on
decoding, holding memory and CPUs, as orphans. Each worker runs :func:`die_with_parent` first:
on Linux it asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``),
elsewhere a daemon thread watches ``os.getppid()``; a worker whose parent is already gone
exits at once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_POLL_S = 1.0


def die_with_parent(parent: int) -> None:
    """Make this process exit when process ``parent`` (its parent) does.

    Meant as a ``ProcessPoolExecutor`` initializer, with ``initargs=(os.getpid(),)``.
    """
    if not (sys.platform.startswith("linux") and _pdeathsig(signal.SIGKILL)):
        threading.Thread(target=_watch, args=(parent,), daemon=True,
                         name="medaug-parent-watch").start()
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    os._exit(1)
