"""Frame sequences of every layout: image folders, KITTI raw, video files, Vimeo-90K."""

import pickle

import numpy as np
import pytest
from corrwise.errors import ConfigError
from corrwise.train.data import FolderSequence, FrameSequence, VideoSequence, open_kitti, open_vimeo
from corrwise.train.data.images import natural_key
from PIL import Image

from .conftest import pattern, write_frames, write_vimeo


def test_folder_reads_every_image_format_in_natural_order(tmp_path):
    for number, suffix in ((1, "png"), (2, "bmp"), (3, "jpeg"), (10, "png"), (11, "jpg")):
        Image.fromarray(pattern(number, 16, 24)).save(tmp_path / f"im{number}.{suffix}")
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / "sub").mkdir()
    seq = FolderSequence(tmp_path)
    assert isinstance(seq, FrameSequence) and seq.name == str(tmp_path)
    assert len(seq) == 5 and seq.size == (16, 24)
    frames = [seq.frame(i) for i in range(len(seq))]
    assert all(f.dtype == np.uint8 and f.shape == (16, 24, 3) for f in frames)
    reds = [int(f[..., 0].mean().round()) for f in frames]
    assert reds[0] == 10 and reds[1] == 20 and reds[3] == 100  # png and bmp are lossless
    assert abs(reds[2] - 30) <= 3 and abs(reds[4] - 110) <= 3  # jpeg is close
    assert np.array_equal(seq.frame(-1), frames[-1])
    with pytest.raises(IndexError):
        seq.frame(5)
    assert seq.frames([3, 0]).shape == (2, 16, 24, 3)


def test_natural_sort_orders_numbers_by_value():
    names = ["f10.png", "f2.png", "F1.png", "f1b.png", "f01a.png"]
    assert sorted(names, key=natural_key) == ["F1.png", "f01a.png", "f1b.png", "f2.png", "f10.png"]


def test_grey_palette_and_alpha_images_become_rgb(tmp_path):
    Image.fromarray(np.full((8, 12), 77, np.uint8), mode="L").save(tmp_path / "a.png")
    Image.fromarray(np.full((8, 12, 4), 200, np.uint8), mode="RGBA").save(tmp_path / "b.png")
    Image.fromarray(pattern(1, 8, 12)).convert("P").save(tmp_path / "c.png")
    seq = FolderSequence(tmp_path)
    assert [seq.frame(i).shape for i in range(3)] == [(8, 12, 3)] * 3
    assert (seq.frame(0) == 77).all() and (seq.frame(1) == 200).all()


def _kitti_drive(root, date, drive, cameras=("image_02", "image_03"), count=3):
    for camera in cameras:
        write_frames(
            root / date / f"{date}_drive_{drive}_sync" / camera / "data", count, 12, 20, "{:010d}.png"
        )
    (root / date / f"{date}_drive_{drive}_sync" / "oxts").mkdir(exist_ok=True)


def test_kitti_finds_one_sequence_per_camera_folder(tmp_path):
    _kitti_drive(tmp_path, "2011_09_26", "0001")
    _kitti_drive(tmp_path, "2011_09_26", "0002", count=5)
    _kitti_drive(tmp_path, "2011_09_28", "0001", cameras=("image_02",))
    seqs = open_kitti(tmp_path)
    names = [s.name for s in seqs]
    top = tmp_path.name
    assert names == [
        f"{top}/2011_09_26/2011_09_26_drive_0001_sync/image_03",
        f"{top}/2011_09_26/2011_09_26_drive_0002_sync/image_03",
    ]
    assert [len(s) for s in seqs] == [3, 5] and seqs[0].size == (12, 20)
    assert len(open_kitti(tmp_path, camera="image_02")) == 3
    drive = tmp_path / "2011_09_26" / "2011_09_26_drive_0002_sync"
    assert [len(s) for s in open_kitti(drive)] == [5]  # a single drive as root
    assert [len(s) for s in open_kitti(drive / "image_03")] == [5]  # or the camera folder
    with pytest.raises(ConfigError, match="unknown KITTI camera"):
        open_kitti(tmp_path, camera="velodyne")


def test_video_is_decoded_once_with_optional_resize(tmp_path, make_clip):
    path = make_clip(tmp_path / "clip.mp4", 6)  # 48x64 H.264 (tests/conftest.py)
    seq = VideoSequence(path)
    assert len(seq) == 6 and seq.size == (48, 64) and seq.name == str(path)
    assert seq.frame(2).dtype == np.uint8 and seq.frame(2).shape == (48, 64, 3)
    assert VideoSequence(path, max_side=32).size == (24, 32)
    assert VideoSequence(path, max_side=1000).size == (48, 64)  # never enlarged
    assert VideoSequence(path, scale=0.25).size == (12, 16)
    short = VideoSequence(path, max_frames=3, name="clip")
    assert len(short) == 3 and short.name == "clip"
    assert np.array_equal(short.frame(1), seq.frame(1))
    copy = pickle.loads(pickle.dumps(short))
    assert np.array_equal(copy.frame(2), short.frame(2))
    with pytest.raises(ConfigError, match="not both"):
        VideoSequence(path, max_side=32, scale=0.5)


def test_vimeo_triplet_and_septuplet_layouts(tmp_path):
    tri = write_vimeo(
        tmp_path / "tri",
        "triplet",
        {"tri_trainlist.txt": ["00001/0001", "00001/0002"], "tri_testlist.txt": ["00002/0001"]},
    )
    train = open_vimeo(tri, "triplet", split="train")
    assert [s.name for s in train] == ["00001/0001", "00001/0002"]
    assert all(len(s) == 3 and s.size == (16, 24) for s in train)
    assert train[1].frame(2)[0, 0, 0] == 10 * (8 + 2)  # im3 of the second sequence
    assert [s.name for s in open_vimeo(tri, "triplet")] == ["00002/0001"]  # split="test" by default
    sep = write_vimeo(tmp_path / "sep", "septuplet", {"sep_testlist.txt": ["00001/0266"]})
    (sep / "mine.txt").write_text("00001/0266\n")
    for seqs in (open_vimeo(sep, "septuplet"), open_vimeo(sep, "septuplet", list_file="mine.txt")):
        assert [(s.name, len(s)) for s in seqs] == [("00001/0266", 7)]
        assert [int(s.frame(k)[0, 0, 0]) for s in seqs for k in range(7)] == [0, 10, 20, 30, 40, 50, 60]
    with pytest.raises(ConfigError, match="layout"):
        open_vimeo(sep, "quintuplet")
    with pytest.raises(ConfigError, match="split"):
        open_vimeo(sep, "septuplet", split="val")
