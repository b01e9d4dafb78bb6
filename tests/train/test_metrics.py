"""Evaluation metrics: PSNR of known noise, SSIM against scikit-image, MS-SSIM scales, LPIPS mechanics."""

import math

import pytest
import torch
import torch.nn.functional as F
from corrwise.errors import CheckpointError, ConfigError, InputError
from corrwise.train.losses.ssim import MS_SSIM_WEIGHTS
from corrwise.train.losses.ssim import ms_ssim as mean_ms_ssim
from corrwise.train.metrics import (
    ALEXNET_FILE,
    ALEXNET_URL,
    LPIPS,
    LPIPS_FILE,
    LPIPS_MIN_SIZE,
    load_lpips,
    ms_ssim,
    ms_ssim_scales,
    ms_ssim_weights,
    psnr,
    ssim,
    ssim_and_ms_ssim,
)
from skimage import data
from skimage.metrics import structural_similarity

FLOAT32_ATOL = 1e-4  # float32 window sums, as in test_base_losses
EXACT_ATOL = 1e-6  # float32 results that should be exact up to a few roundings
NOISE_PSNR_ATOL_DB = 0.05  # sampling error of the MSE of 3 x 256 x 256 noise samples is ~0.015 dB
# LPIPS of the pair in test_lpips_matches_the_reference_package, computed with the `lpips` package
# (0.1.4, LPIPS(net="alex", version="0.1")) loaded with the same random weights.
LPIPS_REFERENCE = (0.34906879, 1.48288143)
LPIPS_REFERENCE_RTOL = 1e-4


def astronaut(height: int, width: int) -> torch.Tensor:
    """skimage's astronaut, area-resized to (1, 3, height, width) float32 in [-1, 1]."""
    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].double() / 127.5 - 1
    return F.interpolate(image, size=(height, width), mode="area").float()


def moved(image: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The image shifted by (1, 2) pixels with a little noise."""
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
    return (torch.roll(image, shifts=(1, 2), dims=(2, 3)) + 0.05 * noise).clamp(-1, 1)


# ---------------------------------------------------------------- PSNR


def test_psnr_of_gaussian_noise_of_known_sigma():
    generator = torch.Generator().manual_seed(0)
    sigmas = (0.01, 0.05)  # on the [0, 1] scale; mid-grey +- 5 sigma stays inside the range
    clean = torch.zeros(2, 3, 256, 256, dtype=torch.float64)  # mid-grey: 0.5 on the [0, 1] scale
    noise = torch.randn(clean.shape, generator=generator, dtype=torch.float64)
    noisy = clean + 2 * torch.tensor(sigmas, dtype=torch.float64).view(2, 1, 1, 1) * noise  # [-1, 1] scale
    values = psnr(noisy, clean)
    assert values.shape == (2,) and values.dtype == torch.float64
    for value, sigma in zip(values.tolist(), sigmas, strict=True):
        assert value == pytest.approx(-20 * math.log10(sigma), abs=NOISE_PSNR_ATOL_DB)  # 40.00, 26.02 dB


def test_psnr_exact_values_and_identical_images():
    black, white = torch.full((1, 3, 8, 8), -1.0), torch.ones(1, 3, 8, 8)
    assert psnr(black, white).item() == pytest.approx(0.0, abs=1e-12)  # MSE 1 on [0, 1]
    grey = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
    lighter = torch.full((1, 3, 8, 8), 0.2, dtype=torch.float64)  # 0.1 apart on [0, 1]
    assert psnr(grey, lighter).item() == pytest.approx(20.0, abs=1e-9)
    x = astronaut(32, 48)
    assert psnr(x, x.clone()).item() == math.inf
    assert psnr(torch.cat([x, x]), torch.cat([x, moved(x)])).tolist()[0] == math.inf


def test_psnr_bad_inputs():
    with pytest.raises(InputError, match="shapes differ"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        psnr(torch.full((1, 3, 8, 8), 2.0), torch.zeros(1, 3, 8, 8))
    with pytest.raises(InputError, match="empty batch"):
        psnr(torch.zeros(0, 3, 8, 8), torch.zeros(0, 3, 8, 8))


# ---------------------------------------------------------------- SSIM and MS-SSIM


def test_ssim_per_image_matches_scikit_image():
    x = torch.cat([astronaut(64, 96), moved(astronaut(64, 96), seed=1)])
    y = torch.cat([moved(astronaut(64, 96)), astronaut(64, 96).flip(-1)])
    values = ssim(x, y)
    assert values.shape == (2,)
    for i in range(2):
        reference = structural_similarity(
            x[i].permute(1, 2, 0).double().numpy(),
            y[i].permute(1, 2, 0).double().numpy(),
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=2,
        )
        assert values[i].item() == pytest.approx(reference, abs=FLOAT32_ATOL)
    assert values[0].item() != pytest.approx(values[1].item(), abs=0.01)  # per image, not the batch mean


def test_identical_images_score_one():
    x = astronaut(64, 96)
    assert ssim(x, x.clone()).item() == pytest.approx(1.0, abs=EXACT_ATOL)
    assert ms_ssim(x, x.clone()).item() == pytest.approx(1.0, abs=EXACT_ATOL)


def test_ms_ssim_uses_five_scales_on_large_images():
    x = torch.cat([astronaut(176, 192), moved(astronaut(176, 192), seed=2)])
    y = torch.cat([moved(astronaut(176, 192)), astronaut(176, 192)])
    assert ms_ssim_weights(176, 192) == MS_SSIM_WEIGHTS
    values = ms_ssim(x, y)
    for i in range(2):
        assert values[i].item() == pytest.approx(
            mean_ms_ssim(x[i : i + 1], y[i : i + 1]).item(), abs=EXACT_ATOL
        )


def test_ms_ssim_uses_fewer_renormalised_scales_on_small_images():
    assert [ms_ssim_scales(n, 200) for n in (10, 11, 21, 40, 41, 81, 160, 161)] == [0, 1, 2, 2, 3, 4, 4, 5]
    weights = ms_ssim_weights(64, 96)  # 41 <= 64 < 81: three scales
    assert len(weights) == 3 and sum(weights) == pytest.approx(1.0)
    assert weights[1] / weights[0] == pytest.approx(MS_SSIM_WEIGHTS[1] / MS_SSIM_WEIGHTS[0])
    x, y = astronaut(64, 96), moved(astronaut(64, 96))
    assert ms_ssim(x, y).item() == pytest.approx(mean_ms_ssim(x, y, weights).item(), abs=EXACT_ATOL)
    assert ms_ssim_weights(16, 16) == (1.0,)  # one scale: plain SSIM
    small_x, small_y = astronaut(16, 16), moved(astronaut(16, 16))
    assert ms_ssim(small_x, small_y).item() == pytest.approx(ssim(small_x, small_y).item(), abs=EXACT_ATOL)
    with pytest.raises(InputError, match="at least 11x11"):
        ms_ssim_weights(10, 64)


def test_ssim_and_ms_ssim_in_one_pass():
    x = torch.cat([astronaut(64, 96), moved(astronaut(64, 96), seed=4)])
    y = torch.cat([moved(astronaut(64, 96)), astronaut(64, 96)])
    both = ssim_and_ms_ssim(x, y)
    assert torch.equal(both[0], ssim(x, y)) and torch.equal(both[1], ms_ssim(x, y))
    assert ssim_and_ms_ssim(x.double(), y.double())[1].dtype == torch.float64
    with pytest.raises(InputError, match="4 scales need H and W >= 81"):
        ms_ssim(x, y, weights=(0.25, 0.25, 0.25, 0.25))
    with pytest.raises(ConfigError, match="weights"):
        ms_ssim(x, y, weights=(0.5, -0.5))
    with pytest.raises(InputError, match="shapes differ"):
        ssim(x, y[:, :, :32])


# ---------------------------------------------------------------- LPIPS


def random_alexnet_state_dict() -> dict[str, torch.Tensor]:
    """Random tensors keyed and shaped as torchvision's alexnet (He init), plus one classifier key."""
    generator = torch.Generator().manual_seed(0)
    layers = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
    state = {}
    for index, (out, inp, k) in layers.items():
        std = math.sqrt(2 / (k * k * inp))
        state[f"features.{index}.weight"] = torch.randn(out, inp, k, k, generator=generator) * std
        state[f"features.{index}.bias"] = torch.randn(out, generator=generator) * 0.01
    state["classifier.6.bias"] = torch.zeros(1000)  # ignored, like the rest of the classifier
    return state


def random_lpips_heads() -> dict[str, torch.Tensor]:
    """Non-negative random 1x1 heads keyed as LPIPS's alex.pth."""
    generator = torch.Generator().manual_seed(1)
    channels = (64, 192, 384, 256, 256)
    return {
        f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=generator) for k, c in enumerate(channels)
    }


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lpips")
    torch.save(random_alexnet_state_dict(), folder / ALEXNET_FILE)
    torch.save(random_lpips_heads(), folder / "alex.pth")
    return folder / ALEXNET_FILE, folder / "alex.pth"


@pytest.fixture(scope="module")
def lpips_metric(lpips_files):
    return LPIPS(*lpips_files)


def test_lpips_zero_for_identical_positive_otherwise_and_symmetric(lpips_metric):
    x = torch.cat([astronaut(64, 96), moved(astronaut(64, 96), seed=3)])
    y = torch.cat([moved(astronaut(64, 96)), astronaut(64, 96).flip(-1)])
    assert lpips_metric(x, x.clone()).tolist() == [0.0, 0.0]
    forward, backward = lpips_metric(x, y), lpips_metric(y, x)
    assert forward.shape == (2,) and (forward > 0).all()
    assert torch.allclose(forward, backward, rtol=1e-6, atol=0)
    assert lpips_metric(x[1:], y[1:]).item() == pytest.approx(forward[1].item(), rel=1e-5)  # per image
    noisier = (moved(astronaut(64, 96)) + 0.3 * torch.randn(1, 3, 64, 96)).clamp(-1, 1)
    assert lpips_metric(x[:1], noisier).item() > forward[0].item()


def test_lpips_matches_the_reference_package(lpips_metric):
    x = torch.cat([astronaut(96, 128), moved(astronaut(96, 128))])
    y = torch.cat([moved(astronaut(96, 128)), astronaut(96, 128).flip(-1)])
    assert lpips_metric(x, y).tolist() == pytest.approx(LPIPS_REFERENCE, rel=LPIPS_REFERENCE_RTOL)


def test_lpips_is_frozen_and_stays_in_eval_mode(lpips_metric):
    assert not any(p.requires_grad for p in lpips_metric.parameters())
    lpips_metric.train()
    assert not lpips_metric.training and not lpips_metric.features.training


def test_lpips_bad_inputs(lpips_metric):
    small = LPIPS_MIN_SIZE - 1
    with pytest.raises(InputError, match=f"H, W >= {LPIPS_MIN_SIZE}"):
        lpips_metric(torch.zeros(1, 3, small, 64), torch.zeros(1, 3, small, 64))
    with pytest.raises(InputError, match="RGB"):
        lpips_metric(torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64))
    assert lpips_metric(torch.zeros(1, 3, 31, 31), torch.ones(1, 3, 31, 31)).item() > 0  # smallest size


def test_lpips_from_the_hub_cache(lpips_files, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / ALEXNET_FILE).symlink_to(lpips_files[0])
    metric, reason = load_lpips()
    assert metric is None and LPIPS_FILE in reason and ALEXNET_FILE not in reason
    (tmp_path / "checkpoints" / LPIPS_FILE).symlink_to(lpips_files[1])
    metric, reason = load_lpips()
    assert isinstance(metric, LPIPS) and reason is None
    x = astronaut(64, 64)
    assert metric(x, moved(x)).item() == pytest.approx(LPIPS(*lpips_files)(x, moved(x)).item(), rel=1e-6)


def test_lpips_absent_from_the_hub_cache_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    metric, reason = load_lpips()
    assert metric is None
    assert ALEXNET_FILE in reason and LPIPS_FILE in reason and ALEXNET_URL in reason
    assert str(tmp_path / "checkpoints") in reason
    with pytest.raises(CheckpointError, match=ALEXNET_FILE):
        LPIPS()


def test_lpips_explicit_missing_or_wrong_files(lpips_files, tmp_path):
    with pytest.raises(CheckpointError, match=r"nowhere\.pth does not exist"):
        load_lpips(tmp_path / "nowhere.pth", lpips_files[1])
    with pytest.raises(CheckpointError, match=r"no_heads\.pth does not exist"):
        load_lpips(lpips_files[0], tmp_path / "no_heads.pth")
    with pytest.raises(CheckpointError, match=r"nowhere\.pth does not exist"):
        load_lpips(tmp_path / "nowhere.pth")  # even when the other file is not in the hub cache either
    heads = random_lpips_heads()
    del heads["lin4.model.1.weight"]
    heads["lin0.model.1.weight"] = torch.zeros(1, 3, 1, 1)
    torch.save(heads, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError) as info:
        LPIPS(lpips_files[0], tmp_path / "partial.pth")
    message = str(info.value)
    assert "missing keys: lin4.model.1.weight" in message and "lin0.model.1.weight (1, 3, 1, 1)" in message
    (tmp_path / "garbage.pth").write_bytes(b"not weights")
    with pytest.raises(CheckpointError, match="cannot read AlexNet weights"):
        LPIPS(tmp_path / "garbage.pth", lpips_files[1])


def test_lpips_loads_safetensors(lpips_files, tmp_path):
    from safetensors.torch import save_file

    save_file(random_alexnet_state_dict(), str(tmp_path / "alexnet.safetensors"))
    x = astronaut(48, 64)
    assert LPIPS(tmp_path / "alexnet.safetensors", lpips_files[1])(x, moved(x)).item() == pytest.approx(
        LPIPS(*lpips_files)(x, moved(x)).item(), rel=1e-6
    )
