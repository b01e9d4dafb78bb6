import os
import stat

import pytest
from corrwise.atomic import AtomicFile, atomic_output
from corrwise.errors import InputError


def test_success_moves_the_file_into_place_with_normal_permissions(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert list(tmp_path.iterdir()) == [target]


def test_failure_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_discard_removes_the_temporary(tmp_path):
    f = AtomicFile(tmp_path / "x.mp4", suffix=".mp4")
    assert f.tmp.suffix == ".mp4" and f.tmp.exists()
    f.discard()
    assert not any(tmp_path.iterdir())


def test_unwritable_folder_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="cannot write"):
        AtomicFile(blocker / "sub" / "out.onnx")
