import itertools

import numpy as np
import pytest
from corrwise.errors import ConfigError, InputError
from corrwise.runtime.scene import CUT_POLICIES, SceneCutDetector, cut_frame, thumbnail_ssim
from skimage import data

from tests.conftest import moving_frames


def test_identical_frames_are_not_a_cut():
    frame = data.astronaut()
    detector = SceneCutDetector()
    assert detector.similarity(frame, frame) == pytest.approx(1.0)
    assert not detector.is_cut(frame, frame.copy())


def test_motion_is_not_a_cut():
    detector = SceneCutDetector()
    frames = moving_frames(4)
    photo = data.astronaut()
    shifted = np.roll(photo, 6, axis=1)
    assert not any(detector.is_cut(a, b) for a, b in itertools.pairwise(frames))
    assert detector.similarity(photo, shifted) > 0.8


@pytest.mark.parametrize(
    "frame0, frame1",
    [
        (data.astronaut(), data.coffee()),
        (data.chelsea(), data.astronaut()),
        (
            np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8),
            moving_frames(1)[0],
        ),
    ],
    ids=["astronaut-coffee", "chelsea-astronaut", "noise-ramp"],
)
def test_unrelated_frames_are_a_cut(frame0, frame1):
    detector = SceneCutDetector()
    assert detector.similarity(frame0, frame1) < 0.2
    assert detector.is_cut(frame0, frame1)


def test_threshold_zero_disables_detection():
    detector = SceneCutDetector(threshold=0.0)
    assert not detector.enabled
    assert not detector.is_cut(data.astronaut(), data.coffee())


def test_a_higher_threshold_calls_more_cuts():
    photo, shifted = data.astronaut(), np.roll(data.astronaut(), 40, axis=1)
    similarity = SceneCutDetector().similarity(photo, shifted)
    assert not SceneCutDetector(threshold=similarity - 0.01).is_cut(photo, shifted)
    assert SceneCutDetector(threshold=similarity + 0.01).is_cut(photo, shifted)


@pytest.mark.parametrize("shape", [(720, 1280, 3), (37, 53, 3), (5, 7, 3), (300, 451, 3)])
def test_thumbnail_shape_dtype_and_range(shape):
    frame = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    thumb = SceneCutDetector(size=32).thumbnail(frame)
    assert thumb.shape == (32, 32) and thumb.dtype == np.float32
    assert thumb.min() >= 0.0 and thumb.max() <= 1.0


def test_thumbnail_averages_areas():
    frame = np.zeros((64, 128, 3), np.uint8)
    frame[:, 64:] = 255  # right half white
    thumb = SceneCutDetector(size=16).thumbnail(frame)
    np.testing.assert_array_equal(thumb[:, :8], 0.0)
    np.testing.assert_allclose(thumb[:, 8:], 1.0, rtol=1e-6)
    grey = SceneCutDetector(size=8).thumbnail(np.full((40, 40, 3), 51, np.uint8))
    np.testing.assert_allclose(grey, 0.2, rtol=1e-6)


def test_thumbnail_accepts_gray_and_rgba():
    detector = SceneCutDetector()
    gray = data.camera()
    rgba = np.dstack([data.astronaut(), np.full((512, 512), 7, np.uint8)])
    np.testing.assert_array_equal(detector.thumbnail(rgba), detector.thumbnail(data.astronaut()))
    assert detector.thumbnail(gray).shape == (32, 32)


def test_ssim_is_symmetric_and_bounded():
    rng = np.random.default_rng(2)
    a, b = rng.random((32, 32), np.float32), rng.random((32, 32), np.float32)
    assert thumbnail_ssim(a, b) == pytest.approx(thumbnail_ssim(b, a))
    assert -1.0 <= thumbnail_ssim(a, 1 - a) < 0.0 < thumbnail_ssim(a, a) == pytest.approx(1.0)
    with pytest.raises(InputError, match="square arrays of one shape"):
        thumbnail_ssim(a, b[:16])


@pytest.mark.parametrize("threshold", [-0.1, 1.0, 1.5, float("nan"), "0.2", True])
def test_bad_threshold(threshold):
    with pytest.raises(ConfigError, match="threshold"):
        SceneCutDetector(threshold=threshold)


@pytest.mark.parametrize("size", [4, 0, 512, 32.0])
def test_bad_size(size):
    with pytest.raises(ConfigError, match="thumbnail size"):
        SceneCutDetector(size=size)


def test_cut_policies():
    assert CUT_POLICIES == ("repeat", "blend")
    black, white = np.zeros((4, 6, 3), np.uint8), np.full((4, 6, 3), 255, np.uint8)
    repeat = cut_frame("repeat", black, white, 0.75)
    np.testing.assert_array_equal(repeat, black)
    assert repeat is not black
    np.testing.assert_array_equal(cut_frame("blend", black, white, 0.25), np.full_like(black, 64))
    with pytest.raises(ConfigError, match="scene-cut policy"):
        cut_frame("fade", black, white, 0.5)
