"""Typed wrappers of the mfif ops (``torch.ops.mfif.*``) with argument checks."""
