"""``fuse_many``: many stacks, one dask task per stack, each fused by the code of ``mfif fuse``."""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from distributed import WorkerPlugin

from .cluster import connect, limit_threads, local_workers
from .stacks import StackJob, _stats, fuse_options, is_complete, plan_jobs, write_manifest


@dataclass
class StackOutcome:
    """What became of one stack: ``status`` is ``"done"``, ``"skipped"`` (complete already) or ``"failed"``."""

    index: int
    name: str
    out: str
    status: str
    seconds: float = 0.0
    error: str | None = None
    worker: str | None = None
    summary: str | None = None


@dataclass
class ManyReport:
    """The outcome of a :func:`fuse_many` run, one :class:`StackOutcome` per stack in input order."""

    outcomes: list[StackOutcome] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0
    startup_seconds: float = 0.0  # of the seconds, those spent starting or reaching the cluster

    def _with(self, status):
        return [o for o in self.outcomes if o.status == status]

    @property
    def done(self) -> list[StackOutcome]:
        return self._with("done")

    @property
    def skipped(self) -> list[StackOutcome]:
        return self._with("skipped")

    @property
    def failed(self) -> list[StackOutcome]:
        return self._with("failed")

    def summary(self) -> str:
        """One line of counts, then one line per failed stack with its reason."""
        busy = self.seconds - self.startup_seconds
        rate = f", {len(self.done) / busy:.2f} stacks/s" if self.done and busy > 0 else ""
        lines = [f"{len(self.done)} fused, {len(self.skipped)} skipped (complete), {len(self.failed)} failed "
                 f"in {self.seconds:.1f} s on {self.workers} worker(s) (cluster start {self.startup_seconds:.1f} s"
                 f"{rate})"]
        lines += [f"  failed: {o.name}: {o.error}" for o in self.failed]
        return "\n".join(lines)


def warm_up(method=None, device=None) -> None:
    """Load what a stack's task needs before the first one runs: mfif's fusion and alignment, OpenCV, the
    image codecs (a tiny pyramid fusion, written to PNG in memory), and torch when ``method`` or
    ``device`` needs it (a method other than pyramid, or CUDA), as the first ``mfif fuse`` would."""
    import numpy as np

    limit_threads()
    from .. import cli_fuse, io  # noqa: F401  (the command's module, as each task imports it)
    from ..align import _fusion, _stack  # noqa: F401
    from ..fusion import cpu_files

    rng = np.random.default_rng(0)
    frames = [rng.random((48, 64, 3), dtype=np.float32) for _ in range(3)]
    job, _ = cpu_files.plan(frames, None, "cpu")
    io.encode_image("warm.png", io.from_float(cpu_files.fuse_files(job, align="off").fused))
    name = getattr(method, "name", method)
    if (name is not None and name != "pyramid") or (device is not None and str(device) != "cpu") or \
            (device is None and not cpu_files._cpu_requested(None)):
        import torch  # noqa: F401


class WarmUp(WorkerPlugin):
    """A dask worker plugin: :func:`warm_up` on every worker as it joins (a restarted one too), so that
    the stacks' time does not include each worker's first imports."""

    name = "mfif-warm-up"
    idempotent = False  # a later run's options replace an earlier one's

    def __init__(self, method=None, device=None):
        self.method, self.device = method, device

    def setup(self, worker=None):
        try:
            warm_up(self.method, self.device)
        except Exception as e:  # pragma: no cover - best effort: the stacks' tasks report what is wrong
            import logging

            logging.getLogger(__name__).warning("mfif warm-up failed: %s: %s", type(e).__name__, e)


def run_stack(job: StackJob, options: dict) -> StackOutcome:
    """Fuse one stack with ``mfif fuse``'s own code (runs on a worker; never raises).

    The outputs are written atomically by :func:`mfif.cli_fuse.fuse`, then the
    manifest that marks the stack complete. Any error becomes a failed outcome
    with the command's one-line message.
    """
    import click

    from ..cli_fuse import fuse

    start = time.perf_counter()
    worker = None
    try:
        from distributed import get_worker

        worker = get_worker().address
    except ValueError:
        pass
    try:
        limit_threads()
        before = _stats(job.inputs)
        for path in job.outputs:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        result = fuse.callback(images=tuple(job.items), out=job.out, depth_map=job.depth_map,
                               transforms_out=job.transforms, quiet=True, **options)
        if _stats(job.inputs) != before:
            raise click.ClickException("an input file changed while the stack was fused; run again")
        write_manifest(job, options, before)
    except click.ClickException as e:
        return StackOutcome(job.index, job.name, job.out, "failed", time.perf_counter() - start, e.format_message(),
                            worker)
    except Exception as e:  # one bad stack fails alone, with its reason
        return StackOutcome(job.index, job.name, job.out, "failed", time.perf_counter() - start,
                            f"{type(e).__name__}: {e}", worker)
    return StackOutcome(job.index, job.name, job.out, "done", time.perf_counter() - start, None, worker,
                        result.summary())


def _register_warm_up(client, options: dict) -> None:
    """:class:`WarmUp` on the client's workers (and those that join later), as a dask WorkerPlugin."""
    client.register_plugin(WarmUp(options.get("method"), options.get("device")))


def fuse_many(stacks, outputs, method: str | None = None, *, depth_maps=None, transforms=None, client=None,
              scheduler: str | None = None, workers: int | None = None, threads_per_worker: int = 1,
              force: bool = False, on_outcome: Callable[[StackOutcome], object] | None = None,
              on_start: Callable[[int, int], object] | None = None, **options) -> ManyReport:
    """Fuse many stacks, one task per stack on dask.distributed, as ``mfif fuse`` fuses each.

    Args:
        stacks: folders of frames, patterns (``"run/*/"``: one stack per folder;
            ``"run/a/*.tif"``: one stack of those files) or lists of files.
        outputs: a template (``"out/{name}.tif"``; ``{name}`` the stack's folder
            name, ``{index}`` its position from 0) or one path per stack.
            Missing folders are created.
        method: the fusion method, as ``mfif fuse --method``.
        depth_maps, transforms: templates or paths for ``--depth-map`` and ``--transforms``.
        client: a ``distributed.Client`` to run on (left open).
        scheduler: the address of a running scheduler (its workers must see the
            same files at the same paths); default: a local cluster of
            ``workers`` processes (default: one per core) of ``threads_per_worker``.
        force: fuse every stack, even those whose outputs are complete
            (see :mod:`mfif.distributed.stacks` for the rule).
        on_outcome: called in the client with each :class:`StackOutcome` as it arrives.
        on_start: called with ``(stacks to fuse, stacks skipped)`` before the first task.
        **options: any other option of ``mfif fuse`` by its Python name
            (``device``, ``tile``, ``align``, ``align_model``, ``reference``, ``crop``, ...).

    Returns:
        A :class:`ManyReport`. A stack that fails does not stop the others.

    Raises:
        StackError, ValueError: before any work, when a stack names nothing, a
            template is bad, two stacks would write one file, or an option is unknown.

    Examples:
        >>> report = fuse_many("run/*/", "out/{name}.tif", depth_maps="out/{name}-depth.png", workers=2)  # doctest: +SKIP
        >>> print(report.summary())  # doctest: +SKIP
    """
    from distributed import as_completed

    start = time.perf_counter()
    if scheduler is not None and workers is not None:
        raise ValueError("workers sizes a local cluster; a scheduler brings its own workers (drop one)")
    opts = fuse_options(method=method, **options)
    jobs = plan_jobs(stacks, outputs, depth_maps, transforms)
    outcomes: dict[int, StackOutcome] = {}
    todo = []
    for job in jobs:
        if not force and is_complete(job, opts):
            outcomes[job.index] = StackOutcome(job.index, job.name, job.out, "skipped")
        else:
            todo.append(job)
    if on_start is not None:
        on_start(len(todo), len(jobs) - len(todo))
    n_workers, startup = 0, 0.0
    if todo:
        t = time.perf_counter()
        local = client is None and scheduler is None
        with connect(client, scheduler, workers, threads_per_worker) as c:
            # a local cluster: all its workers, so that none starts inside the stacks' time
            c.wait_for_workers((workers or local_workers(threads_per_worker)) if local else 1)
            _register_warm_up(c, opts)
            startup = time.perf_counter() - t
            n_workers = len(c.scheduler_info().get("workers", {}))
            run_id = uuid.uuid4().hex[:8]
            futures = c.map(run_stack, todo, options=opts, pure=False,
                            key=[f"mfif-fuse-{run_id}-{job.index}-{job.name}" for job in todo])
            by_key = {f.key: job for f, job in zip(futures, todo)}
            for future in as_completed(futures):
                job = by_key[future.key]
                try:
                    outcome = future.result()
                except Exception as e:  # e.g. KilledWorker: the stack killed every worker it was given
                    outcome = StackOutcome(job.index, job.name, job.out, "failed", error=f"{type(e).__name__}: {e}")
                outcomes[job.index] = outcome
                if on_outcome is not None:
                    on_outcome(outcome)
                future.release()
            end = time.perf_counter()  # the local cluster's shutdown is not the stacks' time
    else:
        end = time.perf_counter()
    report = ManyReport([outcomes[j.index] for j in jobs], end - start, n_workers, startup)
    return report
