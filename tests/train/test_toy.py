"""The toy experiment: scene, metrics, and one tiny end-to-end run of `corr-train toy`."""

from __future__ import annotations

import json
import math

import av
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from corrwise.errors import ConfigError
from corrwise.tolerances import GREY_LEVEL
from corrwise.train.cli import main
from corrwise.train.toy import LOSS_LABELS, Scene, ToyConfig, best_shift, sharpness
from corrwise.train.toy.metrics import MAX_PSNR_DB, STEP
from corrwise.train.toy.perceptual import RandomFeatureLoss
from corrwise.train.toy.sprite import draw_car
from PIL import Image


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene(64, 128, car_width=0.3, shift=0.15)


def test_car_sprite_has_alpha_and_structure():
    car = draw_car(40)
    assert car.shape == (18, 40, 4)
    alpha = car[..., 3]
    assert alpha.max() == 1.0 and alpha.min() == 0.0  # covered and empty pixels
    assert (car[..., :3] <= alpha[..., None] + 1e-6).all()  # premultiplied
    assert abs(car[..., :3]).sum() > 0


def test_render_moves_the_car_by_whole_pixels_exactly(scene):
    layer_a, layer_b = scene.shifted_layer(torch.tensor([0.0, 5.0]))
    top, bottom, left, right = scene.box
    moved = layer_b[:, top:bottom, left + 5 : right + 5] - layer_a[:, top:bottom, left:right]
    assert moved.abs().max() < GREY_LEVEL / 10
    a, b = scene.render(torch.tensor([0.0, 5.0]))
    assert a.min() >= -1 and a.max() <= 1
    assert (a - b).abs().amax() > 0.5  # the car moved
    away = scene.render(torch.tensor([0.0]))[0, :, :top]
    assert torch.equal(away, scene.background[:, :top])  # the photo above the car is untouched


def test_positions_stay_in_the_allowed_range(scene):
    positions = scene.sample_positions(1000, torch.Generator().manual_seed(0))
    assert positions.abs().max() <= scene.max_shift
    assert positions.min() < -0.8 * scene.max_shift and positions.max() > 0.8 * scene.max_shift


@pytest.mark.parametrize("position", [-12.5, 0.0, 7.0])
def test_best_shift_finds_the_rendered_position(scene, position):
    image = scene.render(torch.tensor([position]))[0]
    match = best_shift(image, scene)
    assert match.psnr_db == MAX_PSNR_DB
    assert abs(match.position - position) <= STEP / 10


def test_best_shift_is_worse_for_a_hedged_car(scene):
    renders = scene.render(torch.linspace(-scene.max_shift, scene.max_shift, 101))
    mean, median = renders.mean(0), renders.median(0).values
    one = renders[30]
    assert best_shift(mean, scene).psnr_db < 30 < best_shift(one, scene).psnr_db
    assert best_shift(median, scene).psnr_db < 30
    assert abs(best_shift(mean, scene).position) < scene.max_shift / 4  # the smear is centred


def test_sharpness_is_one_for_the_real_car_and_lower_when_blurred(scene):
    image = scene.render(torch.tensor([3.0]))[0]
    blurred = F.avg_pool2d(image[None], (1, 5), stride=1, padding=(0, 2), count_include_pad=False)[0]
    assert sharpness(image, scene, 3.0) == pytest.approx(1.0)
    assert sharpness(blurred, scene, 3.0) < 0.7
    wider = F.avg_pool2d(image[None], (1, 9), stride=1, padding=(0, 4), count_include_pad=False)[0]
    assert sharpness(wider, scene, 3.0) < sharpness(blurred, scene, 3.0)


def test_random_feature_stand_in_is_a_distance():
    loss = RandomFeatureLoss()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    assert float(loss(x, x)) == 0.0
    assert float(loss(x, y)) > float(loss(x, (x + 0.1 * (y - x))))
    assert float(RandomFeatureLoss()(x, y)) == float(loss(x, y))  # seeded: the same weights every time


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="multiples of 8"):
        ToyConfig(height=60)
    with pytest.raises(ConfigError, match="unknown losses"):
        ToyConfig(losses=("l2",))


def test_cli_rejects_a_bad_size(tmp_path):
    result = CliRunner().invoke(main, ["toy", "--size", "64by128", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "HEIGHTxWIDTH" in result.output


def test_toy_cli_writes_every_output(tmp_path):
    out = tmp_path / "toy"
    args = ["toy", "--steps", "3", "--size", "32x64", "--losses", "l1,cw-l1", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    figure = Image.open(out / "toy_figure.png")
    assert figure.format == "PNG" and figure.width > 3 * 2 * 64 and figure.height > 2 * 32
    gif = Image.open(out / "toy_training.gif")
    frames = gif.n_frames
    assert 2 <= frames <= 3  # one per snapshot step; 3 steps give at most 3
    with av.open(str(out / "toy_training.mp4")) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == frames
    assert (decoded[0].width, decoded[0].height) == (gif.width + gif.width % 2, gif.height + gif.height % 2)
    data = json.loads((out / "toy_metrics.json").read_text())
    assert set(data["losses"]) == {"l1", "cw-l1"}
    assert data["perceptual"] and data["config"]["steps"] == 3
    for name, entry in data["losses"].items():
        assert entry["label"] == LOSS_LABELS[name]
        assert 0 < entry["best_shift_psnr_db"] <= MAX_PSNR_DB
        assert abs(entry["position_fraction"]) <= 0.15 + GREY_LEVEL
        assert math.isfinite(entry["sharpness"]) and entry["sharpness"] >= 0
        assert entry["train_seconds"] > 0


def test_toy_runs_are_deterministic(tmp_path):
    from corrwise.train.toy.experiment import train_one
    from corrwise.train.toy.losses import build_toy_loss

    config = ToyConfig(height=32, width=64, steps=2, snapshots=2)
    scene = Scene(32, 64, config.car_width, config.shift)
    loss = build_toy_loss("l1", RandomFeatureLoss(), None, config.epsilon)
    first = train_one(loss, scene, config, torch.device("cpu"))
    second = train_one(loss, scene, config, torch.device("cpu"))
    assert torch.equal(first.output, second.output)
