"""Prediction and interpolation samples: which frames, shapes, ranges, timesteps, crop/flip, determinism."""

import multiprocessing
import pickle

import pytest
import torch
from corrwise.errors import ConfigError
from corrwise.train.data import FolderSequence, InterpolationSamples, PredictionClips
from torch.utils.data import DataLoader

from .conftest import frame_ids, window_of, write_frames


@pytest.fixture
def sequences(tmp_path):
    """Two 24x32 sequences: 10 frames (ids 0..9) and 6 frames (ids 10..15)."""
    return [
        FolderSequence(write_frames(tmp_path / "a", 10), name="a"),
        FolderSequence(write_frames(tmp_path / "b", 6, first=10), name="b"),
    ]


def test_prediction_clips_take_every_start_of_every_sequence(sequences):
    data = PredictionClips(sequences[:1], context=3, horizon=2, skip=2)  # window of 9 frames
    assert len(data) == 2  # starts 0 and 1
    item = data[1]
    assert item["context"].shape == (3, 3, 24, 32) and item["future"].shape == (2, 3, 24, 32)
    assert item["context"].dtype == torch.float32
    assert frame_ids(item["context"]) == [1, 3, 5] and frame_ids(item["future"]) == [7, 9]
    consecutive = PredictionClips(sequences)  # context 3, horizon 1, skip 1
    assert len(consecutive) == 7 + 3
    assert frame_ids(consecutive[7]["context"]) == [10, 11, 12] and frame_ids(consecutive[9]["future"]) == [
        15
    ]
    for key in ("context", "future"):
        values = consecutive[4][key]
        assert values.min() >= -1 and values.max() <= 1
    assert consecutive[0]["context"].min() == -1  # byte 0 -> -1
    with pytest.raises(IndexError):
        consecutive[10]


def test_interpolation_end_frames_target_and_timestep(sequences):
    data = InterpolationSamples(sequences)  # span 2: triplets with t = 0.5
    assert len(data) == 8 + 4
    item = data[3]
    assert set(item) == {"frame0", "frame1", "target", "timestep"}
    assert all(item[k].shape == (3, 24, 32) for k in ("frame0", "frame1", "target"))
    assert item["timestep"].shape == () and item["timestep"].dtype == torch.float32
    assert frame_ids(torch.stack([item["frame0"], item["target"], item["frame1"]])) == [3, 4, 5]
    assert float(item["timestep"]) == 0.5


@pytest.mark.parametrize(("span", "skip"), [(4, 1), (2, 2), (3, 1)])
def test_random_timesteps_match_the_target_frame(sequences, span, skip):
    data = InterpolationSamples(sequences, span=span, skip=skip, random_t=True)
    gap = span * skip
    seen = set()
    for index in range(len(data)):
        item = data[index]
        start, end, target = frame_ids(torch.stack([item["frame0"], item["frame1"], item["target"]]))
        assert end - start == gap and start < target < end
        assert float(item["timestep"]) == pytest.approx((target - start) / gap)
        seen.add(target - start)
    assert seen == set(range(1, gap))  # every interior frame, not only multiples of skip


def test_middle_frame_without_random_t(sequences):
    data = InterpolationSamples(sequences, span=4, random_t=False)
    ids = [frame_ids(torch.stack([data[i]["frame0"], data[i]["target"]])) for i in range(len(data))]
    assert all(target - start == 2 for start, target in ids)
    assert all(float(data[i]["timestep"]) == 0.5 for i in range(len(data)))
    with pytest.raises(ConfigError, match=r"span \* skip even"):
        InterpolationSamples(sequences, span=3, random_t=False)


def test_bad_options_are_config_errors(sequences):
    for options in ({"context": 0}, {"horizon": 0}, {"skip": 0}, {"seed": -1}, {"crop": (0, 8)}):
        with pytest.raises(ConfigError):
            PredictionClips(sequences, **options)
    with pytest.raises(ConfigError):
        InterpolationSamples(sequences, span=1)
    with pytest.raises(ConfigError, match="FrameSequence"):
        PredictionClips(["a folder"])


def test_crop_and_flip_are_the_same_on_every_frame_of_a_sample(sequences):
    data = PredictionClips(sequences, context=3, horizon=2, crop=(8, 12), flip=True, seed=4)
    windows = set()
    for index in range(len(data)):
        item = data[index]
        frames = torch.cat([item["context"], item["future"]])
        assert frames.shape == (5, 3, 8, 12)
        placed = {window_of(frame) for frame in frames}
        assert len(placed) == 1  # one window and one flip decision for the whole sample
        windows |= placed
    assert {flip for _, _, flip in windows} == {False, True}
    assert len({(top, left) for top, left, _ in windows}) > 3
    assert all(0 <= top <= 24 - 8 and 0 <= left <= 32 - 12 for top, left, _ in windows)


def test_samples_depend_only_on_seed_epoch_and_index(sequences):
    def make(seed=0):
        return InterpolationSamples(sequences, span=4, crop=(8, 8), flip=True, seed=seed)

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    first, again = make(), make()
    for index in (5, 0, 7):  # any order
        assert same(first[index], again[index])
    assert not all(same(make(0)[i], make(1)[i]) for i in range(len(first)))
    before = [first[i] for i in range(len(first))]
    first.set_epoch(1)
    assert not all(same(before[i], first[i]) for i in range(len(first)))
    first.set_epoch(0)
    assert all(same(before[i], first[i]) for i in range(len(first)))
    copy = pickle.loads(pickle.dumps(first))
    assert all(same(before[i], copy[i]) for i in range(len(first)))


@pytest.mark.parametrize("context", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_worker_processes_give_the_same_batches(sequences, context):
    if context not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {context} start method here")
    data = InterpolationSamples(sequences, span=4, crop=(16, 16), flip=True, seed=2)
    data.set_epoch(3)

    def batches(workers):
        kwargs = {"multiprocessing_context": context} if workers else {}
        loader = DataLoader(data, batch_size=3, num_workers=workers, **kwargs)
        return list(loader)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 3
    for a, b in zip(serial, parallel, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert serial[0]["frame0"].shape == (3, 3, 16, 16) and serial[0]["timestep"].shape == (3,)
