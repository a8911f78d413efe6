"""The one result class of mfif: what :func:`mfif.fuse` and every method's ``fuse_pair``/``fuse_stack`` return.

Importable without torch (the command's CPU path never loads it).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _describe(x: Any) -> str:
    """``uint8 array (520, 520, 3)`` / ``float32 tensor (1, 3, 64, 64) on cpu``: the form, never the pixels."""
    if x is None:
        return "None"
    shape = tuple(getattr(x, "shape", ()))
    dtype = str(getattr(x, "dtype", type(x).__name__)).replace("torch.", "")
    if isinstance(x, np.ndarray):
        return f"{dtype} array {shape}"
    device = getattr(x, "device", None)
    return f"{dtype} tensor {shape}" + (f" on {device}" if device is not None else "")


def _as_int32(index: Any) -> Any:
    """The depth map as int32, whether numpy or torch (one dtype for every form of result)."""
    if index is None:
        return None
    if isinstance(index, np.ndarray):
        return index if index.dtype == np.int32 else index.astype(np.int32)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(index, torch.Tensor) and index.dtype != torch.int32:
        return index.to(torch.int32)
    return index


@dataclass(repr=False)
class FusionResult:
    """A fused image and how it was made.

    Methods fill the first four fields (tensors ``[B, ...]``); :func:`mfif.fuse`
    fills all of them, in the form of its inputs.

    Attributes:
        fused: the fused image. From :func:`mfif.fuse`: a numpy array
            ``[H, W]``/``[H, W, 3]`` of the inputs' dtype for paths and arrays; a
            float tensor ``[C, H, W]`` on the compute device for tensor inputs (a
            list of ``[C, H, W]`` tensors or a stack ``[N, C, H, W]``),
            ``[B, C, H, W]`` for a batch ``[B, N, C, H, W]``. From a method:
            ``[B, C, H, W]`` float in [0, 1].
        index: the depth map, the frame each pixel came from (0 = first frame),
            int32 (numpy or torch, like ``fused``), or None.
        weights: the weight map of the first source (pairs) or of the frame
            ``index`` (stacks), float, or None.
        decision: bool map, True where the first frame was chosen (``index == 0``
            unless the method gives its own binary decision map).
        method: name of the method used.
        n_frames, size (H, W), channels, device: what was fused where.
        seconds: wall time of the fusion (loading included).
        tiles: number of tiles the frames were cut into (1: untiled).
        frame_names: the frames' names (file names, or ``image i``), in order.
        alignment: a :class:`mfif.align.StackAlignment` (a list of them for a
            batch) when alignment was estimated, else None.
        align_note: one line saying what alignment did.
        metadata: the first frame's ``exif``/``icc_profile`` bytes (file inputs),
            for :func:`mfif.io.write_image` to carry into the output.

    Examples:
        >>> import numpy as np
        >>> r = FusionResult(fused=np.zeros((4, 6, 3), np.uint8), index=np.zeros((4, 6), np.int64), method="gff")
        >>> r.index.dtype, bool(r.decision.all())
        (dtype('int32'), True)
        >>> r
        FusionResult(method='gff', fused=uint8 array (4, 6, 3), index=int32 array (4, 6))
    """

    fused: Any
    index: Any = None
    weights: Any = None
    decision: Any = None
    method: str = ""
    n_frames: int = 0
    size: tuple[int, int] | None = None
    channels: int = 0
    device: str = ""
    seconds: float = 0.0
    tiles: int = 1
    frame_names: list[str] = field(default_factory=list)
    alignment: Any = None
    align_note: str = ""
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = _as_int32(self.index)
        if self.decision is None and self.index is not None:
            self.decision = self.index == 0

    def __repr__(self) -> str:
        parts = [f"method={self.method!r}"] if self.method else []
        if self.n_frames:
            h, w = self.size or (0, 0)
            parts += [f"n_frames={self.n_frames}", f"size={w}x{h}", f"device={self.device!r}"]
        parts += [f"fused={_describe(self.fused)}", f"index={_describe(self.index)}"]
        if self.weights is not None:
            parts.append(f"weights={_describe(self.weights)}")
        return f"FusionResult({', '.join(parts)})"

    def depth_image(self, dtype=np.uint8) -> np.ndarray:
        """The index map as a grey image: frame 0 black, the last frame white."""
        idx = self.index.cpu().numpy() if hasattr(self.index, "cpu") else np.asarray(self.index)
        top = 255 if dtype == np.uint8 else 65535
        n = self.n_frames or int(idx.max()) + 1
        return np.rint(idx.astype(np.float64) * top / max(n - 1, 1)).astype(dtype)

    def summary(self) -> str:
        """One line saying what was done (it names no command-line option)."""
        h, w = self.size or (0, 0)
        tiles = f" in {self.tiles} tiles" if self.tiles > 1 else ""
        kind = "grey" if self.channels == 1 else "colour"
        note = f"; {self.align_note}" if self.align_note else ""
        return (f"fused {self.n_frames} frames ({w}x{h} {kind}) with {self.method} on {self.device}{tiles} "
                f"in {self.seconds:.2f} s{note}")


# The names earlier releases used for the same thing.
FuseResult = FusionResult
StackResult = FusionResult

__all__ = ["FusionResult", "FuseResult", "StackResult"]
