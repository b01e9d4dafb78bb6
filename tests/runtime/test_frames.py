import numpy as np
import pytest
from corrwise.errors import ContractError, InputError
from corrwise.runtime.frames import as_rgb8, check_frame, check_frame_io, to_frame, to_tensor

from tests.conftest import fused_contract, make_contract

RGB = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


def test_rgb_passes_through_unchanged():
    assert as_rgb8(RGB) is RGB


@pytest.mark.parametrize("gray", [RGB[..., 0], RGB[..., :1]], ids=["HW", "HW1"])
def test_grayscale_is_replicated(gray):
    out = as_rgb8(gray)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], RGB[..., 0])


def test_alpha_is_dropped():
    rgba = np.dstack([RGB, np.full((5, 7), 9, np.uint8)])
    out = as_rgb8(rgba)
    np.testing.assert_array_equal(out, RGB)
    assert out.flags.c_contiguous


@pytest.mark.parametrize(
    "frame, message",
    [
        (RGB.astype(np.uint16) << 2, r"\(x >> 2\)\.astype\(np\.uint8\) for 10-bit.*corr-run"),
        (RGB.astype(np.float32) / 255, r"np\.clip\(np\.rint\(x \* 255\)"),
        (RGB.astype(np.int64), "convert it to uint8"),
        (RGB[..., :2], r"\(H, W, 3\)"),
        (RGB[None], r"\(H, W, 3\)"),
        (RGB[:1], "at least 2x2"),
        (RGB.tolist(), "numpy uint8 array"),
    ],
    ids=["uint16", "float", "int64", "2-channels", "4-D", "1-row", "list"],
)
def test_refused_frames_say_how_to_convert(frame, message):
    with pytest.raises(InputError, match=message):
        as_rgb8(frame, "frame")


def test_check_frame_stays_strict():
    with pytest.raises(InputError, match="RGB"):
        check_frame(RGB[..., 0])


def test_tensor_round_trip():
    for contract in (make_contract(), fused_contract()):
        np.testing.assert_array_equal(to_frame(to_tensor(RGB, contract), contract), RGB)


def test_frame_io_layouts():
    check_frame_io(make_contract())
    check_frame_io(fused_contract())
    with pytest.raises(ContractError, match="layout NHWC with fused_io=False"):
        check_frame_io(make_contract(layout="NHWC"), "m.onnx")
