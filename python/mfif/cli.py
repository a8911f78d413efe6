"""The mfif command line."""
from __future__ import annotations

import os
import sys
import time

import click
import numpy as np


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mfif")
def main():
    """mfif: multi-focus image fusion with fast C++/CUDA PyTorch ops."""


@main.command()
@click.option("-o", "--out", "out_dir", default="mfif-demo", show_default=True,
              help="Folder for the sources, the fused image and the decision map.")
@click.option("--size", default=512, show_default=True, help="Side of the generated square scene.")
@click.option("--seed", default=0, show_default=True, help="Seed of the generated scene.")
def demo(out_dir: str, size: int, seed: int):
    """Fuse a generated multi-focus pair whose sharp truth is known.

    Writes source_a.png, source_b.png, fused.png, decision.png and truth.png
    into OUT and prints the PSNR of the fused image and of each source
    against the truth.
    """
    import torch

    from . import io, pipeline, synthetic

    os.makedirs(out_dir, exist_ok=True)
    a, b, truth, _ = synthetic.multifocus_pair(size, size, seed=seed)
    to_t = lambda im: torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1)))[None]  # noqa: E731
    ta, tb = to_t(a), to_t(b)
    start = time.perf_counter()
    scores = pipeline.focus_measure_scores(pipeline.to_grey(ta), pipeline.to_grey(tb))
    fused, decision, _ = pipeline.decision_postprocess(scores, ta, tb)
    elapsed = time.perf_counter() - start
    fused_np = fused[0].permute(1, 2, 0).numpy()
    files = {"source_a.png": a, "source_b.png": b, "truth.png": truth, "fused.png": fused_np}
    for name, im in files.items():
        io.write_image(os.path.join(out_dir, name), io.from_float(im))
    io.write_image(os.path.join(out_dir, "decision.png"), decision[0].numpy().astype(np.uint8) * 255)

    def psnr(x):
        mse = float(np.mean((io.from_float(x).astype(np.float64) - io.from_float(truth)) ** 2))
        return 10 * np.log10(255.0**2 / max(mse, 1e-12))

    click.echo(f"fused a {size}x{size} generated pair in {elapsed * 1e3:.1f} ms -> {out_dir}/")
    click.echo(f"PSNR against the sharp truth: fused {psnr(fused_np):.2f} dB, "
               f"source A {psnr(a):.2f} dB, source B {psnr(b):.2f} dB")


from .cli_fuse import fuse as _fuse_command  # noqa: E402  (`mfif fuse`)
main.add_command(_fuse_command)

from .cli_evaluate import evaluate_command as _evaluate_command  # noqa: E402  (`mfif evaluate`)
main.add_command(_evaluate_command)

from .cli_train import train_command as _train_command  # noqa: E402  (`mfif train`)
main.add_command(_train_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
