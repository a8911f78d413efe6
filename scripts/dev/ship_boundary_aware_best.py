#!/usr/bin/env python
"""Write a boundary-aware weights file from the weights a training run saved at its best held-out band
error (``--set best=FILE``; see mfif.train.boundary_aware), with the run's log to name the step.

    PYTHONPATH=python python scripts/dev/ship_boundary_aware_best.py --best build/ba_best.pt \
        --log build/ba_ckpt.pt.log.jsonl --set local=16 --out python/mfif/weights/boundary_aware.pt
"""
from __future__ import annotations

import argparse
import json

import torch

from mfif.train.boundary_aware import BoundaryAwareTask
from mfif.train.loop import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--best", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="/work/shared/data/train")
    ap.add_argument("--command", default="", help="the training command, stored in the metadata")
    ap.add_argument("--set", action="append", default=[], help="the run's task options, key=value")
    args = ap.parse_args()
    task = BoundaryAwareTask()
    opts = dict(task.defaults["options"])
    for kv in args.set:
        k, v = kv.split("=", 1)
        opts[k] = v
    cfg = TrainConfig(task="boundary-aware", out=args.out, data=args.data, options=opts)
    model = task.build(cfg)
    best = torch.load(args.best, map_location="cpu", weights_only=True)
    model.load_state_dict(best["model"])
    records = [json.loads(line) for line in open(args.log)]
    rec = min(records, key=lambda r: abs(r.get("val_band_mae", 1e9) - best["band_mae"]))
    meta = {**task.export(model, cfg), "train": {"options": opts, "command": args.command},
            "selected_step": rec["step"], "minutes": rec["minutes"],
            "held_out_band_mae": best["band_mae"], "held_out_band_mae_stage1": rec.get("val_band_mae_stage1"),
            "torch": str(torch.__version__)}
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save({"model": state, "meta": meta}, args.out)
    print(f"wrote {args.out}: step {rec['step']}, held-out band MAE {best['band_mae']:.5f} "
          f"(stage one {rec.get('val_band_mae_stage1')}), {rec['minutes']} min")


if __name__ == "__main__":
    main()
