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


def test_still_camera_keeps_the_background_in_place_and_zero_flow():
    cfg = SyntheticConfig(height=48, width=80, sprites=(1, 1), sprite_size=(2, 2), seed=5, still_camera=1.0)
    for i in range(6):
        item = SyntheticTriplets(cfg, length=10)[i]
        flow = item["flow"].numpy()
        background = np.all(flow == 0, axis=0)  # the 2x2 sprite may move; everything else stands
        assert background.mean() > 0.99
        unchanged = (item["frame0"] == item["frame1"]).all(dim=0).numpy()
        assert unchanged.mean() > 0.99


def test_patterns_replace_the_photo_with_thin_two_colour_lines():
    cfg = SyntheticConfig(height=48, width=80, sprites=(1, 1), sprite_size=(2, 2), seed=2, patterns=1.0)
    for i in range(6):
        frame = SyntheticTriplets(cfg, length=10)[i]["frame0"].numpy()
        counts = np.unique(frame.reshape(3, -1).T, axis=0, return_counts=True)[1]
        assert counts[np.argsort(counts)[-2:]].sum() >= 48 * 80 - 4  # ink and paper, plus the tiny sprite
        assert np.abs(np.diff(frame, axis=2)).max() > 0.0  # edges: lines, not a flat fill


def test_options_at_zero_render_the_samples_of_the_default_config():
    base = SyntheticTriplets(SyntheticConfig(height=48, width=80, seed=3), length=5)[4]
    same = SyntheticTriplets(SyntheticConfig(height=48, width=80, seed=3, still_camera=0.0), length=5)[4]
    assert all(torch.equal(base[k], same[k]) for k in base)


@pytest.mark.parametrize("field", ["still_camera", "patterns"])
def test_probabilities_outside_zero_one_are_config_errors(field):
    with pytest.raises(ConfigError, match=field):
        SyntheticConfig(**{field: 1.5})
