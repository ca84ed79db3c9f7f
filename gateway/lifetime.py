"""Child processes end with the process that started them.

A gateway worker, the costly-image lane and the embedded tritonserver are children of
`healthcode serve` (or of a gateway worker). Killed with SIGKILL, a parent cannot stop them, and
an orphaned worker would keep accepting connections on the shared port with no Triton behind it.
Linux's PR_SET_PDEATHSIG has the kernel send them a signal when their parent dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal

_PR_SET_PDEATHSIG = 1


def end_with_parent(sig: signal.Signals) -> None:
    """Have `sig` sent to this process when its parent dies (Linux; elsewhere nothing).

    In a multiprocessing child, a parent that died before this call is caught too: the signal
    is sent at once.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid != os.getppid():
        os.kill(os.getpid(), sig)
