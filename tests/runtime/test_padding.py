import numpy as np
from corrwise.runtime import crop, pad_to_multiple
from hypothesis import given
from hypothesis import strategies as st


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
