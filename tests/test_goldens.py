"""Golden values that pin behaviour without ../shared/data: liu2017's defaults and every metric.

The files in tests/data/goldens were written by scripts/dev/make_test_goldens.py from the
code they pin (see docs/testing.md); each test also checks that the golden would catch a
plausible slip (a changed default or constant), so a golden too coarse to matter fails here.
"""
import json
import os

import numpy as np
import pytest
import torch

from mfif import io
from mfif import metrics as M
from mfif.methods import get
from mfif.methods.liu2017 import Liu2017

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "goldens")
DECISION_SLACK = 16  # pixels of the 128x128 decision map (0.1 %): float noise of the network, never a rule
WEIGHT_SLACK = 0.01  # of the soft weights (the eps slip 0.1 -> 0.01 moves them by 0.16)


def _read(name):
    return io.read_image(os.path.join(GOLDEN, name))


def _liu(method):
    t = lambda x: torch.from_numpy(io.to_float(x)).permute(2, 0, 1)[None]  # noqa: E731
    r = method.fuse_pair(t(_read("liu_a.png")), t(_read("liu_b.png")))
    return r.decision[0].numpy(), r.weights.reshape(r.weights.shape[-2:]).numpy()


def _liu_mismatch(method):
    decision, weights = _liu(method)
    golden_d = _read("liu_decision.png") > 127
    golden_w = io.to_float(_read("liu_weights.png"))
    return int((decision != golden_d).sum()), float(np.abs(weights - golden_w).max())


def test_liu2017_defaults_give_the_golden_decision_map_and_weights():
    for method in (get("liu2017"), Liu2017()):
        d, w = _liu_mismatch(method)
        assert d <= DECISION_SLACK and w <= WEIGHT_SLACK, (d, w)


@pytest.mark.parametrize("slip", [dict(eps=0.01), dict(area_ratio=0.001), dict(radius=4)])
def test_the_liu2017_golden_catches_a_changed_default(slip):
    d, w = _liu_mismatch(Liu2017(**slip))
    assert d > DECISION_SLACK or w > WEIGHT_SLACK, (slip, d, w)


def _metric_inputs():
    return [_read(f"metric_{n}.png") for n in ("a", "b", "fused", "truth")]


def _golden_metrics():
    with open(os.path.join(GOLDEN, "metrics.json")) as f:
        return json.load(f)


def test_every_metric_has_its_golden_value():
    a, b, f, t = _metric_inputs()
    want = _golden_metrics()
    got = M.evaluate(a, b, f, metrics=M.available(), truth=t)
    assert set(got) == set(want) - {"QG_toolbox"}  # a new metric needs its golden
    for name, value in got.items():
        # float32 filtering inside QP differs by ~1e-8 between CPUs; every constant slip moves more
        assert value == pytest.approx(want[name], rel=1e-6, abs=1e-9), name
    tg = [torch.from_numpy(x).double() for x in (a, b, f)]
    assert float(M.qg(*tg, constants="toolbox")) == pytest.approx(want["QG_toolbox"], rel=1e-6)


@pytest.mark.parametrize("metric, module, constant, slip", [
    ("QG", "gradient", "CORRECTED_CONSTANTS", (0.9994, -15.0, 0.5, 0.9879, -22.0, 0.7)),
    ("QG", "gradient", "CORRECTED_CONSTANTS", (0.9949, -15.0, 0.5, 0.9879, -22.0, 0.8)),
    ("QP", "zhao", "_C", 1e-3),
    ("QP", "zhao", "_FEATURE_THRESHOLD", 0.2),
    ("QCV", "chen_varshney", "_ALPHA", 4.0),
    ("QCB", "chen_blum", "_HALF", 10),
])
def test_the_metric_goldens_catch_a_changed_constant(monkeypatch, metric, module, constant, slip):
    import importlib

    mod = importlib.import_module(f"mfif.metrics.{module}")
    a, b, f, _ = _metric_inputs()
    want = _golden_metrics()
    monkeypatch.setattr(mod, constant, slip)
    got = M.evaluate(a, b, f, metrics=[metric])[metric]
    assert got != pytest.approx(want[metric], rel=1e-6, abs=1e-9), f"{module}.{constant} = {slip} leaves {metric} in place"
