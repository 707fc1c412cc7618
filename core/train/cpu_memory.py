"""Keep a CPU run's freed tensor memory for its next step instead of handing it back to the kernel.

A training step allocates its activations and gradients and frees them at its end. glibc's malloc
gives the heap's free top back to the kernel once it passes its trim threshold (64 MiB at most, by
default), so every step on a CPU page-faults its memory in again: on a 2-core CPU,
cifar10_fast.yaml's net at batch 500 spent about 14% of each step there (bench/README.md). With the
threshold raised, freed memory stays in the heap and the next step reuses it; the process keeps its
peak memory until it ends. Blocks over 32 MiB still come from mmap, as glibc's own threshold grows to.
"""
from __future__ import annotations

import ctypes
import platform

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
_MMAP_THRESHOLD = 32 * 2**20  # glibc's largest (fixing any threshold stops it from growing there by itself)
_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: a free heap top up to 2 GiB is kept


def has_glibc() -> bool:
    """Whether this process's malloc is glibc's (Linux with glibc; not musl, macOS or Windows)."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def keep_freed_memory() -> bool:
    """Stop glibc from trimming the heap for this process; False where malloc is not glibc's."""
    if not has_glibc():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
