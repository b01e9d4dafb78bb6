import math

import numpy as np
import pytest
from corrwise.errors import ConfigError
from corrwise.tolerances import TOLERANCES, compare, psnr_db, tolerance_for


def test_psnr_of_known_noise_level():
    rng = np.random.default_rng(0)
    ref = rng.uniform(-1, 1, size=(1, 3, 64, 64))
    noisy = ref + 0.01  # MSE = 1e-4 on a peak-to-peak range of 2 -> 10*log10(4/1e-4) = 46.02 dB
    assert psnr_db(ref, noisy) == pytest.approx(10 * math.log10(4 / 1e-4), abs=1e-6)
    assert psnr_db(ref, ref) == math.inf


def test_fp32_judged_by_max_abs():
    ref = np.zeros((1, 3, 4, 4), np.float32)
    limit = tolerance_for("onnxruntime", "fp32").max_abs
    assert compare(ref, ref + limit / 2, "onnxruntime", "fp32").passed
    assert not compare(ref, ref + limit * 2, "onnxruntime", "fp32").passed


def test_int8_judged_by_psnr():
    ref = np.zeros((1, 3, 8, 8), np.float32)
    assert compare(ref, ref + 0.01, "onnxruntime", "int8").passed  # 46 dB >= 35
    assert not compare(ref, ref + 0.1, "onnxruntime", "int8").passed  # 26 dB < 35


def test_table_covers_the_documented_criteria():
    assert TOLERANCES[("onnxruntime", "fp32")].max_abs == 1e-4
    assert TOLERANCES[("onnxruntime", "fp16")].min_psnr_db == 45.0
    assert TOLERANCES[("onnxruntime", "int8")].min_psnr_db == 35.0


def test_unknown_combination_and_shape_mismatch_are_errors():
    with pytest.raises(ConfigError, match="known"):
        tolerance_for("onnxruntime", "fp8")
    with pytest.raises(ConfigError, match="shapes"):
        compare(np.zeros((1, 3, 2, 2)), np.zeros((1, 3, 2, 3)), "onnxruntime", "fp32")


def test_fused_uint8_io_is_judged_within_one_grey_level():
    from corrwise.tolerances import GREY_LEVEL, precision_label

    assert precision_label("fp32", fused_io=True) == "uint8"
    assert precision_label("int8", fused_io=True) == "int8"
    assert precision_label("fp16", fused_io=False) == "fp16"
    ref = np.zeros((1, 3, 4, 4), np.float32)
    assert compare(ref, ref + GREY_LEVEL, "onnxruntime", "uint8").passed
    assert not compare(ref, ref + 2 * GREY_LEVEL, "onnxruntime", "uint8").passed
