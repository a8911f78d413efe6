"""The dask client of a run: one given, one connected to a scheduler, or a local cluster."""
from __future__ import annotations

import contextlib
import logging
import os
import sys


def local_workers(threads_per_worker: int = 1) -> int:
    """Workers of a local cluster sized to the machine: one per ``threads_per_worker`` cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, threads_per_worker))


@contextlib.contextmanager
def connect(client=None, scheduler: str | None = None, workers: int | None = None, threads_per_worker: int = 1):
    """A ``distributed.Client`` for the duration of the block.

    Args:
        client: an existing client, used as is (and left open).
        scheduler: the address of a running scheduler (``tcp://host:8786``); its
            workers must see the stacks and the output folders at the same paths.
        workers: worker processes of the local cluster started when neither is
            given (default: :func:`local_workers`).
        threads_per_worker: tasks each worker runs at once (and the OpenCV/torch
            threads each task uses).

    Yields:
        The client. A local cluster is closed at the end of the block.
    """
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if workers is not None:
            raise ValueError("workers sizes a local cluster; a scheduler brings its own workers (drop one)")
        with Client(scheduler) as c:
            yield c
        return
    n = workers if workers is not None else local_workers(threads_per_worker)
    if n < 1 or threads_per_worker < 1:
        raise ValueError(f"a local cluster needs at least one worker and one thread, got {n} and {threads_per_worker}")
    # the workers import torch only for the jobs that need it, as the mfif command does
    with LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as c:
        yield c


def limit_threads() -> None:
    """In a worker: give each task the worker's thread count for OpenCV and torch (not every core), and
    none of mfif's helper threads in a worker of one thread (:mod:`mfif._threads`: frames decoded,
    tiles fused and outputs encoded one after the other), so that workers sharing a machine do not
    oversubscribe it."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:
        return  # not in a worker
    n = getattr(getattr(worker, "state", None), "nthreads", None) or getattr(worker, "nthreads", 1)
    import cv2

    from .. import _threads

    cv2.setNumThreads(int(n))
    _threads.set_max_threads(int(n))
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(int(n))
