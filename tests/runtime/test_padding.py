import numpy as np
import pytest
from corrwise.runtime import crop, pad_to_multiple
from corrwise.runtime.padding import pad_for, padded_hw
from hypothesis import given
from hypothesis import strategies as st

from ..conftest import make_contract


@given(h=st.integers(1, 70), w=st.integers(1, 70), align=st.sampled_from([1, 2, 8, 16, 32]))
def test_pad_then_crop_is_identity_for_any_size(h, w, align):
    x = np.arange(2 * 3 * h * w, dtype=np.float32).reshape(2, 3, h, w)
    padded, box = pad_to_multiple(x, align)
    assert padded.shape[-2] % align == 0 and padded.shape[-1] % align == 0
    assert padded.shape[-2] - h < align and padded.shape[-1] - w < align
    np.testing.assert_array_equal(crop(padded, box), x)


def test_padding_is_centred_and_repeats_edges():
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    padded, box = pad_to_multiple(x, 8)
    assert (box.top, box.left) == (2, 2)
    assert padded[0, 0, 0, 0] == x[0, 0, 0, 0] and padded[0, 0, -1, -1] == x[0, 0, -1, -1]


@given(h=st.integers(1, 40), w=st.integers(1, 40), align=st.sampled_from([1, 8, 16]))
def test_nhwc_padding_round_trip_matches_nchw(h, w, align):
    x = np.arange(2 * h * w * 3, dtype=np.uint8).reshape(2, h, w, 3)
    padded, box = pad_to_multiple(x, align, axes=(1, 2))
    nchw, box2 = pad_to_multiple(x.transpose(0, 3, 1, 2), align)
    assert box == box2
    np.testing.assert_array_equal(padded, nchw.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(crop(padded, box, axes=(1, 2)), x)


def test_static_size_pads_up_and_refuses_larger_frames():
    from corrwise.errors import InputError
    from corrwise.runtime.padding import pad_to_size

    x = np.zeros((1, 3, 30, 50), np.float32)
    padded, box = pad_to_size(x, (64, 96))
    assert padded.shape == (1, 3, 64, 96) and (box.top, box.left) == (17, 23)
    with pytest.raises(InputError, match="larger than the model's fixed size 16x96"):
        pad_to_size(x, (16, 96))


@given(h=st.integers(1, 90), w=st.integers(1, 90), align=st.sampled_from([1, 8, 16]), low=st.integers(1, 64))
def test_pad_for_reaches_the_alignment_and_the_minimum_size_and_crops_back(h, w, align, low):
    contract = make_contract(align=align, min_size=low)
    x = np.arange(2 * 3 * h * w, dtype=np.float32).reshape(2, 3, h, w)
    padded, box = pad_for(x, contract)
    ph, pw = padded.shape[2:]
    assert ph % align == 0 and pw % align == 0 and min(ph, pw) >= low
    assert (ph, pw) == padded_hw((h, w), contract)
    assert ph - h < align or ph < low + align  # no more than needed
    assert np.array_equal(crop(padded, box), x)
