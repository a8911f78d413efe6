"""Method objects from command-line specs, for the evaluation scripts.

``NAME[+eq][:KEY=VALUE,...]``: the registered method NAME (or ``hf-reg-near``: HF-Reg with eq. 6),
its parameters set (``hf-seg:equalize=false``, ``boundary-aware:postprocess=true``); ``+eq`` gives
the method sources brought to a common exposure first (:func:`mfif.pipeline.equalize_exposure`),
for methods without that option of their own (``pyramid+eq``).
"""
from __future__ import annotations


def split_specs(text: str) -> list[str]:
    """A comma-separated list of specs, where a spec's own ``KEY=VALUE`` items are comma-separated too:
    ``"hf-seg-pp:radius=2,eps=0.01,liu2017"`` -> ``["hf-seg-pp:radius=2,eps=0.01", "liu2017"]``."""
    specs: list[str] = []
    for item in filter(None, text.split(",")):
        if specs and ":" in specs[-1] and "=" in item and ":" not in item:
            specs[-1] += "," + item
        else:
            specs.append(item)
    return specs


def method(spec: str):
    """The method object of ``spec`` (a wrong parameter name raises AttributeError naming it)."""
    import mfif.methods as M

    name, _, params = spec.partition(":")
    name = name.removesuffix("+eq")
    if name == "hf-reg-near":
        from mfif.methods.hourglass import HFRegMethod

        m = HFRegMethod(nearest=True)
    else:
        m = M.get(name)
    for item in filter(None, params.split(",")):
        key, _, text = item.partition("=")
        old = getattr(m, key)
        value = text.lower() in ("1", "true", "yes", "on") if isinstance(old, bool) else type(old)(text)
        setattr(m, key, value)
    return m


def fuse(spec: str, m, a, b):
    """``m``'s fused image of ``a`` and ``b`` ``[B, C, H, W]`` clipped to [0, 1] (exposure-matched
    sources for a ``+eq`` spec)."""
    if spec.partition(":")[0].endswith("+eq"):
        from mfif.pipeline import equalize_exposure

        a, b = equalize_exposure(a, b)
    return m.fuse_pair(a, b).fused.clamp(0, 1)
