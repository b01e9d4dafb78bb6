"""Baselines: exact copies and blends, and flow-based ones beating them on a translating photo."""

import pytest
import torch
from corrwise.errors import InputError
from corrwise.train.baselines import (
    MINTERPOLATE_FILTER,
    MINTERPOLATE_GRAPH,
    MINTERPOLATE_MIN_SIDE,
    blend,
    copy_last,
    dis_extrapolate,
    dis_midpoint,
    minterpolate,
)
from corrwise.train.metrics import psnr
from skimage import data

# Margins (dB) by which motion-aware baselines must beat the motion-blind ones on a photo moving
# 3 px right and 1 px down per frame. Measured at 64x96: DIS extrapolation 37.7 dB vs 19.0 dB for
# copy_last; DIS midpoint 38.2 dB and minterpolate 29.2 dB vs 22.1 dB for the blend; minterpolate
# over a 5-frame run 26.2-29.2 dB vs 21.6-22.6 dB (the smallest gain, 4.6 dB, on the last pair).
MIN_GAIN_DB = 5.0
MIN_SEQUENCE_GAIN_DB = 3.0
LEVEL = 1 / 127.5  # one 8-bit level on the [-1, 1] scale
VELOCITY = (3, 1)  # (x, y) pixels per frame


def moving_photo(count: int, height: int = 64, width: int = 96, batch: int = 1) -> list[torch.Tensor]:
    """``count`` frames (batch, 3, H, W) in [-1, 1] on 8-bit levels of a window panning over a photo."""
    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 127.5 - 1  # (3, 512, 512)
    frames = []
    for i in range(count):
        top, left = 100 + VELOCITY[1] * i, 150 + VELOCITY[0] * i
        crops = [photo[:, top + 20 * b : top + 20 * b + height, left : left + width] for b in range(batch)]
        frames.append(torch.stack(crops))
    return frames


def test_copy_last_is_exact():
    frames = moving_photo(3, batch=2)
    out = copy_last(frames)
    assert out.shape == (2, 3, 64, 96) and torch.equal(out, frames[-1]) and out is not frames[-1]
    assert torch.equal(copy_last(frames[:1]), frames[0])


def test_blend_is_exact():
    f0, f1 = moving_photo(2, batch=2)
    assert torch.equal(blend(f0, f1), 0.5 * f0 + 0.5 * f1)
    assert torch.equal(blend(f0, f1, 0.25), 0.75 * f0 + 0.25 * f1)
    assert torch.equal(blend(f0, f1, 0.0), f0) and torch.equal(blend(f0, f1, 1.0), f1)
    per_image = blend(f0, f1, torch.tensor([0.0, 1.0]))
    assert torch.equal(per_image[0], f0[0]) and torch.equal(per_image[1], f1[1])


def test_dis_extrapolation_beats_copy_last():
    frames = moving_photo(4)
    out = dis_extrapolate(frames[:3])
    assert out.shape == frames[3].shape and out.min() >= -1 and out.max() <= 1
    gain = psnr(out, frames[3]).item() - psnr(copy_last(frames[:3]), frames[3]).item()
    assert gain > MIN_GAIN_DB


def test_dis_extrapolation_per_image_of_a_batch():
    frames = moving_photo(3, batch=2)
    batched = dis_extrapolate(frames)
    single = dis_extrapolate([f[1:] for f in frames])
    assert batched.shape == (2, 3, 64, 96)
    assert torch.allclose(batched[1:], single, atol=1e-5)


def test_dis_midpoint_beats_blend_and_meets_its_ends():
    f0, target, f1 = moving_photo(3)
    out = dis_midpoint(f0, f1)
    assert out.shape == target.shape and out.min() >= -1 and out.max() <= 1
    assert psnr(out, target).item() - psnr(blend(f0, f1), target).item() > MIN_GAIN_DB
    assert torch.allclose(dis_midpoint(f0, f1, 0.0), f0, atol=1e-5)  # t = 0: frame 0 unwarped
    assert torch.allclose(dis_midpoint(f0, f1, 1.0), f1, atol=1e-5)


def test_minterpolate_beats_blend():
    f0, target, f1 = moving_photo(3)
    (out,) = minterpolate([f0, f1])
    assert out.shape == target.shape
    assert torch.allclose(out, ((out + 1) * 127.5).round() / 127.5 - 1, atol=1e-6)  # 8-bit levels
    assert psnr(out, target).item() - psnr(blend(f0, f1), target).item() > MIN_GAIN_DB


def test_minterpolate_gives_every_midpoint_of_a_sequence_and_each_image_of_a_batch():
    frames = moving_photo(9, batch=2)
    evens, odds = frames[0::2], frames[1::2]  # 5 inputs at half the rate, 4 true midpoints
    outputs = minterpolate(evens)
    assert len(outputs) == 4 and all(o.shape == (2, 3, 64, 96) for o in outputs)
    for out, target, a, b in zip(outputs, odds, evens[:-1], evens[1:], strict=True):
        assert (psnr(out, target) - psnr(blend(a, b), target) > MIN_SEQUENCE_GAIN_DB).all()
    (single,) = minterpolate([evens[0][1:], evens[1][1:]])
    assert torch.equal(single, outputs[0][1:])  # batch items are independent sequences


def test_minterpolate_keeps_a_static_scene():
    frame = moving_photo(1)[0]
    (out,) = minterpolate([frame, frame])
    assert (out - frame).abs().max() <= 2 * LEVEL + 1e-6  # RGB -> YUV 4:4:4 -> RGB rounding only


def test_minterpolate_filter_string_is_the_documented_recipe():
    assert MINTERPOLATE_FILTER == "minterpolate=fps=50:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"
    assert MINTERPOLATE_GRAPH.split(",") == ["format=yuv444p", MINTERPOLATE_FILTER, "format=rgb24"]
    assert MINTERPOLATE_GRAPH in minterpolate.__doc__.replace("\n    ", " ").replace("``", "")


def test_bad_inputs():
    f0, f1 = moving_photo(2)
    with pytest.raises(InputError, match="at least 1 frames"):
        copy_last([])
    with pytest.raises(InputError, match="at least 2 frames"):
        dis_extrapolate([f0])
    with pytest.raises(InputError, match="sequence"):
        copy_last(f0)
    with pytest.raises(InputError, match="shapes differ"):
        blend(f0, f1[:, :, :32])
    with pytest.raises(InputError, match="RGB"):
        blend(f0[:, :1], f1[:, :1])
    with pytest.raises(InputError, match=r"t must be"):
        blend(f0, f1, 1.5)
    small = torch.zeros(1, 3, MINTERPOLATE_MIN_SIDE - 1, 64)
    with pytest.raises(InputError, match=f"at least {MINTERPOLATE_MIN_SIDE}x{MINTERPOLATE_MIN_SIDE}"):
        minterpolate([small, small])
