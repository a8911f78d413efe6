"""mfif::window_argmin against its pure-PyTorch reference, ties, bad input, opcheck."""
import pytest
import torch

from mfif import ops, reference


@pytest.mark.parametrize("D", [1, 7, 128])
def test_matches_reference(dtype, D):
    g = torch.Generator().manual_seed(D)
    q = torch.rand(300, D, generator=g, dtype=dtype)
    c = torch.rand(500, D, generator=g, dtype=dtype)
    idx = torch.randint(0, 500, (300, 49), generator=g)
    out = ops.window_argmin(q, c, idx)
    ref = reference.window_argmin(q, c, idx)
    dist = (c[idx] - q[:, None]).pow(2).sum(-1)
    # same choice, or (float rounding at a near-tie) an equally near one
    torch.testing.assert_close(dist.gather(1, out[:, None]), dist.gather(1, ref[:, None]))
    assert (out == ref).float().mean() > 0.99
    # the chunked pure-PyTorch path used on devices without the kernel
    assert torch.equal(torch.cat([reference.window_argmin(q[s:s + 64], c, idx[s:s + 64]) for s in range(0, 300, 64)]),
                       ref)


def test_first_minimum_wins_on_ties():
    q = torch.zeros(3, 4)
    c = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1.0, 0, 0]])
    idx = torch.tensor([[0, 1, 2, 3], [2, 1, 0, 3], [3, 0, 3, 0]])
    assert ops.window_argmin(q, c, idx).tolist() == [1, 0, 0]


def test_bad_input():
    q, c = torch.rand(2, 3), torch.rand(4, 3)
    with pytest.raises(ValueError, match="outside candidates"):
        ops.window_argmin(q, c, torch.tensor([[0, 4], [1, 2]]))
    with pytest.raises(TypeError, match="int64"):
        ops.window_argmin(q, c, torch.tensor([[0, 1], [1, 2]], dtype=torch.int32))
    with pytest.raises(TypeError, match="dtype"):
        ops.window_argmin(q, c.double(), torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="values per row"):
        ops.window_argmin(q, torch.rand(4, 2), torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match=r"\[M, K\]"):
        ops.window_argmin(q, c, torch.tensor([[0, 1]]))
    with pytest.raises(RuntimeError, match="outside candidates"):
        torch.ops.mfif.window_argmin(q, c, torch.tensor([[0, 9], [1, 2]]))
    assert ops.window_argmin(torch.rand(0, 3), c, torch.zeros(0, 2, dtype=torch.long)).shape == (0,)


def test_opcheck():
    q, c = torch.rand(5, 8), torch.rand(9, 8)
    idx = torch.randint(0, 9, (5, 4))
    torch.library.opcheck(torch.ops.mfif.window_argmin.default, (q, c, idx))
