import numpy as np
import pytest
import torch
from corrwise.errors import ConfigError
from corrwise.train import SyntheticConfig, SyntheticTriplets


@pytest.fixture(scope="module")
def dataset():
    return SyntheticTriplets(SyntheticConfig(height=48, width=80, seed=3), length=50)


def test_items_have_shapes_ranges_and_types(dataset):
    item = dataset[0]
    for key in ("frame0", "target", "frame1"):
        assert item[key].shape == (3, 48, 80) and item[key].dtype == torch.float32
        assert item[key].min() >= -1 and item[key].max() <= 1
    assert item["flow"].shape == (2, 48, 80)


def test_same_index_gives_same_sample_and_different_indices_differ(dataset):
    a, b = dataset[7], SyntheticTriplets(dataset.config, length=50)[7]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(dataset[7]["frame0"], dataset[8]["frame0"])


def test_motion_is_even_bounded_and_the_frames_differ(dataset):
    cfg = dataset.config
    for i in range(10):
        item = dataset[i]
        flow = item["flow"].numpy()
        assert np.all(flow % 2 == 0)
        assert np.abs(flow).max() <= max(cfg.max_motion, cfg.camera_motion)
        if np.abs(flow).max() > 0:
            assert not torch.equal(item["frame0"], item["frame1"])


def test_background_follows_the_camera_motion():
    """Where no sprite moves, frame1 is frame0 shifted by the camera flow, pixel for pixel."""
    cfg = SyntheticConfig(height=48, width=80, sprites=(1, 1), sprite_size=(2, 2), seed=5)
    data = SyntheticTriplets(cfg, length=40)
    checked = 0
    for i in range(40):
        item = data[i]
        dx, dy = (int(v) for v in item["flow"][:, 0, 0])
        if (item["flow"][0] != dx).any() or (item["flow"][1] != dy).any() or dx == 0 == dy:
            continue  # a sprite is visible or there is no motion
        h, w = 48 - abs(dy), 80 - abs(dx)
        y0, x0 = max(dy, 0), max(dx, 0)
        shifted = item["frame1"][:, y0 : y0 + h, x0 : x0 + w]
        original = item["frame0"][:, max(-dy, 0) : max(-dy, 0) + h, max(-dx, 0) : max(-dx, 0) + w]
        # A 2x2 sprite entering the view in frame1 may cover at most 4 pixels.
        assert int((shifted != original).any(0).sum()) <= 4
        checked += 1
    assert checked > 0


def test_bad_config_is_rejected():
    with pytest.raises(ConfigError):
        SyntheticConfig(height=8)
    with pytest.raises(ConfigError):
        SyntheticConfig(sprites=(3, 2))


def test_index_out_of_range(dataset):
    with pytest.raises(IndexError):
        dataset[50]
