"""Scene cuts: videos split into shots, so no training sample spans a cut."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from corrwise.errors import InputError
from corrwise.runtime import VideoWriter
from corrwise.train.data import DataConfig, SourceConfig, build_dataset, open_sequences
from corrwise.train.data.sequence import FrameSequence
from corrwise.train.data.shots import Shot, scene_cuts, split_into_shots
from skimage import data as skdata


class Frames(FrameSequence):
    """An in-memory sequence for the tests."""

    def __init__(self, frames: list[np.ndarray], name: str = "memory") -> None:
        self._frames, self.name = frames, name

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def size(self) -> tuple[int, int]:
        return self._frames[0].shape[:2]

    def frame(self, index: int) -> np.ndarray:
        return self._frames[self._check_index(index)]


def panning(
    photo: np.ndarray, count: int, step: int = 3, height: int = 64, width: int = 96
) -> list[np.ndarray]:
    """``count`` crops of ``photo`` moving ``step`` px right per frame (camera motion, no cut)."""
    return [
        np.ascontiguousarray(photo[100 : 100 + height, 50 + step * k : 50 + step * k + width])
        for k in range(count)
    ]


def write_video(path, frames: list[np.ndarray]):
    with VideoWriter(path, Fraction(24)) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def two_scenes(first: int = 6, second: int = 5) -> list[np.ndarray]:
    return panning(skdata.astronaut(), first) + panning(skdata.coffee(), second)


def test_a_cut_is_found_and_camera_motion_is_not():
    assert scene_cuts(Frames(two_scenes(6, 5))) == [6]
    assert scene_cuts(Frames(panning(skdata.chelsea(), 8, step=6))) == []


def test_shots_shorter_than_a_sample_are_dropped():
    sequence = Frames(two_scenes(6, 2))
    shots = split_into_shots(sequence, min_length=3)
    assert [(s.start, s.stop) for s in shots] == [(0, 6)]
    assert isinstance(shots[0], Shot) and np.array_equal(shots[0].frame(5), sequence.frame(5))
    assert shots[0].name == "memory frames 0-5"
    assert split_into_shots(Frames(panning(skdata.chelsea(), 4)), 3)[0].name == "memory"  # no cut: as is


def test_no_shot_long_enough_is_an_error_naming_the_video():
    with pytest.raises(InputError, match=r"'memory' has scene cuts before frames \[3\]"):
        split_into_shots(Frames(two_scenes(3, 3)), min_length=4)


def test_training_samples_never_span_a_cut(tmp_path):
    video = write_video(tmp_path / "two_scenes.mp4", two_scenes(6, 5))
    split = DataConfig(sources=(SourceConfig(kind="video", path=str(video)),), random_t=False)
    whole = DataConfig(
        sources=(SourceConfig(kind="video", path=str(video), scene_cuts=False),), random_t=False
    )
    assert len(build_dataset("interpolate", split)) == (6 - 2) + (5 - 2)  # triplets inside each shot
    assert len(build_dataset("interpolate", whole)) == 11 - 2
    assert len(build_dataset("predict", split)) == (6 - 3) + (5 - 3)  # 3 context + 1 future


def test_the_bikes_sample_clip_is_a_montage_of_shots():
    bikes = open_sequences(SourceConfig(kind="sample-clip", name="bikes", max_side=320))[0]
    assert scene_cuts(bikes) == [30, 76, 137, 187, 242]


def test_evaluation_clips_never_span_a_cut(tmp_path):
    from corrwise.train.evaluate import EvalConfig, open_sources, run_evaluation

    video = write_video(tmp_path / "two_scenes.mp4", two_scenes(6, 5))
    sources = (SourceConfig(kind="video", path=str(video)),)
    assert [len(s) for s in open_sources(sources)] == [6, 5]
    config = EvalConfig(task="interpolate", sources=sources, baselines=("blend",), lpips=False, max_side=None)
    result = run_evaluation(config, progress=False)
    assert {clip.sequence.rsplit(" frames ", 1)[1] for clip in result.clips} == {"0-5", "6-10"}
