"""Giving freed memory back to the operating system once the server goes idle after work.

glibc's ``malloc`` keeps the memory a process frees for reuse: after a burst of large requests (big padded
batches, thousands of label vectors built and dropped) the server's resident memory stays at its peak although
little of it is in use. ``malloc_trim(0)`` returns the free pages of every arena to the kernel. It walks the
heap, so the batcher calls it only when the queue has been idle for a while after work (``MemoryTrimmer``), on
the model thread, never while a model call runs.

Where there is no glibc (macOS, Windows, musl) ``MemoryTrimmer.trim`` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable


def malloc_trim_function() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (returns 1 when memory was released), or None where the C library has none.

    Example:
        >>> trim = malloc_trim_function()
        >>> trim is None or trim(0) in (0, 1)
        True
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # no C library by that name, or one without malloc_trim (musl)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class MemoryTrimmer:
    """Whether the server should trim now: some work was answered since the last trim (``worked``), and the
    queue has been idle for ``idle_s`` (the batcher waits that long for new work before calling ``trim``).

    Example:
        >>> calls = []
        >>> trimmer = MemoryTrimmer(idle_s=1.0, trim=lambda pad: calls.append(pad) or 1)
        >>> trimmer.due
        False
        >>> trimmer.worked(512)
        >>> trimmer.due, trimmer.trim(), trimmer.due, calls
        (True, True, False, [0])
    """

    def __init__(self, idle_s: float, trim: Callable[[int], int] | None = None) -> None:
        self.idle_s = idle_s
        self._trim = trim
        self._since = 0  # tokens of work answered since the last trim
        self.trims = 0

    @property
    def due(self) -> bool:
        return self._trim is not None and self._since > 0

    def worked(self, tokens: int) -> None:
        """A model call of ``tokens`` tokens of work was made (the batcher counts each one)."""
        self._since += max(tokens, 1)

    def trim(self) -> bool:
        """Return free memory to the kernel now (a no-op without glibc); whether any was released."""
        self._since = 0
        if self._trim is None:
            return False
        self.trims += 1
        return bool(self._trim(0))
