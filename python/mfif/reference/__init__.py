"""Pure-PyTorch references of every mfif op: short, obviously right, slow."""
