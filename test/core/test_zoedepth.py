"""ZoeDepth: official checkpoint layout, strict loading, the official inference path
(padding, MiDaS resize, bicubic upsampling, crop, flip average), the metric bins heads, the
NK router, and ``focal_scaling``.

The official layout (test/data/zoedepth_keys.json) was generated once from the official
code; the comparison with the official code itself is benchmarks/oracle_zoedepth.py.
The real network (BEiT-L, 345 M parameters) is loaded once from a small file whose tensors
are stride-0 expansions (the official layout and shapes, a few kB on disk); the numerical
checks of the inference path use the same architecture with a narrow BEiT.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from depth_ros.core.models import build_as
from depth_ros.core.models._focal import FocalScaled
from depth_ros.core.models.zoedepth import ZoeDepthModel

if TYPE_CHECKING:
    import torch

    from depth_ros.core.models.nets.zoedepth import ZoeDepthNet
else:
    torch = pytest.importorskip("torch")
F = torch.nn.functional

from depth_ros.core.camera import PinholeCamera  # noqa: E402
from depth_ros.core.errors import InputError, WeightsError  # noqa: E402
from depth_ros.core.models import (  # noqa: E402
    InputKind,
    ModelConfig,
    OutputKind,
    build_model,
    get_model,
    model_ids,
)
from depth_ros.core.models.base import MonoOutput, run_mono  # noqa: E402

KEYS = json.loads((Path(__file__).resolve().parents[1] / "data" / "zoedepth_keys.json").read_text())


def tiny_file_state(variant: str) -> dict[str, torch.Tensor]:
    """The official layout, each float tensor a stride-0 expansion of a random row."""
    from depth_ros.core.models.nets.zoedepth import relative_position_index

    g = torch.Generator().manual_seed(0)
    state = {}
    for name, shape, dtype in KEYS[variant]:
        if name.endswith("relative_position_index"):  # unused at inference
            t = relative_position_index((24, 24))[:1].clone().expand(shape)
        elif name.endswith("k_idx"):
            t = torch.arange(shape[1]).view(shape)
        elif name.endswith("K_minus_1"):
            t = torch.full(shape, 63.0)
        else:
            row = torch.randn(shape[-1] if shape else 1, generator=g) * 0.02
            t = row.expand(shape) if shape else row[0]
        assert str(t.dtype).replace("torch.", "") == dtype
        state[name] = t
    return state


@pytest.fixture(scope="module")
def n_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "ZoeD_M12_N.pt"
    torch.save({"model": tiny_file_state("n")}, path)
    assert path.stat().st_size < 5_000_000
    return path


@functools.cache
def tiny_net(variant: str) -> ZoeDepthNet:
    """The architecture with a narrow BEiT (built once per variant)."""
    from depth_ros.core.models.nets.zoedepth import zoedepth_net

    torch.manual_seed(0)
    net = zoedepth_net(variant, height=64, beit_dim=64, beit_heads=4).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("gamma_1", "gamma_2")):
                p.fill_(0.1)
            elif name.endswith("relative_position_bias_table"):
                p.normal_(0, 0.5)
    return net


def test_registered_ids_and_specs() -> None:
    ids = model_ids(InputKind.MONO)
    for v, depth in (("n", 10.0), ("k", 80.0), ("nk", 80.0)):
        spec = get_model(f"zoedepth_{v}")
        assert spec.id in ids
        assert spec.output_kind is OutputKind.METRIC
        assert spec.max_depth == depth
        assert spec.weights_file == f"ZoeD_M12_{v.upper()}.pt"
        assert "github.com/isl-org/ZoeDepth/releases/download/v1.0" in (spec.weights_source or "")
        names = {p.name for p in spec.params}
        assert {"pad_input", "flip_aug", "input_size"} <= names
        assert ("focal_scaling" in names) == (v != "nk")


@pytest.mark.parametrize("variant", ["n", "k", "nk"])
def test_network_matches_official_layout(variant: str) -> None:
    from depth_ros.core.models.nets.zoedepth import zoedepth_net

    with torch.device("meta"):
        net = zoedepth_net(variant)
    ours = [
        [k, list(t.shape), str(t.dtype).replace("torch.", "")] for k, t in net.state_dict().items()
    ]
    assert sorted(ours) == sorted(KEYS[variant])


def test_relative_position_index_small_grid() -> None:
    from depth_ros.core.models.nets.zoedepth import relative_position_index

    idx = relative_position_index((2, 3))  # 6 patches + class token; table of 3x5 + 3
    assert idx.shape == (7, 7)
    # patch (0,0) to patch (0,1): dy 0, dx -1 → (0 + 1) * 5 + (-1 + 2)
    assert int(idx[1, 2]) == 6
    # patch (1,2) to patch (0,0): dy 1, dx 2 → (1 + 1) * 5 + (2 + 2)
    assert int(idx[6, 1]) == 14
    assert int(idx[0, 3]) == 15
    assert int(idx[3, 0]) == 16
    assert int(idx[0, 0]) == 17


def test_network_size_follows_midas_resize() -> None:
    from depth_ros.core.models.nets.zoedepth import zoedepth_net

    with torch.device("meta"):
        n, k = zoedepth_net("n"), zoedepth_net("k")
    # a 640x480 image padded by 46 rows / 53 columns per side: 572x746
    assert (int(math.sqrt(480 / 2) * 3), int(math.sqrt(640 / 2) * 3)) == (46, 53)
    assert n.network_size(572, 746) == (384, 512)
    assert k.network_size(572, 746) == (576, 768)
    assert n.network_size(480, 640) == (384, 512)
    assert k.network_size(352, 1216) == (384, 1312)


@pytest.mark.parametrize("variant", ["n", "k"])
def test_forward_is_official_infer(variant: str) -> None:
    """forward = official infer(pad_input=True, with_flip_aug=True), written out here."""
    net = tiny_net(variant)
    x = torch.rand(1, 3, 45, 61, generator=torch.Generator().manual_seed(1))

    def padded(img: torch.Tensor) -> torch.Tensor:
        ph, pw = int(np.sqrt(45 / 2) * 3), int(np.sqrt(61 / 2) * 3)
        big = F.pad(img, [pw, pw, ph, ph], mode="reflect")
        out = net.metric(big)
        out = F.interpolate(out, size=big.shape[-2:], mode="bicubic", align_corners=False)
        return out[:, :, ph:-ph, pw:-pw]

    with torch.no_grad():
        ref = (padded(x) + torch.flip(padded(torch.flip(x, dims=[3])), dims=[3])) / 2
        out = net(x)
        net.pad_input = net.flip_aug = False
        try:
            plain = net(x)
        finally:
            net.pad_input = net.flip_aug = True
    assert out.shape == (1, 45, 61)
    torch.testing.assert_close(out, ref[:, 0], rtol=0, atol=1e-5)
    assert float((plain - out).abs().max()) > 1e-4  # the augmentations change the output
    lo, hi = (1e-3, 80.0) if variant == "k" else (0.0, float("inf"))
    assert float(out.min()) >= lo
    assert float(out.max()) <= hi


def test_log_binomial_is_a_distribution() -> None:
    from depth_ros.core.models.nets.zoedepth import ConditionalLogBinomial

    clb = ConditionalLogBinomial(33, 128, 64, 2, min_temp=0.0212, max_temp=50.0).eval()
    with torch.no_grad():
        p = clb(torch.randn(2, 33, 5, 7), torch.randn(2, 128, 5, 7))
    assert p.shape == (2, 64, 5, 7)
    torch.testing.assert_close(p.sum(dim=1), torch.ones(2, 5, 7))
    assert float(p.min()) >= 0


def test_nk_router_picks_a_head() -> None:
    """NK runs the NYU or the KITTI head by the router's vote (softmax of the summed
    domain logits); forcing the vote switches the head."""
    from depth_ros.core.models.nets import zoedepth as zd

    net = tiny_net("nk")
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    outs = {}
    with torch.no_grad():
        for name, bias in (("nyu", (50.0, -50.0)), ("kitti", (-50.0, 50.0))):
            router = net.mlp_classifier[2]
            assert isinstance(router, torch.nn.Linear)
            router.bias.copy_(torch.tensor(bias))
            out = net.metric(x)
            # the same head run directly
            xx = (
                F.interpolate(
                    x,
                    net.network_size(64, 96),
                    mode="bilinear",
                    align_corners=True,
                )
                - 0.5
            ) / 0.5
            _, (out_conv, btl, *blocks) = net.core.core(xx)
            cfg = next(c for c in net.head_configs if c.name == name)
            ref = zd._run_head(
                net.conv2(btl),
                blocks,
                out_conv,
                net.seed_bin_regressors[name],
                net.seed_projector,
                net.projectors,
                zd._entries(net.attractors, name),
                zd._entry(net.conditional_log_binomial, name),
                cfg,
            )
            torch.testing.assert_close(out, ref)
            outs[name] = out
    assert float((outs["nyu"] - outs["kitti"]).abs().max()) > 1e-4


@pytest.fixture(scope="module")
def n_model(n_file: Path) -> Iterator[FocalScaled[ZoeDepthModel]]:
    """zoedepth_n built from the official-layout file (BEiT-L, input size 64, no flip)."""
    config = ModelConfig(weights=n_file, input_size=64, params={"flip_aug": False})
    model: FocalScaled[ZoeDepthModel] = build_as("zoedepth_n", FocalScaled, config)
    yield model
    model.inner.close()


def test_build_load_and_predict(n_model: FocalScaled[ZoeDepthModel]) -> None:
    model = n_model
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    out = model.predict(rgb)
    assert out.shape == (30, 40)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert (out > 0).all()
    x = model.inner.network_input(rgb)
    np.testing.assert_array_equal(x[0].transpose(1, 2, 0), rgb.astype(np.float32) / 255)


def test_strict_loading_errors(tmp_path: Path) -> None:
    def build(state: dict[str, torch.Tensor], name: str = "w.pt") -> None:
        torch.save({"model": state}, tmp_path / name)
        build_model("zoedepth_n", ModelConfig(weights=tmp_path / name, input_size=64))

    state = tiny_file_state("n")
    del state["core.core.pretrained.model.blocks.3.attn.relative_position_index"]
    with pytest.raises(WeightsError, match=r"missing keys: .*blocks\.3\.attn\.relative_position"):
        build(state)
    with pytest.raises(WeightsError, match=r"ZoeDepth N checkpoint.*attractors\.0\._net\.2"):
        build(tiny_file_state("k"))  # the K file for the N model: attractor shapes differ
    with pytest.raises(WeightsError, match=r"missing keys: attractors\.0\._net.*unexpected keys: "):
        build(tiny_file_state("nk"))
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match=r"bad\.pt"):
        build_model("zoedepth_n", ModelConfig(weights=tmp_path / "bad.pt"))


def test_no_weights_offline_names_file_and_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        build_as("zoedepth_nk", ZoeDepthModel, ModelConfig())
    assert "ZoeD_M12_NK.pt" in str(info.value)
    assert "github.com/isl-org/ZoeDepth/releases" in str(info.value)


def _camera(fx: float, width: int = 40, height: int = 30) -> PinholeCamera:
    cx, cy = width / 2, height / 2
    return PinholeCamera(
        width, height, (fx, 0, cx, 0, fx, cy, 0, 0, 1), (fx, 0, cx, 0, 0, fx, cy, 0, 0, 0, 1, 0)
    )


def test_focal_scaling_relation(n_model: FocalScaled[ZoeDepthModel]) -> None:
    """depth with focal_scaling = depth without x (fx_cam s_cam) / (fx_train s_train), s the
    MiDaS resize scale; exactly 1 for the NYU camera at 640x480."""
    from depth_ros.core.models._focal import NYU

    model = n_model
    rgb = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    plain = run_mono(model, rgb, None)
    assert isinstance(plain, MonoOutput)
    model.update({"focal_scaling": True})
    with pytest.raises(InputError, match="camera_info"):
        run_mono(model, rgb, None)
    cam = _camera(60.0)
    scaled = run_mono(model, rgb, cam)
    inner = model.inner
    s_cam = inner.resize_scale(30, 40)  # at input_size 64: net target 64x85
    assert s_cam == pytest.approx(85 / 40)
    s_train = 0.8  # NYU 640x480 → 384x512 at the official input size
    factor = 60.0 * s_cam / (NYU.fx * s_train)
    np.testing.assert_allclose(scaled.depth, plain.depth * np.float32(factor), rtol=1e-6)
    assert scaled.focal_px == 60.0
    doubled = run_mono(model, rgb, _camera(120.0))
    np.testing.assert_allclose(doubled.depth, 2 * scaled.depth, rtol=1e-6)
    # the training camera at the official input size: factor 1 (at 64: 64/384 of it)
    nyu = _camera(NYU.fx, 640, 480)
    assert model.factor(nyu) == pytest.approx(64 / 384)
    from depth_ros.core.models.zoedepth import resize_scale, train_scale

    assert resize_scale("n", 480, 640) == train_scale("n") == 0.8
    assert train_scale("k") == pytest.approx(384 / 352)
    model.update({"focal_scaling": False})
    np.testing.assert_array_equal(run_mono(model, rgb, cam).depth, plain.depth)
