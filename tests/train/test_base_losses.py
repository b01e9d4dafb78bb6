"""Base losses: values on real images, independent references, gradients, errors, registry, VGG loading."""

import math
import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from corrwise.errors import CheckpointError, ConfigError, InputError
from corrwise.train.losses.base import (
    BASE_LOSSES,
    FunctionLoss,
    MeanLoss,
    build_base_loss,
    list_base_losses,
)
from corrwise.train.losses.census import CensusLoss
from corrwise.train.losses.pixel import CharbonnierLoss, L1Loss, MSELoss
from corrwise.train.losses.ssim import MSSSIMLoss, SSIMLoss, ms_ssim, ms_ssim_min_size, ssim
from corrwise.train.losses.vgg import VGG19_FILE, VGG19_URL, VGGLoss
from scipy import ndimage
from skimage import data
from skimage.metrics import structural_similarity

# Numeric agreement with independent references. float32 sums over 11x11 windows
# of values in [-1, 1] round at ~1e-6 per statistic; 1e-4 is the target for SSIM
# and leaves room for that. float64 references must agree to rounding.
FLOAT32_ATOL = 1e-4
FLOAT64_ATOL = 1e-9
EXACT_ATOL = 1e-6  # float32 results that should be exact up to a few roundings

CHEAP = ["l1", "mse", "charbonnier", "ssim", "msssim", "census"]  # every registered loss but vgg
MSSSIM_SIZE = (176, 192)  # >= ms_ssim_min_size(5) = 161


def astronaut(height: int, width: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """skimage's astronaut, area-resized to (1, 3, height, width) in [-1, 1]."""
    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].to(torch.float64) / 127.5 - 1
    return F.interpolate(image, size=(height, width), mode="area").to(dtype)


def moved(image: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The image shifted by (1, 2) pixels with a little noise: a plausible next frame."""
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed), dtype=image.dtype)
    return (torch.roll(image, shifts=(1, 2), dims=(2, 3)) + 0.05 * noise).clamp(-1, 1)


def pair_for(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = astronaut(*(MSSSIM_SIZE if name == "msssim" else (64, 96)))
    return x, moved(x)


# ---------------------------------------------------------------- generic properties


@pytest.mark.parametrize("name", CHEAP)
def test_identical_inputs_give_the_minimum(name):
    x, _ = pair_for(name)
    loss = build_base_loss(name)(x, x.clone())
    assert loss.dim() == 0
    expected = 1e-3 if name == "charbonnier" else 0.0  # Charbonnier's floor is eps
    assert loss.item() == pytest.approx(expected, abs=EXACT_ATOL)


@pytest.mark.parametrize("name", CHEAP)
def test_different_inputs_give_a_positive_symmetric_loss(name):
    x, y = pair_for(name)
    loss = build_base_loss(name)
    forward, backward = loss(x, y).item(), loss(y, x).item()
    assert forward > 1e-3
    assert forward == pytest.approx(backward, rel=1e-5)


@pytest.mark.parametrize("name", CHEAP)
def test_gradient_is_finite_and_reaches_both_inputs(name):
    x, y = pair_for(name)
    x, y = x.requires_grad_(), y.requires_grad_()
    build_base_loss(name)(x, y).backward()
    for grad in (x.grad, y.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name", CHEAP)
@pytest.mark.parametrize(
    ("x", "y", "problem"),
    [
        (torch.zeros(1, 3, 64, 96), torch.zeros(1, 3, 64, 80), "shapes differ"),
        (torch.zeros(3, 64, 96), torch.zeros(3, 64, 96), "(B, C, H, W)"),
        (
            torch.zeros(1, 3, 64, 96, dtype=torch.uint8),
            torch.ones(1, 3, 64, 96, dtype=torch.uint8),
            "floating",
        ),
        (torch.zeros(1, 3, 64, 96), torch.full((1, 3, 64, 96), 255.0), "[-1, 1]"),
    ],
    ids=["shape-mismatch", "3-d", "integer", "out-of-range"],
)
def test_bad_inputs_raise_input_error(name, x, y, problem):
    with pytest.raises(InputError, match=re.escape(problem)):
        build_base_loss(name)(x, y)


def test_registry_names_and_classes():
    assert list_base_losses() == sorted(BASE_LOSSES) == sorted([*CHEAP, "vgg"])
    assert BASE_LOSSES["l1"] is L1Loss and BASE_LOSSES["vgg"] is VGGLoss


# ---------------------------------------------------------------- pixel losses


def test_l1_and_mse_match_torch_functional():
    x, y = pair_for("l1")
    assert L1Loss()(x, y).item() == pytest.approx(F.l1_loss(x, y).item(), abs=EXACT_ATOL)
    assert MSELoss()(x, y).item() == pytest.approx(F.mse_loss(x, y).item(), abs=EXACT_ATOL)


def test_charbonnier_matches_its_formula_and_approaches_l1():
    x, y = (t.to(torch.float64) for t in pair_for("charbonnier"))
    for eps in (1e-3, 0.1):
        expected = np.mean(np.sqrt((x.numpy() - y.numpy()) ** 2 + eps**2))
        assert CharbonnierLoss(eps)(x, y).item() == pytest.approx(expected, abs=FLOAT64_ATOL)
    assert CharbonnierLoss(1e-6)(x, y).item() == pytest.approx(F.l1_loss(x, y).item(), abs=1e-5)


def test_charbonnier_rejects_a_non_positive_eps():
    with pytest.raises(ConfigError, match="eps must be > 0"):
        CharbonnierLoss(0.0)


# ---------------------------------------------------------------- SSIM and MS-SSIM


@pytest.mark.parametrize(
    ("shape", "dtype"), [((1, 3, 64, 96), torch.float32), ((2, 3, 37, 53), torch.float64)]
)
def test_ssim_matches_skimage(shape, dtype):
    x = torch.cat([astronaut(*shape[2:], dtype), astronaut(*shape[2:], dtype).flip(3)])[: shape[0]]
    y = moved(x, seed=1)
    ours = ssim(x, y).item()
    reference = np.mean(
        [
            structural_similarity(
                a.permute(1, 2, 0).numpy().astype(np.float64),
                b.permute(1, 2, 0).numpy().astype(np.float64),
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=2,
                channel_axis=2,
            )
            for a, b in zip(x, y, strict=True)
        ]
    )
    assert ours == pytest.approx(reference, abs=FLOAT32_ATOL if dtype == torch.float32 else FLOAT64_ATOL)


def test_ssim_of_a_gray_image_matches_skimage():
    x = astronaut(48, 48)[:, :1]
    y = moved(x)
    reference = structural_similarity(
        x[0, 0].double().numpy(),
        y[0, 0].double().numpy(),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=2,
    )
    assert ssim(x, y).item() == pytest.approx(reference, abs=FLOAT32_ATOL)


def valid_gaussian(image: np.ndarray) -> np.ndarray:
    """11-tap Gaussian (sigma 1.5) of an (H, W) array, only where the window fits: (H - 10, W - 10)."""
    return ndimage.gaussian_filter(image, 1.5, truncate=5 / 1.5)[5:-5, 5:-5]


def reference_ms_ssim(x: np.ndarray, y: np.ndarray, weights: tuple[float, ...]) -> float:
    """Wang 2003 on one (H, W) channel pair in float64, written with scipy, not torch."""
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    values = []
    for level in range(len(weights)):
        mu_x, mu_y, sxx, syy, sxy = (valid_gaussian(a) for a in (x, y, x * x, y * y, x * y))
        var_x, var_y, cov = sxx - mu_x**2, syy - mu_y**2, sxy - mu_x * mu_y
        cs = (2 * cov + c2) / (var_x + var_y + c2)
        lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
        values.append(max(np.mean(cs if level < len(weights) - 1 else lum * cs), 0.0))
        # MATLAB: imfilter(ones(2)/4, 'symmetric') then img(1:2:end, 1:2:end)
        x, y = (np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2)), mode="symmetric") for a in (x, y))
        x, y = ((a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4 for a in (x, y))
    return float(np.prod([v**w for v, w in zip(values, weights, strict=True)]))


def test_ms_ssim_matches_an_independent_reference():
    x = astronaut(171, 181, torch.float64)  # odd sizes exercise the rounding-up of each halving
    y = moved(x, seed=2)
    weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    reference = np.mean([reference_ms_ssim(x[0, c].numpy(), y[0, c].numpy(), weights) for c in range(3)])
    assert ms_ssim(x, y).item() == pytest.approx(reference, abs=FLOAT64_ATOL)
    assert ms_ssim(x.float(), y.float()).item() == pytest.approx(reference, abs=FLOAT32_ATOL)


def test_ms_ssim_with_one_weight_is_ssim_and_drops_with_degradation():
    x = astronaut(*MSSSIM_SIZE)
    y = moved(x)
    assert ms_ssim(x, y, weights=(1.0,)).item() == pytest.approx(ssim(x, y).item(), abs=EXACT_ATOL)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    values = [ms_ssim(x, (x + level * noise).clamp(-1, 1)).item() for level in (0.02, 0.1, 0.3)]
    assert 1 > values[0] > values[1] > values[2] > 0


def test_ms_ssim_names_the_minimum_size():
    assert ms_ssim_min_size(5) == 161
    x = astronaut(160, 200)
    with pytest.raises(InputError, match=r"H and W >= 161, got 160x200"):
        ms_ssim(x, x)
    with pytest.raises(InputError, match=r"H and W >= 161"):
        MSSSIMLoss()(x, x)
    assert ms_ssim(x, x, weights=(0.5, 0.5)).item() == pytest.approx(1.0, abs=EXACT_ATOL)


def test_ssim_errors_for_small_images_and_bad_settings():
    with pytest.raises(InputError, match="at least 11x11"):
        ssim(torch.zeros(1, 3, 10, 40), torch.zeros(1, 3, 10, 40))
    with pytest.raises(ConfigError, match="odd int"):
        SSIMLoss(window=4)
    with pytest.raises(ConfigError, match="sigma"):
        SSIMLoss(sigma=0)
    with pytest.raises(ConfigError, match="weights"):
        MSSSIMLoss(weights=())
    with pytest.raises(ConfigError, match="weights"):
        MSSSIMLoss(weights=(0.5, -0.5))


# ---------------------------------------------------------------- census


def gray255(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W) luma in [0, 255]."""
    gray = image[0] if image.shape[0] == 1 else 0.2989 * image[0] + 0.5870 * image[1] + 0.1140 * image[2]
    return (gray + 1) * 127.5


def reference_census(x: np.ndarray, y: np.ndarray, patch: int) -> float:
    """The ternary census loss with plain loops over pixels and neighbours; x, y: (C, H, W) in [-1, 1]."""
    gx, gy, r = gray255(x), gray255(y), patch // 2
    total, count = 0.0, 0
    for i in range(r, gx.shape[0] - r):
        for j in range(r, gx.shape[1] - r):
            for di in range(-r, r + 1):
                for dj in range(-r, r + 1):
                    tx, ty = gx[i + di, j + dj] - gx[i, j], gy[i + di, j + dj] - gy[i, j]
                    d = tx / math.sqrt(0.81 + tx**2) - ty / math.sqrt(0.81 + ty**2)
                    total += d**2 / (0.1 + d**2)
            count += 1
    return total / count


@pytest.mark.parametrize(("patch", "size"), [(3, (9, 11)), (7, (12, 14))])
def test_census_matches_a_loop_reference(patch, size):
    x = astronaut(*size, torch.float64)
    y = moved(x, seed=4)
    reference = reference_census(x[0].numpy(), y[0].numpy(), patch)
    assert CensusLoss(patch)(x, y).item() == pytest.approx(reference, abs=FLOAT64_ATOL)


def test_census_by_hand_on_one_3x3_neighbourhood():
    """Flat gray vs a white centre on black: 8 neighbours at t = -255 against t = 0."""
    x = torch.zeros(1, 1, 3, 3)
    y = -torch.ones(1, 1, 3, 3)
    y[0, 0, 1, 1] = 1
    soft = 255 / math.sqrt(0.81 + 255**2)
    expected = 8 * soft**2 / (0.1 + soft**2)
    assert CensusLoss(3)(x, y).item() == pytest.approx(expected, abs=EXACT_ATOL)


def test_census_ignores_a_brightness_offset():
    x = astronaut(32, 32) * 0.8
    assert CensusLoss()(x, x + 0.1).item() == pytest.approx(0.0, abs=EXACT_ATOL)
    assert L1Loss()(x, x + 0.1).item() == pytest.approx(0.1, abs=EXACT_ATOL)


def test_census_errors():
    with pytest.raises(ConfigError, match="odd int >= 3"):
        CensusLoss(4)
    with pytest.raises(InputError, match="C=2"):
        CensusLoss()(torch.zeros(1, 2, 16, 16), torch.zeros(1, 2, 16, 16))
    with pytest.raises(InputError, match="at least 7x7"):
        CensusLoss()(torch.zeros(1, 3, 6, 16), torch.zeros(1, 3, 6, 16))


# ---------------------------------------------------------------- registry and MeanLoss


def test_build_by_name_with_options():
    assert type(build_base_loss("l1")) is L1Loss
    assert type(build_base_loss(" SSIM ")) is SSIMLoss
    assert build_base_loss("charbonnier", eps=0.1).eps == 0.1
    assert build_base_loss(["census"], patch=3).patch == 3


def test_build_several_gives_their_mean():
    x, y = pair_for("l1")
    for spec in ("l1+mse", ["l1", "mse"], ("l1", MSELoss()), ["l1", F.mse_loss]):
        loss = build_base_loss(spec)
        assert isinstance(loss, MeanLoss) and len(loss.losses) == 2
        expected = (F.l1_loss(x, y) + F.mse_loss(x, y)).item() / 2
        assert loss(x, y).item() == pytest.approx(expected, abs=EXACT_ATOL)
    assert isinstance(build_base_loss(["l1", F.mse_loss]).losses[1], FunctionLoss)


def test_modules_and_callables_are_returned_as_is():
    module = CensusLoss(5)
    assert build_base_loss(module) is module
    assert build_base_loss(F.l1_loss) is F.l1_loss
    assert build_base_loss([module]) is module


def test_build_errors_are_config_errors_that_help():
    with pytest.raises(ConfigError, match=r"unknown base loss 'lpips'; choose from census, charbonnier, l1"):
        build_base_loss("lpips")
    with pytest.raises(ConfigError, match="unknown base loss 'l2'"):
        build_base_loss("l1+l2")
    with pytest.raises(ConfigError, match="build the modules yourself"):
        build_base_loss("l1+vgg", weights="vgg.pth")
    with pytest.raises(ConfigError, match="build the modules yourself"):
        build_base_loss(["l1", "census"], patch=3)
    with pytest.raises(ConfigError, match="has no option patch; it accepts eps"):
        build_base_loss("charbonnier", patch=3)
    with pytest.raises(ConfigError, match="given by name"):
        build_base_loss(L1Loss(), eps=0.1)
    with pytest.raises(ConfigError, match="empty name"):
        build_base_loss("l1+")
    with pytest.raises(ConfigError, match="empty list"):
        build_base_loss([])
    with pytest.raises(ConfigError, match="got a int"):
        build_base_loss(3)
    with pytest.raises(ConfigError, match="non-empty"):
        MeanLoss([])


# ---------------------------------------------------------------- VGG


def random_vgg19_state_dict() -> dict[str, torch.Tensor]:
    """Random tensors keyed and shaped as torchvision's vgg19: features to conv5_4, one classifier key."""
    generator = torch.Generator().manual_seed(0)
    config = [64, 64, "M", 128, 128, "M", *[256] * 4, "M", *[512] * 4, "M", *[512] * 4]
    state, index, channels = {}, 0, 3
    for item in config:
        if item == "M":
            index += 1
            continue
        std = math.sqrt(2 / (9 * channels))  # He init keeps activations of order 1 through 16 layers
        state[f"features.{index}.weight"] = torch.randn(item, channels, 3, 3, generator=generator) * std
        state[f"features.{index}.bias"] = torch.zeros(item)
        index, channels = index + 2, item
    state["classifier.6.bias"] = torch.zeros(1000)  # ignored, like the rest of the classifier
    return state


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / VGG19_FILE
    torch.save(random_vgg19_state_dict(), path)
    return path


@pytest.fixture(scope="module")
def vgg_loss(vgg_file):
    return VGGLoss(weights=vgg_file)


def test_random_state_dict_has_torchvision_keys():
    state = random_vgg19_state_dict()
    assert "features.34.weight" in state and "features.28.bias" in state and "features.4.weight" not in state
    assert state["features.28.weight"].shape == (512, 512, 3, 3)


def test_vgg_loss_is_zero_for_identical_inputs_and_reaches_x(vgg_loss, vgg_file):
    x = astronaut(32, 32)
    y = moved(x).requires_grad_()
    assert vgg_loss(x, x.clone()).item() == 0.0
    x = x.requires_grad_()
    loss = vgg_loss(x, y)
    assert torch.isfinite(loss) and loss.item() > 0
    assert loss.item() == pytest.approx(vgg_loss(y.detach(), x.detach()).item(), rel=1e-5)
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0  # corr-wise's second term needs it
    x.grad, y.grad = None, None
    detached = VGGLoss(weights=vgg_file, detach_y=True)
    detached(x, y).backward()
    assert y.grad is None  # pix2pixHD's choice: the target's features carry no gradient


def test_vgg_loss_is_frozen_and_stays_in_eval_mode(vgg_loss):
    assert not any(p.requires_grad for p in vgg_loss.parameters())
    vgg_loss.train()
    assert vgg_loss.training and not vgg_loss.features.training
    vgg_loss.eval()


def test_vgg_options_normalisation_and_gradient_to_y(vgg_file):
    x, y = astronaut(32, 48), moved(astronaut(32, 48)).requires_grad_()
    plain = VGGLoss(weights=vgg_file, imagenet_norm=False, detach_y=False)
    normed = VGGLoss(weights=vgg_file)
    loss = plain(x, y)
    loss.backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    assert loss.item() != pytest.approx(normed(x, y).item(), rel=1e-3)


def test_vgg_follows_the_input_dtype(vgg_file):
    loss = VGGLoss(weights=vgg_file)
    x = astronaut(16, 16, torch.float64)
    value = loss(x, moved(x))
    assert value.dtype == torch.float64 and loss.features[0].weight.dtype == torch.float64


def test_vgg_loads_safetensors(vgg_file, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "vgg19.safetensors"
    save_file(random_vgg19_state_dict(), str(path))
    x = astronaut(32, 32)
    assert VGGLoss(weights=path)(x, moved(x)).item() == pytest.approx(
        VGGLoss(weights=vgg_file)(x, moved(x)).item(), rel=1e-6
    )


def test_vgg_from_the_hub_cache(vgg_file, tmp_path, monkeypatch):
    (tmp_path / "checkpoints").mkdir()
    os.symlink(vgg_file, tmp_path / "checkpoints" / VGG19_FILE)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    loss = build_base_loss("vgg")
    x = astronaut(32, 32)
    assert isinstance(loss, VGGLoss) and loss(x, moved(x)).item() > 0


def test_vgg_missing_from_the_hub_cache_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(CheckpointError) as info:
        VGGLoss()
    message = str(info.value)
    assert VGG19_FILE in message and str(tmp_path / "checkpoints") in message and VGG19_URL in message


def test_vgg_missing_explicit_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nowhere\.pth does not exist"):
        VGGLoss(weights=tmp_path / "nowhere.pth")


def test_vgg_file_with_missing_or_misshapen_keys(tmp_path):
    state = random_vgg19_state_dict()
    del state["features.10.weight"], state["features.28.bias"]
    state["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        VGGLoss(weights=path)
    message = str(info.value)
    assert "missing keys: features.10.weight, features.28.bias" in message
    assert "features.0.weight (64, 1, 3, 3) (expected (64, 3, 3, 3))" in message


def test_vgg_unreadable_file(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read VGG19 weights"):
        VGGLoss(weights=path)
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="expected a state dict"):
        VGGLoss(weights=tmp_path / "list.pth")


def test_vgg_bad_inputs(vgg_loss):
    with pytest.raises(InputError, match="RGB"):
        vgg_loss(torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32))
    with pytest.raises(InputError, match="H, W >= 16"):
        vgg_loss(torch.zeros(1, 3, 8, 32), torch.zeros(1, 3, 8, 32))
    with pytest.raises(InputError, match="shapes differ"):
        vgg_loss(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 16))
    with pytest.raises(InputError, match="floating"):
        vgg_loss(torch.zeros(1, 3, 32, 32, dtype=torch.int64), torch.zeros(1, 3, 32, 32, dtype=torch.int64))
