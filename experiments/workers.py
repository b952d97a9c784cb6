"""Process pools whose workers die with the process that made them.

A worker of a ``ProcessPoolExecutor`` is not told when its parent is killed outright (``kill -9``,
an out-of-memory killer, a preempted node): it waits on its task queue for ever, holding its
memory, and so does the multiprocessing resource tracker, which runs until every process holding
its pipe (the parent and each spawned worker) has closed it. So each worker asks the kernel to kill
it when its parent dies (Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``), or, where that is not
available, watches its parent from a daemon thread: when the parent dies the worker is re-parented
and ``os.getppid()`` changes. Once the workers are gone the tracker reads end-of-file on its pipe,
removes the semaphores the pool left and exits.

The kernel's signal is sent when the *thread* that started the worker ends, not only the process:
a pool must be used (its tasks submitted, which is when workers start) from a thread that outlives
it, as the main thread of a run does.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

PR_SET_PDEATHSIG = 1
"""prctl option: the signal this process gets when its parent thread dies (linux/prctl.h)"""
WATCH_SECONDS = 0.5
"""how often the portable fallback looks at the parent's process id"""


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` worker processes, started fresh (spawn: no copy of the parent's threads or locks), that
    exit when this process dies."""
    return ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=die_with_parent, initargs=(os.getpid(),))


def die_with_parent(parent: int) -> None:
    """Make this process exit when process ``parent`` dies; the pool's initializer, run first in each worker."""
    if not _kernel_kills_on_parent_death():
        threading.Thread(target=_watch, args=(parent,), name="die-with-parent", daemon=True).start()
    if os.getppid() != parent:  # the parent died before either was in place
        os._exit(1)


def _kernel_kills_on_parent_death() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that cannot be asked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # no clean-up: nobody is left to receive this worker's results
