"""fuse_many's throughput against the number of workers of a local cluster.

Each round fuses the same 8 generated stacks (4 moving frames of 512x512,
aligned and fused with the default pyramid, depth maps written) on a local
cluster of 1 or 2 worker processes of one thread each, started before the
timing; ``force`` makes every round fuse every stack. The "threads" column of
the report is the number of workers. Stacks per second = 8 / the time.
The 40-stack acceptance run is scripts/distributed_stacks.py.
"""
import os

import pytest

from mfif import io, synthetic

from conftest import run

distributed = pytest.importorskip("distributed")
from mfif.distributed import fuse_many  # noqa: E402

N_STACKS, N_FRAMES, SIDE = 8, 4, 512


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("stacks")
    for s in range(N_STACKS):
        frames, _ = synthetic.moving_stack(SIDE, SIDE, n=N_FRAMES, seed=s, max_scale=0.01, max_shift=3)
        os.makedirs(root / f"s{s}")
        for i, f in enumerate(frames):
            io.write_image(str(root / f"s{s}" / f"f{i}.png"), io.from_float(f))
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_fuse_many_throughput(benchmark, run_dir, tmp_path, workers):
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \
            distributed.Client(cl) as client:
        def once():
            report = fuse_many(str(run_dir / "*"), str(tmp_path / "{name}.png"),
                               depth_maps=str(tmp_path / "{name}-depth.png"), client=client, force=True)
            assert len(report.done) == N_STACKS, report.summary()

        run(benchmark, "fuse_many", f"{N_STACKS} stacks {N_FRAMES}x{SIDE}x{SIDE}", workers, "dask", once, rounds=2)
