"""The flow estimators: DIS (OpenCV), RAFT (torchvision, optional) and the oracle placeholder."""

import copy
import pickle
import sys
from functools import cache
from types import SimpleNamespace

import pytest
import torch
from corrwise.errors import BackendUnavailable, CheckpointError, ConfigError, InputError
from corrwise.train.flow import raft
from corrwise.train.flow.dis import PRESETS, DISFlow
from corrwise.train.flow.oracle import ORACLE_MESSAGE, OracleFlow, check_flows
from corrwise.train.flow.raft import WEIGHT_FILES, RAFTFlow, import_optical_flow, padding, weights_path
from corrwise.train.flow.registry import build_flow
from corrwise.train.flow.warp import backward_warp

HEIGHT, WIDTH = 128, 192
BORDER = 16  # pixels left out of the measured interior
SUBPIXEL = 0.25  # DIS median error on integer translations of a real photo, in pixels


@cache
def photo() -> torch.Tensor:
    """skimage's astronaut at half size: (1, 3, 256, 256) float32 in [-1, 1]."""
    skimage_data = pytest.importorskip("skimage.data")
    image = torch.from_numpy(skimage_data.astronaut()).permute(2, 0, 1)[None].float() / 127.5 - 1
    return torch.nn.functional.avg_pool2d(image, 2).clamp(-1, 1)


def shifted_pair(dx: int, dy: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B), each (1, 3, 128, 192): B is A moved by (dx, dy) pixels, cut from a larger image (no wrap)."""
    y0, x0 = 64, 32
    a = photo()[..., y0 : y0 + HEIGHT, x0 : x0 + WIDTH]
    b = photo()[..., y0 - dy : y0 - dy + HEIGHT, x0 - dx : x0 - dx + WIDTH]
    return a.contiguous(), b.contiguous()


def interior_median(flow: torch.Tensor) -> tuple[float, float]:
    """Median (x, y) of a (1, 2, H, W) flow away from the border."""
    inner = flow[0, :, BORDER:-BORDER, BORDER:-BORDER]
    return inner[0].median().item(), inner[1].median().item()


# --- DIS ---------------------------------------------------------------------------------------


def test_dis_sign_convention_right_shift_gives_positive_x():
    a, b = shifted_pair(3, 0)
    mx, my = interior_median(DISFlow()(a, b))
    assert abs(mx - 3) < SUBPIXEL and abs(my) < SUBPIXEL


@pytest.mark.parametrize(("dx", "dy"), [(3, 0), (-3, 0), (0, 2), (0, -2), (-4, 5)])
def test_dis_recovers_integer_translations(dx, dy):
    a, b = shifted_pair(dx, dy)
    mx, my = interior_median(DISFlow("medium")(a, b))
    assert abs(mx - dx) < SUBPIXEL and abs(my - dy) < SUBPIXEL


def test_dis_flow_warps_b_back_onto_a():
    """The convention of warp.py: backward_warp(B, flow A -> B) reproduces A."""
    a, b = shifted_pair(-4, 3)
    aligned = backward_warp(b, DISFlow()(a, b))
    inner = (slice(None), slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    assert (aligned - a)[inner].abs().mean() < 0.25 * (b - a)[inner].abs().mean()


def test_dis_pair_gives_opposite_directions():
    a, b = shifted_pair(2, -3)
    forward, backward = DISFlow().pair(a, b)
    assert interior_median(forward) == pytest.approx((2, -3), abs=SUBPIXEL)
    assert interior_median(backward) == pytest.approx((-2, 3), abs=SUBPIXEL)


def test_dis_batch_is_estimated_per_sample():
    a0, b0 = shifted_pair(3, 0)
    a1, b1 = shifted_pair(0, -2)
    flow = DISFlow()(torch.cat((a0, a1)), torch.cat((b0, b1)))
    assert flow.shape == (2, 2, HEIGHT, WIDTH)
    assert interior_median(flow[:1]) == pytest.approx((3, 0), abs=SUBPIXEL)
    assert interior_median(flow[1:]) == pytest.approx((0, -2), abs=SUBPIXEL)


def test_dis_accepts_one_channel_images():
    a, b = shifted_pair(-3, 1)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    gray_a, gray_b = (a * luma).sum(1, keepdim=True), (b * luma).sum(1, keepdim=True)
    assert interior_median(DISFlow()(gray_a, gray_b)) == pytest.approx((-3, 1), abs=SUBPIXEL)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_dis_presets_by_name(preset):
    a, b = shifted_pair(2, 1)
    estimator = DISFlow(preset)
    assert estimator.preset == preset and preset in repr(estimator)
    assert interior_median(estimator(a, b)) == pytest.approx((2, 1), abs=2 * SUBPIXEL)


def test_dis_output_is_float32_on_the_input_device_without_grad():
    a, b = shifted_pair(1, 1)
    a.requires_grad_(True)
    flow = DISFlow("ultrafast")(a, b)
    assert flow.dtype == torch.float32 and flow.shape == (1, 2, HEIGHT, WIDTH)
    assert flow.device == a.device and not flow.requires_grad
    assert DISFlow.differentiable is False and DISFlow.name == "dis"


def test_dis_instance_is_reused_and_copies_make_their_own():
    a, b = shifted_pair(1, 0)
    estimator = DISFlow("fast")
    estimator(a, b)
    engine = estimator.engine()
    estimator(a, b)
    assert estimator.engine() is engine
    for clone in (copy.deepcopy(estimator), pickle.loads(pickle.dumps(estimator))):
        assert clone.preset == "fast" and clone.engine() is not engine
        assert interior_median(clone(a, b)) == pytest.approx((1, 0), abs=SUBPIXEL)


def test_dis_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match=r"ultrafast.*fast.*medium"):
        DISFlow("slow")


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 40), "shapes differ"),
        (torch.full((1, 3, 32, 32), 255.0), torch.zeros(1, 3, 32, 32), r"\[-1, 1\]"),
        (torch.zeros(3, 32, 32), torch.zeros(3, 32, 32), r"\(B, C, H, W\)"),
        (torch.zeros(1, 2, 32, 32), torch.zeros(1, 2, 32, 32), "2 channels"),
        (torch.zeros(1, 3, 8, 64), torch.zeros(1, 3, 8, 64), "at least 12x12"),
        (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "float"),
    ],
)
def test_dis_rejects_bad_inputs(a, b, match):
    with pytest.raises(InputError, match=match):
        DISFlow()(a, b)


# --- oracle ------------------------------------------------------------------------------------


def test_oracle_refuses_to_estimate_and_says_what_to_pass():
    oracle = OracleFlow()
    a = torch.zeros(1, 3, 16, 16)
    for call in (oracle, oracle.pair, oracle.estimate):
        with pytest.raises(ConfigError, match=r"flows=\(flow_target_to_pred, flow_pred_to_target\)"):
            call(a, a)
    assert "from the data" in ORACLE_MESSAGE
    assert OracleFlow.differentiable is False and OracleFlow.name == "oracle"


def test_check_flows_accepts_good_flows_as_float32_on_the_images_device():
    images = torch.zeros(2, 3, 8, 12)
    flows = (torch.randn(2, 2, 8, 12, dtype=torch.float64), torch.randn(2, 2, 8, 12))
    first, second = check_flows(flows, images)
    assert first.dtype == second.dtype == torch.float32 and first.device == images.device
    assert torch.allclose(first, flows[0].float()) and torch.equal(second, flows[1])
    assert check_flows([flows[1], flows[1]], images)[0].shape == (2, 2, 8, 12)


@pytest.mark.parametrize(
    ("flows", "match"),
    [
        ((torch.zeros(2, 2, 8, 12),), "pair"),
        (torch.zeros(2, 2, 2, 8, 12), "pair"),
        ((torch.zeros(2, 2, 8, 12), None), r"flows\[1\].*NoneType"),
        ((torch.zeros(2, 3, 8, 12), torch.zeros(2, 2, 8, 12)), r"flows\[0\].*\(B, 2, H, W\)"),
        ((torch.zeros(2, 2, 8), torch.zeros(2, 2, 8, 12)), r"\(B, 2, H, W\)"),
        ((torch.zeros(1, 2, 8, 12), torch.zeros(2, 2, 8, 12)), r"expected \(2, 2, 8, 12\)"),
        ((torch.zeros(2, 2, 8, 12), torch.zeros(2, 2, 12, 8)), r"flows\[1\].*expected \(2, 2, 8, 12\)"),
        ((torch.zeros(2, 2, 8, 12, dtype=torch.int64), torch.zeros(2, 2, 8, 12)), "floating"),
        ((torch.zeros(2, 2, 8, 12), torch.full((2, 2, 8, 12), float("nan"))), "NaN"),
        ((torch.full((2, 2, 8, 12), float("inf")), torch.zeros(2, 2, 8, 12)), "infinite"),
    ],
)
def test_check_flows_rejects_bad_flows(flows, match):
    with pytest.raises(InputError, match=match):
        check_flows(flows, torch.zeros(2, 3, 8, 12))


# --- RAFT --------------------------------------------------------------------------------------


def test_raft_without_torchvision_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(BackendUnavailable, match="torchvision") as caught:
        RAFTFlow()
    assert "pip install torchvision" in str(caught.value) and "flow='dis'" in str(caught.value)


def import_broken_torchvision(name: str) -> None:
    """What importing a torchvision built for another torch does."""
    raise RuntimeError("operator torchvision::nms does not exist")


def test_raft_with_torchvision_for_another_torch_says_so(monkeypatch):
    monkeypatch.setattr(raft, "importlib", SimpleNamespace(import_module=import_broken_torchvision))
    with pytest.raises(BackendUnavailable, match="built for the installed torch") as caught:
        RAFTFlow()
    assert "torchvision::nms" in str(caught.value) and "flow='match'" in str(caught.value)


def test_raft_default_weights_missing_from_hub_cache_names_file_folder_and_url(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    for size, file in WEIGHT_FILES.items():
        with pytest.raises(CheckpointError) as caught:
            weights_path(size, None)
        message = str(caught.value)
        assert file in message and str(tmp_path / "hub" / "checkpoints") in message
        assert f"https://download.pytorch.org/models/{file}" in message


def test_raft_default_weights_are_found_in_hub_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / WEIGHT_FILES["small"]).write_bytes(b"")
    assert weights_path("small", None) == tmp_path / "checkpoints" / "raft_small_C_T_V2-01064c6d.pth"


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (36, 52, (38, 38, 46, 46)),
        (128, 200, (0, 0, 0, 0)),
        (129, 130, (3, 3, 3, 4)),
        (256, 448, (0, 0, 0, 0)),
    ],
)
def test_raft_padding_reaches_multiples_of_8_and_at_least_128(height, width, expected):
    left, right, top, bottom = padding(height, width)
    assert (left, right, top, bottom) == expected
    assert (height + top + bottom) % 8 == 0 and (width + left + right) % 8 == 0


def test_raft_rejects_unknown_size_and_bad_iters():
    with pytest.raises(ConfigError, match="small"):
        RAFTFlow(size="huge")
    with pytest.raises(ConfigError, match="iters"):
        RAFTFlow(iters=0)


@pytest.fixture
def optical_flow():
    """torchvision's optical_flow module; the test skips, with the reason, where it is unusable."""
    try:
        return import_optical_flow()
    except BackendUnavailable as err:
        pytest.skip(f"RAFT path needs a working torchvision: {err}")


@pytest.fixture
def raft_small_weights(optical_flow, tmp_path):
    """A randomly initialised raft_small state dict saved as .pth: (path, state dict)."""
    torch.manual_seed(0)
    state = optical_flow.raft_small(weights=None).state_dict()
    path = tmp_path / "raft_small_random.pth"
    torch.save(state, path)
    return path, state


def test_raft_missing_weights_file_is_named(optical_flow, tmp_path):
    with pytest.raises(CheckpointError, match=r"nowhere\.pth"):
        RAFTFlow(size="small", weights=tmp_path / "nowhere.pth")


def test_raft_returns_finite_flow_for_any_size(raft_small_weights):
    estimator = RAFTFlow(size="small", weights=raft_small_weights[0], iters=2)
    a, b = torch.rand(1, 3, 36, 52) * 2 - 1, torch.rand(1, 3, 36, 52) * 2 - 1
    flow = estimator(a, b)
    assert flow.shape == (1, 2, 36, 52) and flow.dtype == torch.float32 and torch.isfinite(flow).all()
    forward, backward = estimator.pair(a, b)
    assert torch.allclose(forward, flow, atol=1e-4) and torch.allclose(backward, estimator(b, a), atol=1e-4)
    assert estimator(a[:, :1], b[:, :1]).shape == (1, 2, 36, 52)
    with pytest.raises(InputError, match="2 channels"):
        estimator(a[:, :2], b[:, :2])


def test_raft_is_frozen_and_differentiable_in_the_images(raft_small_weights):
    estimator = RAFTFlow(size="small", weights=raft_small_weights[0], iters=1).train()
    assert not estimator.net.training and estimator.training
    assert not any(p.requires_grad for p in estimator.parameters())
    a = (torch.rand(1, 3, 24, 24) * 2 - 1).requires_grad_(True)
    estimator(a, torch.rand(1, 3, 24, 24) * 2 - 1).abs().mean().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    assert RAFTFlow.differentiable is True and RAFTFlow.name == "raft"


def test_raft_loads_safetensors_and_rejects_the_wrong_size(raft_small_weights, tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "raft_small.safetensors"
    safetensors_torch.save_file(raft_small_weights[1], str(path))
    loaded = RAFTFlow(size="small", weights=path)
    assert loaded.weights == path and loaded.iters == 5  # the paper's iteration count by default
    assert torch.equal(
        loaded.net.state_dict()["update_block.flow_head.conv2.weight"],
        raft_small_weights[1]["update_block.flow_head.conv2.weight"],
    )
    with pytest.raises(CheckpointError, match="raft_large"):
        RAFTFlow(size="large", weights=raft_small_weights[0])
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"corrupt\.pth"):
        RAFTFlow(size="small", weights=corrupt)


# --- registry ----------------------------------------------------------------------------------


def test_registry_builds_estimators_by_name():
    estimator = build_flow("dis", preset="fast")
    assert isinstance(estimator, DISFlow) and estimator.preset == "fast"
    assert isinstance(build_flow("oracle"), OracleFlow)
    assert build_flow(estimator) is estimator


def test_registry_rejects_unknown_names_and_options():
    with pytest.raises(ConfigError, match="nope"):
        build_flow("nope")
    with pytest.raises(ConfigError, match="dis"):
        build_flow("dis", threads=4)
    with pytest.raises(ConfigError, match="preset"):
        build_flow("dis", preset="slow")
