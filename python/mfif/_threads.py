"""The helper threads of mfif's own pipelines, and how to turn them off.

Besides OpenCV's and torch's thread pools, a few steps of mfif overlap work on
helper threads of their own: a fusion decodes and warps frame ``i + 1`` while
frame ``i`` is fused, tiles are fused two at a time, the two halves of a
stack's alignment are walked at once, and the fused image and its depth map
are encoded at once. Each of these gives the same result in any order.

When a process may use one CPU thread only (``mfif fuse --threads 1``, or a
dask worker of one thread in :mod:`mfif.distributed`, the usual cluster layout
of one worker per core), these helpers would make it compete with its
neighbours for their cores. :func:`set_max_threads` with 1 turns them off: the
same steps then run one after the other on the calling thread, with the same
results.

Examples:
    >>> from mfif import _threads
    >>> with _threads.executor(2, "demo") as pool:
    ...     jobs = [pool.submit(pow, 2, k) for k in range(4)]
    ...     [j.result() for j in jobs]
    [1, 2, 4, 8]
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

_max_threads: int | None = None


def set_max_threads(n: int | None) -> None:
    """Limit this process to ``n`` CPU threads as far as mfif's helpers go (1: none; None: no limit)."""
    global _max_threads
    if n is not None and n < 1:
        raise ValueError(f"at least one thread, got {n}")
    _max_threads = n


def max_threads() -> int | None:
    """The limit of :func:`set_max_threads` (None when there is none)."""
    return _max_threads


def helpers_allowed() -> bool:
    """Whether mfif may overlap its work on helper threads (no limit, or one above 1)."""
    return _max_threads is None or _max_threads > 1


class _Deferred:
    """A job of :class:`_Inline`: run on the calling thread when its result is first asked for."""

    def __init__(self, fn, args, kwargs):
        self._call = (fn, args, kwargs)
        self._done = False
        self._value = self._error = None

    def result(self, timeout=None):
        if not self._done:
            fn, args, kwargs = self._call
            self._call = None
            try:
                self._value = fn(*args, **kwargs)
            except Exception as e:  # kept, as a Future keeps it; KeyboardInterrupt goes straight up
                self._error = e
            self._done = True
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> bool:
        if self._done:
            return False
        self._call, self._done = None, True
        self._error = _Cancelled()
        return True

    def done(self) -> bool:
        return self._done


class _Cancelled(Exception):
    """The result of a job cancelled before it ran."""


class _Inline:
    """An executor without threads: each job runs when its result is first asked for, in that order."""

    def __init__(self):
        self._jobs: list[_Deferred] = []

    def submit(self, fn, *args, **kwargs) -> _Deferred:
        job = _Deferred(fn, args, kwargs)
        self._jobs.append(job)
        return job

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        for job in self._jobs:
            job.cancel() if cancel_futures else None
        self._jobs.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        return False


def executor(max_workers: int, thread_name_prefix: str):
    """A ``ThreadPoolExecutor`` of ``max_workers`` threads, or, when helper threads are off
    (:func:`helpers_allowed`), one that runs each job on the calling thread when its result is asked for.

    Only ``submit``, ``result`` and ``cancel`` are used by mfif; every job submitted must have its
    result asked for (or be cancelled), since a job nobody waits for never runs without threads.
    """
    if helpers_allowed():
        return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
    return _Inline()
