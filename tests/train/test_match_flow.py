"""``match``: global patch matching — small jumping objects, camera motion, memory bound, gradients."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from corrwise.errors import ConfigError
from corrwise.train.flow import MatchFlow, build_flow
from corrwise.train.flow.match import _column_max, _window_mean
from skimage import data as skdata
from skimage.transform import resize


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() * 2 - 1


def object_scene(
    shift: int, height: int = 256, width: int = 448
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The toy scene of benchmarks/flow_accuracy.py: a textured object (7/32 x 1/4 of the frame) that
    jumps ``shift`` px right over a static photo; returns (a, b, mask of the object in a)."""
    background = cv2.resize(skdata.coffee(), (width, height), interpolation=cv2.INTER_AREA)
    oh, ow = height * 7 // 32, width // 4
    sprite = cv2.resize(skdata.chelsea()[100:200, 100:300], (ow, oh), interpolation=cv2.INTER_AREA)
    y0, x0 = (height - oh) // 2, width // 2 - oh - shift // 2
    a, b = background.copy(), background.copy()
    a[y0 : y0 + oh, x0 : x0 + ow] = sprite
    b[y0 : y0 + oh, x0 + shift : x0 + shift + ow] = sprite
    mask = np.zeros((height, width), bool)
    mask[y0 : y0 + oh, x0 : x0 + ow] = True
    return to_tensor(a / 255.0), to_tensor(b / 255.0), mask


@pytest.mark.parametrize("shift", [40, 76])
def test_recovers_an_object_that_jumps_further_than_its_size(shift):
    a, b, mask = object_scene(shift)
    flow = MatchFlow()(a, b)
    inside = flow[0, :, torch.from_numpy(mask)]
    assert inside[0].median().item() == pytest.approx(shift, abs=1.0)
    assert inside[1].median().item() == pytest.approx(0.0, abs=1.0)
    outside = flow[0, :, torch.from_numpy(~mask)]
    assert outside.abs().median().item() < 0.5  # the static background stays put


def test_camera_translation_is_sub_pixel():
    photo = resize(skdata.astronaut(), (160, 256), anti_aliasing=True)
    a, b = to_tensor(photo[16:-16, 16:-16]), to_tensor(photo[13:-19, 23:-9])  # a[p] = b[p + (-7, 3)]
    flow = MatchFlow()(a, b)[..., 8:-8, 8:-8]
    assert flow[0, 0].median().item() == pytest.approx(-7.0, abs=0.2)
    assert flow[0, 1].median().item() == pytest.approx(3.0, abs=0.2)


def test_pair_gives_both_directions_and_matches_single_calls():
    a, b, _ = object_scene(20, 64, 112)
    estimator = MatchFlow()
    forward, backward = estimator.pair(a, b)
    assert torch.allclose(forward, estimator(a, b), atol=1e-5)
    assert torch.allclose(backward, estimator(b, a), atol=1e-4)


def test_chunk_size_bounds_memory_without_changing_the_result():
    a, b, _ = object_scene(20, 64, 112)
    assert torch.allclose(MatchFlow(chunk=64)(a, b), MatchFlow(chunk=100_000)(a, b), atol=1e-5)


def test_matching_grid_is_capped():
    estimator = MatchFlow(max_positions=4096)
    h, w = estimator.matching_size(1080, 1920)
    assert h * w <= 4096 * 1.05
    assert estimator.matching_size(64, 128) == (32, 64)  # at least 2x downsampling


def test_flat_images_get_zero_flow():
    a = torch.full((1, 3, 48, 64), 0.2)
    b = torch.full((1, 3, 48, 64), 0.2)
    assert MatchFlow()(a, b).abs().max().item() == 0.0


def test_batch_items_are_independent():
    a1, b1, _ = object_scene(20, 64, 112)
    a2, b2, _ = object_scene(30, 64, 112)
    batch = MatchFlow()(torch.cat([a1, a2]), torch.cat([b1, b2]))
    assert torch.allclose(batch[1:], MatchFlow()(a2, b2), atol=1e-5)


def test_differentiable_in_both_images():
    a, b, _ = object_scene(20, 64, 112)
    a.requires_grad_(True)
    b.requires_grad_(True)
    flow = MatchFlow()(a, b)
    flow.abs().mean().backward()
    for image in (a, b):
        assert image.grad is not None and torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0


def test_options_are_checked():
    assert isinstance(build_flow("match", patch=7), MatchFlow)
    with pytest.raises(ConfigError, match="odd"):
        MatchFlow(patch=4)
    with pytest.raises(ConfigError):
        MatchFlow(max_positions=4)
    with pytest.raises(ConfigError):
        build_flow("match", bogus=1)
    with pytest.raises(ConfigError, match="search_precision"):
        MatchFlow(search_precision="float16")
    with pytest.raises(ConfigError, match="refine_level"):
        MatchFlow(refine_level=3)


def test_float32_search_finds_the_same_matches_as_bfloat16():
    a, b, mask = object_scene(24, 96, 168)
    fast, exact = MatchFlow()(a, b), MatchFlow(search_precision="float32")(a, b)
    inside = torch.from_numpy(mask)
    for flow in (fast, exact):
        assert flow[0, 0, inside].median().item() == pytest.approx(24, abs=1.0)
    assert (fast - exact).abs().median().item() < 0.05


def test_half_size_refinement_stays_sub_pixel_on_camera_motion():
    photo = resize(skdata.astronaut(), (160, 256), anti_aliasing=True)
    a, b = to_tensor(photo[16:-16, 16:-16]), to_tensor(photo[13:-19, 23:-9])  # a[p] = b[p + (-7, 3)]
    flow = MatchFlow(refine_level=1)(a, b)[..., 8:-8, 8:-8]
    assert flow[0, 0].median().item() == pytest.approx(-7.0, abs=0.3)
    assert flow[0, 1].median().item() == pytest.approx(3.0, abs=0.3)


def test_cached_length_penalty_follows_the_grid():
    """A wide frame then a tall one with the same number of matching cells: no stale cost matrix."""
    wide_a, wide_b, _ = object_scene(20, 64, 112)
    tall_a, tall_b = wide_a.transpose(2, 3).contiguous(), wide_b.transpose(2, 3).contiguous()
    reused = MatchFlow()
    reused(wide_a, wide_b)
    assert torch.allclose(reused(tall_a, tall_b), MatchFlow()(tall_a, tall_b), atol=1e-6)


@pytest.mark.parametrize("size", [1, 3, 7, 31])
def test_window_mean_equals_the_2d_mean_inside_the_image(size):
    x = torch.rand(2, 3, 9, 40)
    expected = torch.nn.functional.avg_pool2d(x, size, stride=1, padding=size // 2, count_include_pad=False)
    assert torch.allclose(_window_mean(x, size), expected, atol=1e-6)


@pytest.mark.parametrize("rows", [64, 61])  # grouped path, and the plain fallback
def test_column_max_finds_the_best_row_of_each_column(rows):
    block = torch.randn(2, rows, 50)
    score, row = _column_max(block)
    expected_score, expected_row = block.max(dim=1)
    assert torch.equal(score, expected_score)
    assert torch.equal(row, expected_row)
