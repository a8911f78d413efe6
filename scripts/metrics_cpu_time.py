"""CPU time (time.process_time, one thread) of each metric on the benchmark 520x520 pair: PYTHONPATH=python python scripts/metrics_cpu_time.py [repeats]."""
import os
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
import torch
torch.set_num_threads(1)
from bench_metrics import _pair
from mfif import metrics as M
a, b, f = _pair()
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
M.evaluate_grey(a, b, f)  # warm-up
res = {}
for name in list(M.METRICS):
    fn = M.METRICS[name][0]
    ts = []
    for _ in range(reps):
        t = time.process_time(); fn(a, b, f); ts.append(time.process_time() - t)
    res[name] = min(ts)
ts = []
for _ in range(reps):
    t = time.process_time(); M.evaluate_grey(a, b, f); ts.append(time.process_time() - t)
for k, v in res.items():
    print(f"{k:6s} {v*1000:8.1f} ms")
print(f"sum    {sum(res.values())*1000:8.1f} ms")
print(f"all    {min(ts)*1000:8.1f} ms (evaluate_grey, min of {reps})")
