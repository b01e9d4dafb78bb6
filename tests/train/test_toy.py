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
from corrwise.train.toy.flow import LayeredFlow
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


def _car_mask(scene: Scene, position: float) -> torch.Tensor:
    """(H, W) bool: where the car covers at least half a pixel at ``position``."""
    return scene.shifted_layer(torch.tensor([position]))[0, 3] > 0.5


@pytest.mark.parametrize(("target", "pred"), [(9.0, -3.0), (-14.0, 2.0), (5.25, 0.0)])
def test_layered_flow_moves_the_car_and_keeps_the_photo_still(scene, target, pred):
    flow = LayeredFlow(**ToyConfig().flow_options())
    t, p = scene.render(torch.tensor([target, pred])).split(1)
    flow_tp, flow_pt = flow.pair(t, p)
    on_t, on_p = _car_mask(scene, target), _car_mask(scene, pred)
    shift = pred - target
    assert flow_tp[0, 0][on_t].median() == pytest.approx(shift, abs=0.25)  # T's car -> P's car
    assert flow_pt[0, 0][on_p].median() == pytest.approx(-shift, abs=0.25)
    assert (flow_tp[0, 0][on_t] != 0).float().mean() > 0.9  # the whole car, not just its edges
    assert (flow_tp[:, 1] == 0).all()  # horizontal search only by default
    top, bottom, left, right = scene.car_box(min(target, pred))
    far = torch.ones_like(on_t)
    far[top - 8 : bottom + 8, max(0, left - 8) : right + abs(int(shift)) + 8] = False
    assert (flow_tp[0][:, far] == 0).all() and (flow_pt[0][:, far] == 0).all()  # the photo stays still


def test_layered_flow_does_not_move_a_blurry_noisy_background(scene):
    """A half-learnt background is blurry and noisy, not displaced: (almost) nothing may move."""
    photo = scene.render(torch.tensor([0.0]))
    blurry = F.avg_pool2d(photo, 3, stride=1, padding=1, count_include_pad=False)
    noise = torch.randn(photo.shape, generator=torch.Generator().manual_seed(0))
    noisy = (blurry + 0.03 * noise).clamp(-1, 1)
    flow_ab, flow_ba = LayeredFlow(**ToyConfig().flow_options()).pair(photo, noisy)
    moving = [(flow != 0).any(1).float().mean() for flow in (flow_ab, flow_ba)]
    assert max(moving) < 0.02  # a few pixels around blurred lights; with min_error=0, 7-9 % move


def test_layered_flow_matches_a_hedged_car_to_the_real_one(scene):
    """Against the L1 hedge (per-pixel median) half the car already moves the right way, none the wrong."""
    hedge = scene.render(torch.linspace(-scene.max_shift, scene.max_shift, 61)).median(0).values[None]
    flow = LayeredFlow(**ToyConfig().flow_options())
    for target in (-15.0, 15.0):
        flow_tp, _ = flow.pair(scene.render(torch.tensor([target])), hedge)
        moved = flow_tp[0, 0][_car_mask(scene, target)]
        assert (moved * -target > 0).float().mean() >= 0.45 and (moved * -target < 0).sum() == 0


def test_layered_flow_rejects_bad_options():
    with pytest.raises(ConfigError, match="odd"):
        LayeredFlow(max_shift=8, window=4)
    with pytest.raises(ConfigError, match="max_shift"):
        LayeredFlow(max_shift=0)


def test_schedules_follow_the_config():
    config = ToyConfig(steps=100, lr=1e-3, warmup=0.2, epsilon=0.05, epsilon_end=0.0, decay_from=0.75)
    assert config.warmup_steps() == 20
    assert config.epsilon_at(21) == pytest.approx(0.05) and config.epsilon_at(100) == pytest.approx(0.0)
    assert 0 < config.epsilon_at(60) < 0.05
    assert config.lr_at(1) == config.lr_at(75) == pytest.approx(1e-3)
    assert config.lr_at(100) == pytest.approx(5e-5)
    assert config.lr_at(88) < config.lr_at(80) < 1e-3
    with pytest.raises(ConfigError, match="warmup"):
        ToyConfig(warmup=1.5)
