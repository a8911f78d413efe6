"""mfif.models.inception_resnet_v2: the published block structure at reduced and full sizes."""
import pytest
import torch

from mfif.models.inception_resnet_v2 import FULL, SMALL, InceptionResNetV2, InceptionResNetV2Config


def _params(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("width,blocks", [(0.125, (1, 1, 1)), (0.25, (1, 2, 1)), (0.25, (0, 0, 0)),
                                          (0.5, (2, 1, 3))])
@pytest.mark.parametrize("size", [32, 40, 48])
def test_padded_shapes(width, blocks, size):
    cfg = InceptionResNetV2Config(width=width, blocks=blocks, same_padding=True)
    net = InceptionResNetV2(cfg, in_ch=7, num_outputs=64).eval()
    x = torch.rand(3, 7, size, size)
    with torch.no_grad():
        fm = net.feature_map(x)
        y = net(x)
    # strides 2 (stem conv), 2 (stem pool), 2 (stem), 2 (Reduction-A), 2 (Reduction-B), each ceil(n / 2)
    side = size
    for _ in range(5):
        side = (side + 1) // 2
    assert fm.shape == (3, net.features, side, side)
    assert y.shape == (3, 64) and torch.isfinite(y).all()


def test_channels_follow_the_paper():
    net = InceptionResNetV2(InceptionResNetV2Config(blocks=(1, 1, 1)), num_outputs=0)
    # 384 after the stem, 1152 after Reduction-A, 2144 after Reduction-B
    assert net.block_a[0].up.out_channels == 384
    assert net.block_b[0].up.out_channels == 1152
    assert net.features == 2144
    assert [b.scale for b in (net.block_a[0], net.block_b[0], net.block_c[0])] == [0.17, 0.10, 0.20]


def test_published_valid_geometry_at_299():
    """The published (valid) stem and reductions: 299 -> 35 -> 17 -> 8 (blocks cut to 1 for speed)."""
    net = InceptionResNetV2(InceptionResNetV2Config(width=0.25, blocks=(1, 1, 1)), num_outputs=10).eval()
    sizes = {}
    for key, mod in (("a", net.block_a), ("b", net.block_b)):
        mod.register_forward_hook(lambda m, i, o, key=key: sizes.update({key: o.shape[-1]}))
    with torch.no_grad():
        fm = net.feature_map(torch.rand(1, 3, 299, 299))
    assert sizes == {"a": 35, "b": 17} and fm.shape[-1] == 8


def test_full_config_parameter_count():
    """The paper's figure 15 (5/10/5 blocks, full widths, 1000 classes): about 32 M parameters; the
    authors' released network has 10/20/10 blocks (about 55 M, the figure usually quoted)."""
    full = _params(InceptionResNetV2(FULL))
    assert 30e6 < full < 35e6
    assert FULL.blocks == (5, 10, 5) and FULL.width == 1.0 and not FULL.same_padding


def test_small_config_is_small():
    n = _params(InceptionResNetV2(SMALL, in_ch=7, num_outputs=64))
    assert 2e5 < n < 1.5e6  # a few MB of float32


def test_too_small_input_is_a_clear_error():
    net = InceptionResNetV2(InceptionResNetV2Config(width=0.125, blocks=(1, 1, 1)), num_outputs=2)
    with pytest.raises(ValueError, match="too small"):
        net(torch.rand(1, 3, 48, 48))
    with pytest.raises(ValueError, match="blocks"):
        InceptionResNetV2Config(blocks=(1, 2))
    with pytest.raises(ValueError, match="width"):
        InceptionResNetV2Config(width=0)
