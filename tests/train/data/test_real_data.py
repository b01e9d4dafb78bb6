"""The shared real data beside the checkout (../shared/data): skipped cleanly where it is absent."""

from pathlib import Path

import pytest
import torch
from corrwise.train.data import (
    DataConfig,
    InterpolationSamples,
    PredictionClips,
    SourceConfig,
    VideoSequence,
    build_dataset,
    open_sequences,
)
from torch.utils.data import DataLoader

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
SEPTUPLET = SHARED / "vimeo_septuplet"
VIDEOS = sorted((SHARED / "videos").glob("*.mp4")) if (SHARED / "videos").is_dir() else []


@pytest.mark.skipif(not (SEPTUPLET / "sep_testlist.txt").is_file(), reason="no shared Vimeo septuplet")
def test_the_shared_vimeo_septuplet():
    source = SourceConfig(kind="vimeo-septuplet", path=str(SEPTUPLET))
    (sequence,) = open_sequences(source)
    assert sequence.name == "00001/0266" and len(sequence) == 7
    height, width = sequence.size
    interpolate = build_dataset("interpolate", DataConfig(sources=(source,), span=6))
    assert len(interpolate) == 1
    item = interpolate[0]
    assert item["frame0"].shape == (3, height, width) and 0 < float(item["timestep"]) < 1
    middle = build_dataset("interpolate", DataConfig(sources=(source,), span=2, random_t=False))
    assert len(middle) == 5
    predict = build_dataset("predict", DataConfig(sources=(source,), crop=(32, 32), flip=True))
    batch = next(iter(DataLoader(predict, batch_size=4)))
    assert batch["context"].shape == (4, 3, 3, 32, 32) and batch["future"].shape == (4, 1, 3, 32, 32)
    assert batch["context"].min() >= -1 and batch["context"].max() <= 1
    # Real footage: consecutive frames are similar, but not identical.
    frames = [torch.tensor(sequence.frame(k), dtype=torch.float32) for k in (0, 1)]
    assert 0 < (frames[0] - frames[1]).abs().mean() < 40


@pytest.mark.skipif(not VIDEOS, reason="no shared videos")
def test_a_shared_720p_video_shrunk_on_load():
    sequence = VideoSequence(VIDEOS[0], max_side=160, max_frames=30)  # the whole clip takes ~4 s
    assert sequence.size == (90, 160) and len(sequence) == 30
    data = InterpolationSamples(sequence, span=4, skip=2, crop=(64, 64), flip=True)
    assert len(data) == 30 - 8
    item = data[len(data) // 2]
    assert item["target"].shape == (3, 64, 64) and float(item["timestep"]) in {k / 8 for k in range(1, 8)}
    clips = PredictionClips(sequence, context=3, horizon=2)
    assert clips[0]["future"].shape == (2, 3, 90, 160)
