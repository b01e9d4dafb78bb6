"""The built-in synthetic data in both sample formats, and the constant-velocity clip renderer."""

import numpy as np
import pytest
import torch
from corrwise.errors import ConfigError
from corrwise.train.data import SyntheticInterpolation, SyntheticPrediction
from corrwise.train.synthetic import SyntheticConfig, load_photos, render_clip

SMALL = SyntheticConfig(height=32, width=48, max_motion=6, camera_motion=4, seed=1)


@pytest.fixture(scope="module")
def photos():
    return load_photos(32 + 16, 48 + 16)


def test_render_clip_shapes_range_and_purity(photos):
    clip = render_clip(photos, SMALL, 3, frames=5)
    assert clip["frames"].shape == (5, 32, 48, 3) and clip["frames"].dtype == np.float32
    assert clip["frames"].min() >= 0 and clip["frames"].max() <= 1
    assert clip["flow"].shape == (2, 32, 48)
    assert np.all(clip["flow"] == np.round(clip["flow"]))  # whole pixels per frame
    assert np.abs(clip["flow"]).max() <= SMALL.max_motion
    again = render_clip(photos, SMALL, 3, frames=5)
    assert all(np.array_equal(clip[k], again[k]) for k in clip)
    assert not np.array_equal(clip["frames"], render_clip(photos, SMALL, 4, frames=5)["frames"])
    with pytest.raises(ConfigError):
        render_clip(photos, SMALL, 0, frames=0)


def _shifted_equal(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Per-pixel equality of b and a moved by (dy, dx), on the overlap; (h, w) bool."""
    h, w = a.shape[0] - abs(dy), a.shape[1] - abs(dx)
    moved = b[max(dy, 0) : max(dy, 0) + h, max(dx, 0) : max(dx, 0) + w]
    source = a[max(-dy, 0) : max(-dy, 0) + h, max(-dx, 0) : max(-dx, 0) + w]
    return (moved == source).all(-1)


def test_the_background_pans_by_the_same_whole_pixels_every_frame(photos):
    cfg = SyntheticConfig(height=32, width=48, sprites=(1, 1), sprite_size=(2, 2), camera_motion=4, seed=5)
    checked = 0
    for index in range(30):
        clip = render_clip(photos, cfg, index, frames=4)
        dx, dy = (int(v) for v in clip["flow"][:, 0, 0])
        if (clip["flow"][0] != dx).any() or (clip["flow"][1] != dy).any() or dx == 0 == dy:
            continue  # a sprite is visible in frame 0, or the camera stands still
        for k in range(3):
            # Only the 2x2 sprite, wherever it shows in either frame, may differ.
            assert (~_shifted_equal(clip["frames"][k], clip["frames"][k + 1], dy, dx)).sum() <= 8
        checked += 1
    assert checked > 0


def test_sprites_move_exactly_by_their_velocity(photos):
    cfg = SyntheticConfig(height=32, width=48, sprites=(1, 1), sprite_size=(6, 10), camera_motion=0, seed=2)
    checked = 0
    for index in range(30):
        clip = render_clip(photos, cfg, index, frames=3)
        moving = (clip["flow"] != 0).any(0)  # the sprite's pixels in frame 0 (the camera is still)
        if moving.sum() < 4:
            continue
        dx, dy = (int(v) for v in clip["flow"][:, moving][:, 0])
        ys, xs = np.nonzero(moving)
        for k in (1, 2):
            y, x = ys + k * dy, xs + k * dx
            inside = (y >= 0) & (y < 32) & (x >= 0) & (x < 48)
            assert np.array_equal(
                clip["frames"][k][y[inside], x[inside]], clip["frames"][0][ys[inside], xs[inside]]
            )
        checked += 1
    assert checked > 0


def test_synthetic_prediction_items(photos):
    data = SyntheticPrediction(SMALL, length=6, context=4, horizon=2)
    item = data[2]
    assert item["context"].shape == (4, 3, 32, 48) and item["future"].shape == (2, 3, 32, 48)
    assert item["context"].dtype == torch.float32
    assert item["context"].min() >= -1 and item["future"].max() <= 1
    frames = render_clip(photos, SMALL, 2, frames=6)["frames"]
    expected = torch.from_numpy(frames).permute(0, 3, 1, 2) * 2 - 1
    assert torch.equal(torch.cat([item["context"], item["future"]]), expected)
    assert torch.equal(
        data[2]["context"], SyntheticPrediction(SMALL, length=6, context=4, horizon=2)[2]["context"]
    )
    assert len(data) == 6 and data.size == (32, 48)
    with pytest.raises(IndexError):
        data[6]
    cropped = SyntheticPrediction(SMALL, length=6, crop=(16, 16), flip=True)
    assert cropped[0]["context"].shape == (3, 3, 16, 16) and cropped.size == (16, 16)


def test_synthetic_interpolation_adds_timestep_and_keeps_flow():
    plain = SyntheticInterpolation(SMALL, length=8)
    item = plain[1]
    assert set(item) == {"frame0", "frame1", "target", "timestep", "flow"}
    assert float(item["timestep"]) == 0.5 and item["timestep"].shape == ()
    assert item["flow"].shape == (2, 32, 48)
    assert "flow" not in SyntheticInterpolation(SMALL, length=8, flow=False)[1]


def test_synthetic_flip_mirrors_frames_and_flow_together():
    plain = SyntheticInterpolation(SMALL, length=16)
    flipping = SyntheticInterpolation(SMALL, length=16, crop=(32, 48), flip=True, seed=3)
    flips = 0
    for index in range(16):
        a, b = plain[index], flipping[index]
        if torch.equal(a["frame0"], b["frame0"]):
            assert torch.equal(a["flow"], b["flow"])
            continue
        flips += 1
        for key in ("frame0", "frame1", "target"):
            assert torch.equal(b[key], a[key].flip(-1))
        assert torch.equal(b["flow"][0], -a["flow"][0].flip(-1)) and torch.equal(
            b["flow"][1], a["flow"][1].flip(-1)
        )
    assert 0 < flips < 16
    with pytest.raises(ValueError, match="smaller than the crop"):
        SyntheticInterpolation(SMALL, length=4, crop=(64, 64))


def test_synthetic_triplets_stay_importable_from_the_old_places():
    from corrwise.train import SyntheticTriplets
    from corrwise.train.datasets import SyntheticTriplets as Old

    assert Old is SyntheticTriplets
    assert issubclass(SyntheticInterpolation, SyntheticTriplets)
