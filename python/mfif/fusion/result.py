"""What :func:`mfif.fuse` returns (importable without torch)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FuseResult:
    """The outcome of :func:`fuse`.

    Attributes:
        fused: the fused image, in the form of the inputs: a numpy array
            ``[H, W]``/``[H, W, 3]`` of the inputs' dtype (uint8, uint16 or
            float32) for paths, arrays and lists of frame tensors (which are
            read one by one like files); a float tensor ``[C, H, W]`` on the
            compute device for a stack tensor ``[N, C, H, W]``, ``[B, C, H, W]``
            for a batch ``[B, N, C, H, W]``.
        index: the depth map, the frame each pixel came from (0 = first frame):
            numpy int32 ``[H, W]``, or int64 tensor ``[H, W]``/``[B, H, W]``.
        method: name of the method used.
        n_frames, size (H, W), channels, device: what was fused where.
        seconds: wall time of the fusion (loading included).
        tiles: number of tiles the frames were cut into (1: untiled).
        frame_names: the frames' paths (or ``image i``), in order.
    """

    fused: Any
    index: Any
    method: str
    n_frames: int
    size: tuple[int, int]
    channels: int
    device: str
    seconds: float
    tiles: int = 1
    frame_names: list[str] = field(default_factory=list)
    alignment: Any = None  # mfif.align.StackAlignment (a list of them for a batch), None when off
    align_note: str = ""

    @property
    def decision(self):
        """Bool map, True where the first image was chosen (the decision map of a pair)."""
        return self.index == 0

    def depth_image(self, dtype=np.uint8) -> np.ndarray:
        """The index map as a grey image: frame 0 black, the last frame white."""
        idx = self.index.cpu().numpy() if hasattr(self.index, "cpu") else np.asarray(self.index)
        top = 255 if dtype == np.uint8 else 65535
        return np.rint(idx.astype(np.float64) * top / max(self.n_frames - 1, 1)).astype(dtype)

    def summary(self) -> str:
        """One line saying what was done."""
        h, w = self.size
        tiles = f" in {self.tiles} tiles" if self.tiles > 1 else ""
        kind = "grey" if self.channels == 1 else "colour"
        note = f"; {self.align_note}" if self.align_note else ""
        return (f"fused {self.n_frames} frames ({w}x{h} {kind}) with {self.method} on {self.device}{tiles} "
                f"in {self.seconds:.2f} s{note}")
