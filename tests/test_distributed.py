"""mfif.distributed.fuse_many and `mfif fuse-many` on a real local cluster (two worker processes):
outputs byte-identical to `mfif fuse`, a bad stack failing alone, restarts, a killed worker."""
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import mfif
from mfif import io, synthetic
from mfif.cli import main

distributed = pytest.importorskip("distributed", reason="mfif.distributed needs the extra: pip install 'mfif[distributed]'")
from mfif.distributed import fuse_many, plan_jobs  # noqa: E402
from mfif.distributed.stacks import manifest_path  # noqa: E402

N_STACKS = 6


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each, as `mfif fuse-many --workers 2` starts."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \
            distributed.Client(cl) as client:
        yield cl, client


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Stacks s00..s05 of 4 moving frames (96x128, aligned by mfif fuse), generated once."""
    root = tmp_path_factory.mktemp("run")
    for s in range(N_STACKS):
        frames, _ = synthetic.moving_stack(96, 128, n=4, seed=s, max_scale=0.01, max_shift=2)
        os.makedirs(root / f"s{s:02d}")
        for i, f in enumerate(frames):
            io.write_image(str(root / f"s{s:02d}" / f"f{i}.png"), io.from_float(f))
    return root


def copy_run(run_dir, tmp_path, n=N_STACKS):
    root = tmp_path / "run"
    for s in range(n):
        shutil.copytree(run_dir / f"s{s:02d}", root / f"s{s:02d}")
    return root


def fuse_one(stack, out, *args):
    """The reference: `mfif fuse STACK -o OUT ...` in this process."""
    r = CliRunner().invoke(main, ["fuse", str(stack), "-o", str(out), "-q", *args])
    assert r.exit_code == 0, r.output
    return open(out, "rb").read()


def same_bytes(a, b):
    return open(a, "rb").read() == open(b, "rb").read()


@pytest.mark.parametrize("options, args", [
    (dict(), []),
    (dict(method="focus", align=False, tile="64"), ["--method", "focus", "--no-align", "--tile", "64"]),
])
def test_outputs_are_byte_identical_to_mfif_fuse(cluster, run_dir, tmp_path, options, args):
    _, client = cluster
    out = tmp_path / "out"
    report = fuse_many(str(run_dir / "*"), str(out / "{name}.png"), depth_maps=str(out / "{name}-depth.png"),
                       transforms=str(out / "{name}.json") if not args else None, client=client, **options)
    assert [o.status for o in report.outcomes] == ["done"] * N_STACKS, report.summary()
    assert report.workers == 2 and "6 fused, 0 skipped (complete), 0 failed" in report.summary()
    for s in range(N_STACKS):
        name = f"s{s:02d}"
        ref, ref_depth, ref_tf = tmp_path / f"{name}.png", tmp_path / f"{name}-d.png", tmp_path / f"{name}.json"
        extra = ["--transforms", str(ref_tf)] if not args else []
        fuse_one(run_dir / name, ref, "--depth-map", str(ref_depth), *args, *extra)
        assert same_bytes(out / f"{name}.png", ref) and same_bytes(out / f"{name}-depth.png", ref_depth)
        if not args:  # the stacks move: the alignment was estimated and written by each
            assert same_bytes(out / f"{name}.json", ref_tf)
        assert os.path.isfile(manifest_path(str(out / f"{name}.png")))
    assert not [f for f in os.listdir(out) if f.startswith(".mfif-")]  # no temporary file left


def test_a_bad_stack_fails_alone_with_its_reason(cluster, run_dir, tmp_path):
    _, client = cluster
    root = copy_run(run_dir, tmp_path, n=3)
    os.makedirs(root / "lonely")
    shutil.copy(root / "s00" / "f0.png", root / "lonely" / "f0.png")
    os.makedirs(root / "mixed")
    shutil.copy(root / "s00" / "f0.png", root / "mixed" / "a.png")
    io.write_image(str(root / "mixed" / "b.png"), np.zeros((50, 60, 3), np.uint8))
    out = tmp_path / "out"
    report = fuse_many(str(root / "*"), str(out / "{name}.png"), client=client)
    status = {o.name: o.status for o in report.outcomes}
    assert status == {"lonely": "failed", "mixed": "failed", "s00": "done", "s01": "done", "s02": "done"}
    errors = {o.name: o.error for o in report.failed}
    assert "fusion needs at least two frames" in errors["lonely"]
    assert "same size" in errors["mixed"]
    assert "failed: lonely: got 1 image(s)" in report.summary()
    assert sorted(f for f in os.listdir(out) if not f.startswith(".")) == ["s00.png", "s01.png", "s02.png"]


def test_a_restart_redoes_only_the_unfinished_stacks(cluster, run_dir, tmp_path):
    _, client = cluster
    root = copy_run(run_dir, tmp_path, n=4)
    out = tmp_path / "out"
    first = fuse_many(str(root / "*"), str(out / "{name}.png"), client=client)
    assert len(first.done) == 4
    stamp = {n: os.stat(out / f"{n}.png").st_mtime_ns for n in ("s00", "s01", "s02", "s03")}
    # s01: its output lost; s02: a frame replaced (new mtime); s00 and s03 untouched
    os.unlink(out / "s01.png")
    st = os.stat(root / "s02" / "f1.png")
    os.utime(root / "s02" / "f1.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = fuse_many(str(root / "*"), str(out / "{name}.png"), client=client)
    assert {o.name: o.status for o in second.outcomes} == {"s00": "skipped", "s01": "done", "s02": "done",
                                                           "s03": "skipped"}
    assert os.stat(out / "s00.png").st_mtime_ns == stamp["s00"] and os.stat(out / "s03.png").st_mtime_ns == stamp["s03"]
    # another option, or a depth map asked for, redoes everything; so does force
    assert len(fuse_many(str(root / "*"), str(out / "{name}.png"), client=client, method="focus").done) == 4
    assert len(fuse_many(str(root / "*"), str(out / "{name}.png"), client=client, method="focus").skipped) == 4
    assert len(fuse_many(str(root / "*"), str(out / "{name}.png"), depth_maps=str(out / "{name}-d.png"),
                         client=client, method="focus").done) == 4
    assert len(fuse_many(str(root / "*"), str(out / "{name}.png"), depth_maps=str(out / "{name}-d.png"),
                         client=client, method="focus", force=True).done) == 4


def test_a_killed_worker_loses_nothing(cluster, run_dir, tmp_path):
    cl, client = cluster
    root = copy_run(run_dir, tmp_path)
    out = tmp_path / "out"
    killed = []

    def kill_a_busy_worker(outcome):
        if killed:
            return
        pids = client.run(os.getpid)
        busy = [(addr, keys) for addr, keys in client.processing().items() if keys]
        addr, keys = busy[0] if busy else (next(iter(pids)), [])
        os.kill(pids[addr], signal.SIGKILL)  # mid-run: its stacks (running or queued on it) go to another worker
        killed.append((pids[addr], addr, [int(str(k).split("-")[3]) for k in keys]))

    report = fuse_many([str(root / f"s{s:02d}") for s in range(N_STACKS)], str(out / "{name}.png"),
                       depth_maps=str(out / "{name}-depth.png"), client=client, on_outcome=kill_a_busy_worker)
    pid, addr, lost = killed[0]
    assert lost  # the worker killed was fusing a stack
    assert [o.status for o in report.outcomes] == ["done"] * N_STACKS, report.summary()
    assert any(report.outcomes[i].worker != addr for i in lost)  # fused again by another worker
    for s in range(N_STACKS):
        name = f"s{s:02d}"
        fuse_one(root / name, tmp_path / "ref.png", "--depth-map", str(tmp_path / "ref-d.png"))
        assert same_bytes(out / f"{name}.png", tmp_path / "ref.png")
        assert same_bytes(out / f"{name}-depth.png", tmp_path / "ref-d.png")
    # the nanny restarts the worker (a new process); the next tests have two again
    deadline = time.monotonic() + 120
    while True:
        pids = client.run(os.getpid, on_error="ignore")  # a worker being removed does not answer
        if len(pids) == 2 and pid not in pids.values():
            break
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)


def test_the_command_against_a_scheduler_address(cluster, run_dir, tmp_path):
    cl, _ = cluster
    root = copy_run(run_dir, tmp_path, n=2)
    os.makedirs(root / "empty")
    out = tmp_path / "out"
    args = ["fuse-many", str(root / "*/"), "-o", str(out / "{name}.tif"), "--scheduler", cl.scheduler_address,
            "--method", "pyramid", "--no-align"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1, (r.output, r.stderr)  # one stack failed
    assert "2 fused, 0 skipped (complete), 1 failed" in r.output
    assert "failed: empty: " in r.output and "holds no images" in r.output
    fuse_one(root / "s01", tmp_path / "ref.tif", "--method", "pyramid", "--no-align")
    assert same_bytes(out / "s01.tif", tmp_path / "ref.tif")
    shutil.rmtree(root / "empty")
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "2 of 2 stacks are complete already: skipped" in r.output, r.output
    r = CliRunner().invoke(main, args + ["--workers", "2"])
    assert r.exit_code == 1 and "a scheduler brings its own workers" in r.output


def test_bad_runs_are_refused_before_any_work(run_dir, tmp_path):
    stacks = str(run_dir / "*")
    with pytest.raises(ValueError, match="would both write"):
        plan_jobs(stacks, str(tmp_path / "fused.png"))
    with pytest.raises(ValueError, match=r"unknown field \{stack\}"):
        plan_jobs(stacks, str(tmp_path / "{stack}.png"))
    with pytest.raises(mfif.fusion.StackError, match="matches nothing"):
        plan_jobs(str(tmp_path / "nothing*"), str(tmp_path / "{name}.png"))
    with pytest.raises(ValueError, match="unknown option"):
        fuse_many(stacks, str(tmp_path / "{name}.png"), colour="blue")
    with pytest.raises(ValueError, match="2 output paths for 6 stacks"):
        plan_jobs(stacks, ["a.png", "b.png"])
    jobs = plan_jobs([stacks, [str(run_dir / "s00" / "f0.png"), str(run_dir / "s01" / "f1.png")]],
                     str(tmp_path / "{index}-{name}.png"))
    assert [j.name for j in jobs] == [f"s{s:02d}" for s in range(N_STACKS)] + ["s00"]
    assert jobs[-1].out.endswith("6-s00.png") and len(jobs[0].inputs) == 4


def test_the_core_and_the_other_commands_never_import_dask(run_dir, tmp_path):
    code = ("import sys\n"
            "import mfif, mfif.fusion, mfif.cli\n"
            "from click.testing import CliRunner\n"
            "r = CliRunner().invoke(mfif.cli.main, ['fuse', sys.argv[1], '-o', sys.argv[2], '-q'])\n"
            "assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(mfif.cli.main, ['fuse-many', '--help'])\n"
            "assert r.exit_code == 0 and 'scheduler' in r.output, r.output\n"
            "print(sorted(m for m in ('dask', 'distributed', 'zarr') if m in sys.modules))\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(mfif.__file__))))
    r = subprocess.run([sys.executable, "-c", code, str(run_dir / "s00"), str(tmp_path / "f.png")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_fuse_many_without_a_client_starts_and_stops_a_local_cluster(run_dir, tmp_path, monkeypatch):
    import psutil

    def children():  # worker processes (multiprocessing's resource tracker stays, as for any pool)
        return {p.pid for p in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(p.cmdline())}

    before, done = children(), []
    monkeypatch.chdir(tmp_path)  # relative paths are the client's: made absolute for the workers
    report = fuse_many(os.path.relpath(run_dir / "s0[01]"), "out/{name}.png", workers=1, on_outcome=done.append)
    assert report.workers == 1 and len(report.done) == 2 and len(done) == 2
    assert sorted(os.listdir(tmp_path / "out")) == [".s00.png.mfif.json", ".s01.png.mfif.json", "s00.png", "s01.png"]
    assert children() <= before  # the cluster's worker processes are gone with it


def test_workers_of_one_thread_are_warmed_up_and_start_no_helper_threads(cluster, run_dir, tmp_path):
    """Before the first stack, each worker has loaded what a stack needs (a WorkerPlugin, also on a
    restarted worker); a worker of one thread decodes, fuses and writes on that thread only."""
    _, client = cluster
    report = fuse_many(str(run_dir / "s0[01]"), str(tmp_path / "{name}.png"), depth_maps=str(tmp_path / "{name}-d.png"),
                       client=client)
    assert len(report.done) == 2, report.summary()

    def state(dask_worker):
        from mfif import _threads

        return ("mfif-warm-up" in dask_worker.plugins, _threads.max_threads(),
                all(m in sys.modules for m in ("cv2", "mfif.cli_fuse", "mfif.fusion.cpu_files", "mfif.align._stack")))

    assert list(client.run(state).values()) == [(True, 1, True)] * 2
    fuse_one(run_dir / "s01", tmp_path / "ref.png", "--depth-map", str(tmp_path / "ref-d.png"))
    assert same_bytes(tmp_path / "s01.png", tmp_path / "ref.png")
    assert same_bytes(tmp_path / "s01-d.png", tmp_path / "ref-d.png")


def test_warm_up_in_this_process():
    from mfif.distributed.many import warm_up

    warm_up("pyramid", "cpu")  # raises on any failure (the plugin only logs it)
    assert "mfif.fusion.cpu_files" in sys.modules
