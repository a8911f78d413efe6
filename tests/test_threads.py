"""mfif._threads: the helper threads of mfif's pipelines, off when the process may use one thread
(`mfif fuse --threads 1`, a dask worker of one thread), with the same results."""
import os

import numpy as np
import pytest
from click.testing import CliRunner

import mfif
from mfif import _threads, io, synthetic
from mfif.cli import main


@pytest.fixture(autouse=True)
def no_limit():
    _threads.set_max_threads(None)
    yield
    _threads.set_max_threads(None)


def test_the_inline_executor_runs_each_job_when_its_result_is_asked_for():
    _threads.set_max_threads(1)
    ran = []

    def job(k):
        ran.append(k)
        if k == 2:
            raise ValueError("two")
        return k * 10

    with _threads.executor(2, "test") as pool:
        jobs = [pool.submit(job, k) for k in range(4)]
        assert ran == []  # nothing runs before its result is asked for
        assert jobs[1].result() == 10 and ran == [1]
        assert jobs[0].result() == 0 and jobs[0].result() == 0 and ran == [1, 0]  # once only
        with pytest.raises(ValueError, match="two"):
            jobs[2].result()
        with pytest.raises(ValueError, match="two"):
            jobs[2].result()  # kept, as a Future keeps it
        assert jobs[3].cancel() and not jobs[0].cancel()
    assert ran == [1, 0, 2]


def test_the_limit():
    assert _threads.helpers_allowed() and _threads.max_threads() is None
    _threads.set_max_threads(2)
    assert _threads.helpers_allowed()
    from concurrent.futures import ThreadPoolExecutor

    with _threads.executor(2, "test") as pool:
        assert isinstance(pool, ThreadPoolExecutor)
    _threads.set_max_threads(1)
    assert not _threads.helpers_allowed()
    with pytest.raises(ValueError):
        _threads.set_max_threads(0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """5 moving frames (aligned by mfif fuse, on two threads when helpers are on)."""
    root = tmp_path_factory.mktemp("stack")
    frames, _ = synthetic.moving_stack(150, 170, n=5, seed=3, max_scale=0.01, max_shift=2)
    for i, f in enumerate(frames):
        io.write_image(str(root / f"f{i}.png"), io.from_float(f))
    return root


def fuse_cli(stack, out, *args):
    r = CliRunner().invoke(main, ["fuse", str(stack), "-o", str(out / "f.png"), "--depth-map", str(out / "d.png"),
                                  "--transforms", str(out / "t.json"), "-q", *args])
    assert r.exit_code == 0, r.output
    return [open(out / n, "rb").read() for n in ("f.png", "d.png", "t.json")]


@pytest.mark.parametrize("tile", ["none", "64"])
def test_one_thread_starts_no_helper_and_writes_the_same_bytes(stack, tmp_path, monkeypatch, tile):
    os.makedirs(tmp_path / "a")
    os.makedirs(tmp_path / "b")
    threaded = fuse_cli(stack, tmp_path / "a", "--tile", tile)

    def no_pool(*a, **k):
        raise AssertionError("a helper thread pool was started under a one-thread limit")

    monkeypatch.setattr(_threads, "ThreadPoolExecutor", no_pool)
    with pytest.raises(AssertionError, match="helper thread pool"):  # the default starts them
        fuse_cli(stack, tmp_path / "b", "--tile", tile)
    one = fuse_cli(stack, tmp_path / "b", "--tile", tile, "--threads", "1")  # sets the limit
    assert _threads.max_threads() == 1
    assert one == threaded


def test_fuse_in_python_under_the_limit(stack):
    files = sorted(str(p) for p in stack.iterdir())
    a = mfif.fuse(files, device="cpu", tile=64)
    _threads.set_max_threads(1)
    b = mfif.fuse(files, device="cpu", tile=64)
    assert a.tiles > 1 and np.array_equal(a.fused, b.fused) and np.array_equal(a.index, b.index)
    assert a.alignment.summary() == b.alignment.summary()
