"""Keep freed memory in the process instead of handing it back to the kernel (glibc only).

glibc's malloc serves every block above a threshold (128 KiB, growing to at most 32 MiB)
with a fresh mmap and returns it to the kernel on free, and trims the heap top beyond a
similar threshold. A model call on seconds of audio allocates hundreds of MiB of
short-lived activations, so each call page-faults all of them in again: measured on a
6 s one-call extraction, 210 000 minor faults and a fifth of the process's CPU time in the
kernel. Raising both thresholds once per process makes freed blocks reusable; the cost is
that the process keeps its peak heap resident.

The entry points that run models call it first: tsepn.bin.train (the demo's teacher stage,
two DDP processes on an idle 2-core machine: 264 -> 232 s, the same weights; a lone process
on an idle machine gains little, a loaded one more: 20 000-29 000 -> ~1 000 minor faults per
step), tsepn.bin.decode and tsepn.bin.extract, and the benchmarks that time them. The library
(tsepn.api) leaves the host process's allocator alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB come from the heap
_TRIM_THRESHOLD = 1 << 31  # free heap top kept up to 2 GiB


def retain_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (see module docstring); False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    if not ok:
        log.debug("mallopt refused the thresholds; allocator left as it is")
    return ok
