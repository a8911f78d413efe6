"""mfif.train: the one loop (a training step, reproducibility, resumption) and `mfif train`."""
import json

import pytest
import torch
from click.testing import CliRunner

from mfif.cli import main as cli
from mfif.train import config, get_task, run
from synthetic_photos import write_folder

SMALL = dict(steps=4, batch=1, every=2, warmup=2, progress=False, options={"crop": 32})


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_folder(str(tmp_path_factory.mktemp("photos")), n=2, height=64, width=72)


@pytest.mark.parametrize("task", ["hf-seg", "hf-reg"])
def test_one_step_changes_weights(task, photos):
    cfg = config(task, "unused.pt", data=photos, **SMALL)
    t = get_task(task)
    torch.manual_seed(cfg.seed)
    net = t.build(cfg)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    loss, _ = t.loss(net, t.data(cfg).sample(2), torch.device("cpu"))
    assert loss.ndim == 0 and torch.isfinite(loss) and float(loss) > 0
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss.backward()
    opt.step()
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_short_run_reproducible_and_resumable(photos, tmp_path):
    def go(name, **kw):
        cfg = config("hf-seg", str(tmp_path / f"{name}.pt"), data=photos, threads=1,
                     checkpoint=str(tmp_path / f"{name}_ck.pt"), **{**SMALL, **kw})
        run(get_task("hf-seg"), cfg, echo=lambda s: None)
        return _weights(cfg.out)

    w1, w2 = go("a"), go("b")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    go("c", stop_at=2)
    w3 = go("c")  # resumes at step 2 from c_ck.pt
    assert all(torch.equal(w1[k], w3[k]) for k in w1)
    w4 = go("d", seed=7)
    assert any(not torch.equal(w1[k], w4[k]) for k in w1)
    log = [json.loads(line) for line in open(tmp_path / "a_ck.pt.log.jsonl")]
    assert [r["step"] for r in log] == [2, 4] and all(r["loss"] > 0 for r in log)


def test_cli_train_with_validation(photos, tmp_path):
    val = write_folder(str(tmp_path / "val"), n=1, height=48, width=40)
    out = tmp_path / "w.pt"
    r = CliRunner().invoke(cli, ["train", "hf-reg", "--data", photos, "--val", val, "--steps", "2", "--every", "2",
                                 "--batch", "1", "--set", "crop=32", "--set", "val_n=1", "--out", str(out),
                                 "--checkpoint", str(tmp_path / "ck.pt"), "--quiet"])
    assert r.exit_code == 0, r.output
    rec = json.loads(open(tmp_path / "ck.pt.log.jsonl").readline())
    assert rec["val_gaussian_psnr"] > 10 and 0 < rec["val_realistic_ssim"] <= 1
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["kind"] == "hf-reg" and meta["train"]["steps"] == 2


def test_cli_train_errors(tmp_path):
    r = CliRunner().invoke(cli, ["train", "hf-seg", "--data", str(tmp_path / "missing"), "--quiet",
                                 "--out", str(tmp_path / "w.pt"), "--checkpoint", str(tmp_path / "c.pt")])
    assert r.exit_code != 0 and "does not exist" in r.output
    r = CliRunner().invoke(cli, ["train", "hf-seg", "--set", "bogus=1", "--quiet"])
    assert r.exit_code != 0 and "no option 'bogus'" in r.output
    r = CliRunner().invoke(cli, ["train", "hf-seg", "--set", "crop", "--quiet"])
    assert r.exit_code != 0 and "KEY=VALUE" in r.output


def test_checkpoint_of_another_task_refused(photos, tmp_path):
    ck = str(tmp_path / "ck.pt")
    run(get_task("hf-seg"), config("hf-seg", str(tmp_path / "a.pt"), data=photos, checkpoint=ck, **SMALL),
        echo=lambda s: None)
    with pytest.raises(ValueError, match="of task 'hf-seg'"):
        run(get_task("hf-reg"), config("hf-reg", str(tmp_path / "b.pt"), data=photos, checkpoint=ck, **SMALL),
            echo=lambda s: None)


def test_liu2017_task_through_the_loop(tmp_path):
    cfg = config("liu2017", str(tmp_path / "liu.pt"), steps=2, batch=4, every=1, progress=False,
                 checkpoint=str(tmp_path / "liu_ck.pt"), options={"dead_leaves": 0})
    meta = run(get_task("liu2017"), cfg, echo=lambda s: None)
    assert 0 <= meta["val_acc"] <= 1 and meta["train"]["batch"] == 4
    from mfif.models.liu2017 import LiuNet

    LiuNet().load_state_dict(_weights(cfg.out))  # a loadable Liu network


def test_hf_seg_widths_and_recon_options(photos, tmp_path):
    """--set widths=... builds that hourglass (stored in the weights' meta, loaded back by the method);
    --set recon=W adds the L1 term of the fused image, reported as l1; a bad widths string is refused."""
    from mfif.models.hourglass import load_hourglass

    cfg = config("hf-seg", str(tmp_path / "w.pt"), data=photos, threads=1,
                 **{**SMALL, "options": {"crop": 32, "widths": "8,12,16", "recon": 5.0}})
    t = get_task("hf-seg")
    net = t.build(cfg)
    assert net.body.widths == (8, 12, 16) and net.multiple == 8
    sampler = t.data(cfg)
    loss, stats = t.loss(net, sampler.sample(1), torch.device("cpu"))
    assert torch.isfinite(loss) and stats["l1"] > 0
    ce_only = config("hf-seg", "x.pt", data=photos, **{**SMALL, "options": {"crop": 32, "widths": "8,12,16"}})
    t.data(ce_only)
    _, stats0 = t.loss(net, sampler.sample(1), torch.device("cpu"))
    assert "l1" not in stats0
    run(get_task("hf-seg"), cfg, echo=lambda s: None)
    assert load_hourglass("hf-seg", path=str(cfg.out)).body.widths == (8, 12, 16)
    bad = config("hf-seg", "x.pt", data=photos, **{**SMALL, "options": {"widths": "8,x"}})
    with pytest.raises(ValueError, match="comma-separated"):
        get_task("hf-seg").build(bad)
