"""Every bad input raises InputError with a message that names the file, folder or sequence."""

import re

import pytest
from corrwise.errors import InputError
from corrwise.train.data import (
    FolderSequence,
    InterpolationSamples,
    PredictionClips,
    VideoSequence,
    open_kitti,
    open_vimeo,
)
from PIL import Image

from .conftest import pattern, write_frames, write_vimeo


def _named(path) -> str:
    return re.escape(str(path))


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    write_frames(tmp_path, 2)
    bad = tmp_path / "0002.png"
    bad.write_bytes(b"\x89PNG but not really" * 10)
    with pytest.raises(InputError, match=_named(bad) + ".*not a readable image"):
        FolderSequence(tmp_path)


def test_a_truncated_image_is_named_when_read(tmp_path):
    write_frames(tmp_path, 3, 32, 48)
    bad = tmp_path / "0001.png"
    bad.write_bytes(bad.read_bytes()[:-40])  # header intact, pixel data cut
    seq = FolderSequence(tmp_path)  # headers alone look fine
    assert seq.frame(0).shape == (32, 48, 3)
    with pytest.raises(InputError, match=_named(bad) + ".*corrupt"):
        seq.frame(1)


def test_an_empty_folder_or_one_without_images_is_named(tmp_path):
    with pytest.raises(InputError, match=_named(tmp_path) + ".*no images"):
        FolderSequence(tmp_path)
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(InputError, match=_named(tmp_path) + ".*no images"):
        FolderSequence(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        FolderSequence(tmp_path / "absent")


def test_frames_of_different_sizes_in_one_sequence_are_named(tmp_path):
    write_frames(tmp_path, 3, 24, 32)
    Image.fromarray(pattern(3, 24, 30)).save(tmp_path / "0003.png")
    with pytest.raises(InputError, match=_named(tmp_path / "0003.png") + " is 30x24.*same size"):
        FolderSequence(tmp_path)


def test_a_corrupt_or_missing_video_is_named(tmp_path, make_clip):
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(InputError, match=_named(garbage) + " is not a readable video"):
        VideoSequence(garbage)
    text = tmp_path / "notes.mp4"
    text.write_text("just some text\n" * 50)
    with pytest.raises(InputError, match=_named(text)):
        VideoSequence(text)
    with pytest.raises(InputError, match=_named(tmp_path / "absent.mp4") + " does not exist"):
        VideoSequence(tmp_path / "absent.mp4")
    cut = make_clip(tmp_path / "cut.mp4", 8)
    cut.write_bytes(cut.read_bytes()[:200])  # container header only
    with pytest.raises(InputError, match=_named(cut)):
        VideoSequence(cut)


def test_a_listed_vimeo_sequence_that_is_missing_is_named(tmp_path):
    root = write_vimeo(tmp_path, "triplet", {"tri_testlist.txt": ["00001/0001"]})
    (root / "tri_testlist.txt").write_text("00001/0001\n00001/0009\n")
    with pytest.raises(InputError, match=r"00001/0009.*tri_testlist.txt.*folder is missing"):
        open_vimeo(root, "triplet")
    (root / "sequences" / "00001" / "0001" / "im2.png").unlink()
    (root / "tri_testlist.txt").write_text("00001/0001\n")
    with pytest.raises(InputError, match=r"00001/0001.*lacks im2.png"):
        open_vimeo(root, "triplet")
    with pytest.raises(InputError, match=_named(root / "tri_trainlist.txt") + " does not exist"):
        open_vimeo(root, "triplet", split="train")
    (root / "empty.txt").write_text("\n\n")
    with pytest.raises(InputError, match=r"empty\.txt lists no sequences"):
        open_vimeo(root, "triplet", list_file="empty.txt")


def test_a_kitti_root_without_camera_folders_is_named(tmp_path):
    write_frames(tmp_path / "drive" / "image_02" / "data", 2)
    with pytest.raises(InputError, match=_named(tmp_path) + ".*image_03/data"):
        open_kitti(tmp_path)


def test_a_sequence_shorter_than_the_window_says_how_many_frames_each_side_has(tmp_path):
    seq = FolderSequence(write_frames(tmp_path / "short", 3), name="short")
    with pytest.raises(InputError, match=r"'short' has 3 frames.*context=3, horizon=1, skip=1.*needs 4"):
        PredictionClips([seq])
    with pytest.raises(InputError, match=r"'short' has 3 frames.*span=2, skip=2.*needs 5"):
        InterpolationSamples([seq], span=2, skip=2)


def test_a_crop_larger_than_the_frames_names_the_sequence(tmp_path):
    small = FolderSequence(write_frames(tmp_path / "small", 4, 24, 32), name="small")
    with pytest.raises(InputError, match=r"'small' has 32x24 frames.*crop 40x16"):
        PredictionClips([small], crop=(16, 40))


def test_mixed_sizes_need_a_crop(tmp_path):
    a = FolderSequence(write_frames(tmp_path / "a", 4, 24, 32), name="a")
    b = FolderSequence(write_frames(tmp_path / "b", 4, 20, 36), name="b")
    with pytest.raises(InputError, match=r"'a' is 32x24, 'b' is 36x20.*batching needs equal sizes or a crop"):
        InterpolationSamples([a, b])
    data = InterpolationSamples([a, b], crop=(16, 16))
    assert {tuple(data[i]["frame0"].shape) for i in range(len(data))} == {(3, 16, 16)}
