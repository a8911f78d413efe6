"""The acceptance run of `mfif fuse-many`: generated stacks, byte-identity, throughput, a killed
worker, a stopped and restarted run.

Steps (each one reuses what the earlier ones left in --dir, build/many-stacks by default):
  make        generate --stacks stacks of --frames moving frames (mfif.synthetic.moving_stack);
  reference   run `mfif fuse STACK -o ref/NAME.png --depth-map ref/NAME-depth.png` on each;
  throughput  `mfif fuse-many` with 1 worker, then with 2 (one thread each), timed after the
              cluster's start and the workers' warm-up (--repeat: in turn, the best of each);
              outputs compared byte for byte with the references;
  kill        a run of 2 workers in a subprocess; when a third of the stacks are done, one worker
              process is killed (SIGKILL); every output must still be there and identical;
  restart     a run stopped (SIGINT) when a third of the stacks are done, then started again:
              it must fuse exactly the stacks that were not complete.

Example:
    python scripts/distributed_stacks.py --stacks 40 --frames 5 --size 1024x1024 make reference throughput kill restart
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.join(HERE, "..", "python")
sys.path.insert(0, PYTHON_DIR)
ENV = dict(os.environ, PYTHONPATH=PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
MFIF = [sys.executable, "-m", "mfif.cli"]


def make(root: str, n: int, frames: int, h: int, w: int) -> None:
    from mfif import io, synthetic

    for s in range(n):
        folder = os.path.join(root, "run", f"stack{s:03d}")
        if os.path.isdir(folder):
            continue
        imgs, _ = synthetic.moving_stack(h, w, n=frames, seed=s, max_scale=0.01, max_shift=3)
        tmp = folder + ".tmp"
        os.makedirs(tmp, exist_ok=True)
        for i, f in enumerate(imgs):
            io.write_image(os.path.join(tmp, f"frame{i}.png"), io.from_float(f))
        os.replace(tmp, folder)


TAG = ""
REPEAT = 1
RUN = "run"  # the folder of stacks the steps after make use (--limit: a subset of links)


def stacks(root: str) -> list[str]:
    return sorted(glob.glob(os.path.join(root, RUN, "stack*[0-9]")))


def reference(root: str) -> None:
    os.makedirs(os.path.join(root, "ref"), exist_ok=True)
    t = time.perf_counter()
    for folder in stacks(root):
        name = os.path.basename(folder)
        out = os.path.join(root, "ref", f"{name}.png")
        if not os.path.exists(out):
            subprocess.run(MFIF + ["fuse", folder, "-o", out, "--depth-map", out[:-4] + "-depth.png", "-q"],
                           check=True, env=ENV)
    print(f"reference: mfif fuse on each stack, {time.perf_counter() - t:.0f} s", flush=True)


def fuse_many_args(root: str, out: str, workers: int) -> list[str]:
    return MFIF + ["fuse-many", os.path.join(root, RUN, "stack*[0-9]"), "-o", os.path.join(out, "{name}.png"),
                   "--depth-map", os.path.join(out, "{name}-depth.png"), "--workers", str(workers), "-q"]


def compare(root: str, out: str) -> tuple[int, int]:
    """(identical, missing or different) outputs against the references."""
    same = bad = 0
    for folder in stacks(root):
        name = os.path.basename(folder)
        for suffix in (".png", "-depth.png"):
            a, b = os.path.join(root, "ref", name + suffix), os.path.join(out, name + suffix)
            if os.path.exists(b) and open(a, "rb").read() == open(b, "rb").read():
                same += 1
            else:
                bad += 1
    return same, bad


def complete(out: str) -> int:
    return len(glob.glob(os.path.join(out, ".*.png.mfif.json"))) // 1


def throughput(root: str) -> None:
    """1 worker, then 2, REPEAT times in turn (the same command and worker configuration, one thread
    each; only --workers differs); each time is the stacks' time after the cluster's start (the
    start and the workers' warm-up are reported apart); the best of each count is compared."""
    n = len(stacks(root))
    times = {1: [], 2: []}
    for rep in range(REPEAT):
        for workers in (1, 2):
            out = os.path.join(root, f"out-w{workers}{TAG}")
            shutil.rmtree(out, ignore_errors=True)
            load = os.getloadavg()[0]
            t = time.perf_counter()
            r = subprocess.run(fuse_many_args(root, out, workers)[:-1], check=True, env=ENV, capture_output=True,
                               text=True)
            wall = time.perf_counter() - t
            summary = r.stdout.strip().splitlines()[-1]
            startup = float(re.search(r"cluster start ([0-9.]+) s", summary).group(1))
            busy = float(re.search(r" in ([0-9.]+) s on", summary).group(1)) - startup
            times[workers].append(busy)
            same, bad = compare(root, out)
            print(f"{workers} worker(s): {n} stacks in {busy:.1f} s after the cluster's start ({n / busy:.2f} "
                  f"stacks/s; cluster start and warm-up {startup:.1f} s, command {wall:.1f} s in all, load "
                  f"{load:.1f} before, {os.getloadavg()[0]:.1f} after); {same} outputs byte-identical to mfif "
                  f"fuse, {bad} not", flush=True)
    best = {w: min(v) for w, v in times.items()}
    print(f"speed-up of 2 workers over 1: {best[1] / best[2]:.2f}x (best of {REPEAT}: {best[1]:.1f} s and "
          f"{best[2]:.1f} s)", flush=True)


def _run_until(root: str, out: str, share: float):
    """Start fuse-many with 2 workers; return the process once ``share`` of the stacks are complete."""
    shutil.rmtree(out, ignore_errors=True)
    # Ctrl-C's default action, also when this script runs in the background (where SIGINT is ignored)
    proc = subprocess.Popen(fuse_many_args(root, out, 2), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    target = max(1, int(share * len(stacks(root))))
    while complete(out) < target and proc.poll() is None:
        time.sleep(0.1)
    return proc


def kill(root: str) -> None:
    import psutil

    out = os.path.join(root, f"out-kill{TAG}")
    proc = _run_until(root, out, 1 / 3)
    workers = [p for p in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(p.cmdline())]
    done_before = complete(out)
    workers[0].send_signal(signal.SIGKILL)
    log, _ = proc.communicate()
    same, bad = compare(root, out)
    print(f"kill: worker {workers[0].pid} killed with {done_before} of {len(stacks(root))} stacks done; "
          f"exit {proc.returncode}; {same} outputs byte-identical, {bad} missing or different", flush=True)
    print("  " + log.strip().replace("\n", "\n  "), flush=True)


def restart(root: str) -> None:
    out = os.path.join(root, f"out-restart{TAG}")
    proc = _run_until(root, out, 1 / 3)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    log, _ = proc.communicate()
    stopped = time.time_ns()
    print(f"stopped: exit {proc.returncode}, {log.strip().splitlines()[-1:]}", flush=True)
    names = [os.path.basename(f) for f in stacks(root)]
    complete_names = sorted(re.sub(r"^\.(.*)\.png\.mfif\.json$", r"\1", os.path.basename(p))
                            for p in glob.glob(os.path.join(out, ".*.png.mfif.json")))
    outputs = {n: [os.path.join(out, n + suffix) for suffix in (".png", "-depth.png")] for n in names}
    stamps = {n: [os.stat(p).st_mtime_ns for p in outputs[n]] for n in complete_names}
    r = subprocess.run(fuse_many_args(root, out, 2)[:-1], env=ENV, capture_output=True, text=True)
    summary = r.stdout.strip().splitlines()
    untouched = all([os.stat(p).st_mtime_ns for p in outputs[n]] == stamps[n] for n in complete_names)
    # every other stack written again by the second run (its outputs newer than the stop)
    redone = [n for n in names if n not in stamps and all(os.stat(p).st_mtime_ns > stopped for p in outputs[n]
                                                         if os.path.exists(p))
              and all(os.path.exists(p) for p in outputs[n])]
    same, bad = compare(root, out)
    print(f"restart: stopped with {len(complete_names)} of {len(names)} stacks complete; the second run said: "
          f"{summary}; exit {r.returncode}; the {len(complete_names)} complete stacks' outputs untouched (same "
          f"modification times): {untouched}; the other {len(names) - len(complete_names)} stacks written again "
          f"after the stop: {len(redone)}; {same} outputs byte-identical to mfif fuse's, {bad} not", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("steps", nargs="+", choices=["make", "reference", "throughput", "kill", "restart"])
    ap.add_argument("--dir", default=os.path.join(HERE, "..", "build", "many-stacks"))
    ap.add_argument("--stacks", type=int, default=40)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--size", default="1024x1024", help="HxW of the frames")
    ap.add_argument("--limit", type=int, default=None, help="the steps after make use the first N stacks only")
    ap.add_argument("--tag", default="", help="suffix of the output folders (runs side by side)")
    ap.add_argument("--repeat", type=int, default=1, help="throughput: runs of each worker count, in turn")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    root = os.path.abspath(args.dir)
    global RUN, TAG, REPEAT
    TAG, REPEAT = args.tag, args.repeat
    for step in args.steps:
        if step != "make" and args.limit is not None and RUN == "run":
            RUN = f"run-{args.limit}"
            os.makedirs(os.path.join(root, RUN), exist_ok=True)
            for folder in sorted(glob.glob(os.path.join(root, "run", "stack*[0-9]")))[:args.limit]:
                link = os.path.join(root, RUN, os.path.basename(folder))
                if not os.path.islink(link):
                    os.symlink(folder, link)
        if step == "make":
            t = time.perf_counter()
            make(root, args.stacks, args.frames, h, w)
            print(f"make: {args.stacks} stacks of {args.frames} frames {w}x{h} in {time.perf_counter() - t:.0f} s",
                  flush=True)
        else:
            globals()[step](root)


if __name__ == "__main__":
    main()
