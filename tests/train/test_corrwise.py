"""The correspondence-wise loss: the paper's formula, its symmetries, gradients, regularisers, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError, InputError
from corrwise.train import CorrWise
from corrwise.train.losses import regularizers as reg
from skimage import data as skdata
from skimage.transform import resize


def photo(height: int = 72, width: int = 112) -> torch.Tensor:
    """A real photo (1, 3, H+32, W+32) in [-1, 1], with margin for shifted crops."""
    image = resize(skdata.astronaut(), (height + 32, width + 32), anti_aliasing=True)
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() * 2 - 1


def shifted_pair(dx: int, dy: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, target): the prediction is the target's content moved by (dx, dy) pixels."""
    image = photo()
    target = image[..., 16:-16, 16:-16]
    pred = image[..., 16 - dy : image.shape[2] - 16 - dy, 16 - dx : image.shape[3] - 16 - dx]
    return pred.contiguous(), target.contiguous()


def bilinear_numpy(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample (C, H, W) ``image`` at float positions inside the frame, written without torch."""
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, image.shape[2] - 1), np.minimum(y0 + 1, image.shape[1] - 1)
    wx, wy = x - x0, y - y0
    return (
        image[:, y0, x0] * (1 - wx) * (1 - wy)
        + image[:, y0, x1] * wx * (1 - wy)
        + image[:, y1, x0] * (1 - wx) * wy
        + image[:, y1, x1] * wx * wy
    )


def formula_numpy(pred: torch.Tensor, target: torch.Tensor, flow_tp, flow_pt, epsilon: float) -> float:
    """L = mean|warp(P, (1-e) F_TP) - T| + mean|warp(T, (1-e) F_PT) - P| for one image, samples inside."""
    p, t = pred[0].double().numpy(), target[0].double().numpy()
    ys, xs = np.mgrid[0 : p.shape[1], 0 : p.shape[2]].astype(np.float64)
    total = 0.0
    for src, ref, flow in ((p, t, flow_tp), (t, p, flow_pt)):
        f = flow[0].double().numpy() * (1 - epsilon)
        total += np.abs(bilinear_numpy(src, xs + f[0], ys + f[1]) - ref).mean()
    return total


@pytest.mark.parametrize("flow", ["match", "dis"])
def test_shifted_copy_costs_far_less_than_pixel_l1(flow):
    pred, target = shifted_pair(5, -3)
    pixel = 2 * F.l1_loss(pred, target).item()  # the same two-term sum without alignment
    aligned, _ = CorrWise("l1", flow=flow, epsilon=0.0)(pred, target)
    default, _ = CorrWise("l1", flow=flow)(pred, target)
    # Measured on this 72x112 photo shifted by (5, -3) px: epsilon=0 gives 8 % (match) and 9 % (dis)
    # of the pixel loss, almost all of it the strips that entered the frame; the default epsilon=0.1
    # leaves a (0.5, 0.3) px residual shift on purpose and gives 23 % (match) and 22 % (dis).
    assert aligned.item() < 0.12 * pixel, (aligned.item(), pixel)
    assert default.item() < 0.3 * pixel, (default.item(), pixel)


def test_estimated_flow_is_the_target_to_prediction_offset():
    pred, target = shifted_pair(5, -3)
    _, info = CorrWise("l1", flow="match")(pred, target)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert info["flow_target_to_pred"][inner].median(dim=-1).values.median(dim=-1).values.tolist() == [
        pytest.approx([5.0, -3.0], abs=0.1)
    ]
    assert info["flow_pred_to_target"][inner][:, 0].median().item() == pytest.approx(-5.0, abs=0.1)


def test_epsilon_one_is_exactly_twice_the_base_loss():
    pred, target = shifted_pair(4, 2)
    for base, fn in (("l1", F.l1_loss), ("mse", F.mse_loss)):
        loss, _ = CorrWise(base, flow="match", epsilon=1.0)(pred, target)
        assert torch.equal(loss, 2 * fn(pred, target))


def test_swapping_prediction_and_target_leaves_the_loss_unchanged():
    pred, target = shifted_pair(6, 1)
    loss = CorrWise("l1", flow="match")
    forward, _ = loss(pred, target)
    backward, _ = loss(target, pred)
    assert backward.item() == pytest.approx(forward.item(), rel=1e-5)


@pytest.mark.parametrize("detach", [True, False])
def test_gradients_are_finite_and_reach_the_prediction(detach):
    pred, target = shifted_pair(3, 3)
    pred = (pred * 0.9).requires_grad_(True)
    loss, _ = CorrWise("l1", flow="match", detach=detach)(pred, target)
    loss.backward()
    assert pred.grad is not None
    assert torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0


def test_matches_an_independent_computation_of_the_formula():
    torch.manual_seed(0)
    pred, target = shifted_pair(2, -1)
    # Smooth flows that keep every sample inside the frame, so padding plays no part.
    h, w = target.shape[2:]
    base = torch.tensor([1.7, -0.6]).view(1, 2, 1, 1)
    ramp = torch.linspace(-0.5, 0.5, w).view(1, 1, 1, w)
    flow_tp = (base + ramp).expand(1, 2, h, w).clone()
    flow_pt = (-base + ramp.transpose(2, 3).reshape(1, 1, 1, w)[..., :w]).expand(1, 2, h, w).clone()
    flow_tp[..., :3, :], flow_tp[..., -3:, :], flow_tp[..., :, :3], flow_tp[..., :, -3:] = 0, 0, 0, 0
    flow_pt[..., :3, :], flow_pt[..., -3:, :], flow_pt[..., :, :3], flow_pt[..., :, -3:] = 0, 0, 0, 0
    for epsilon in (0.0, 0.1, 0.5):
        loss, _ = CorrWise("l1", flow="oracle", epsilon=epsilon)(pred, target, flows=(flow_tp, flow_pt))
        expected = formula_numpy(pred, target, flow_tp, flow_pt, epsilon)
        assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    # With an estimator, the loss is the formula applied to the flows it reports.
    loss, info = CorrWise("l1", flow="match", epsilon=0.0, padding_mode="border")(pred, target)
    inside = CorrWise("l1", flow="oracle", epsilon=0.0, padding_mode="border")
    again, _ = inside(pred, target, flows=(info["flow_target_to_pred"], info["flow_pred_to_target"]))
    assert again.item() == pytest.approx(loss.item(), rel=1e-6)


def test_info_holds_both_flows_both_warps_and_each_term():
    pred, target = shifted_pair(3, 0)
    loss, info = CorrWise("l1", flow="match")(pred, target)
    assert info["flow_target_to_pred"].shape == (1, 2, *target.shape[2:])
    assert info["flow_pred_to_target"].shape == (1, 2, *target.shape[2:])
    assert info["warped_pred"].shape == pred.shape and info["warped_target"].shape == target.shape
    terms = ("loss_pred_to_target", "loss_target_to_pred", "reg_flow_mag", "reg_flow_grad", "edge_penalty")
    assert sum(info[t] for t in terms).item() == pytest.approx(loss.item())
    assert info["loss_pred_to_target"].item() == pytest.approx(F.l1_loss(info["warped_pred"], target).item())
    assert not any(v.requires_grad for v in info.values())


@pytest.mark.parametrize(
    ("option", "extra"),
    [
        ("reg_flow_mag", {}),
        ("reg_flow_grad", {}),
        ("reg_flow_grad", {"edge_aware": 1}),
        ("reg_flow_grad", {"edge_aware": 2}),
        ("edge_penalty", {}),
    ],
)
def test_each_regulariser_changes_the_loss_only_when_enabled(option, extra):
    pred, target = shifted_pair(6, -2)
    plain, plain_info = CorrWise("l1", flow="match", detach=False)(pred, target)
    for name in ("reg_flow_mag", "reg_flow_grad", "edge_penalty"):
        assert plain_info[name].item() == 0.0
    loss, info = CorrWise("l1", flow="match", detach=False, **{option: 2.0}, **extra)(pred, target)
    assert info[option].item() > 0
    assert loss.item() == pytest.approx(plain.item() + info[option].item(), rel=1e-5)
    assert all(
        info[n].item() == 0.0 for n in ("reg_flow_mag", "reg_flow_grad", "edge_penalty") if n != option
    )


def test_regulariser_values():
    h, w = 20, 40
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0] = 4.0  # 10 % of the width
    assert reg.flow_magnitude(flow).item() == pytest.approx(0.1)
    assert reg.flow_gradient(flow).item() == pytest.approx(0.0, abs=1e-7)
    image = torch.zeros(1, 3, h, w)
    assert reg.edge_aware_smoothness(flow, image, 1).item() == pytest.approx(0.0, abs=1e-7)
    ramp = torch.zeros(1, 2, h, w)
    ramp[:, 0] = torch.arange(w, dtype=torch.float32) * 0.5
    assert reg.flow_gradient(ramp).item() > 0
    assert reg.edge_aware_smoothness(ramp, image, 1).item() > reg.edge_aware_smoothness(ramp, image, 2).item()
    assert reg.out_of_bounds(torch.zeros(1, 2, h, w)).item() == 0.0
    # 10 px to the right: the last 10 columns land 1..10 px outside (mean 5.5 px, on 10 of 40 columns).
    right = torch.zeros(1, 2, h, w)
    right[:, 0] = 10.0
    assert reg.out_of_bounds(right).item() == pytest.approx((5.5 * 10 / 40) / w)


def test_regularisers_need_an_undetached_flow():
    with pytest.raises(ConfigError, match="detach=False"):
        CorrWise("l1", flow="match", reg_flow_mag=0.1)
    with pytest.raises(ConfigError, match="differentiable"):
        CorrWise("l1", flow="dis", detach=False)
    with pytest.raises(ConfigError, match="reg_flow_grad > 0"):
        CorrWise("l1", flow="match", detach=False, edge_aware=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 1.5}, "epsilon"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"padding_mode": "wrap"}, "padding_mode"),
        ({"edge_aware": 3}, "edge_aware"),
        ({"flow": "sift"}, "unknown flow"),
        ({"base_loss": "l3"}, "l3"),
        ({"detach": False, "reg_flow_mag": -1.0}, "reg_flow_mag"),
    ],
)
def test_bad_options_raise_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        CorrWise(**kwargs)


def test_bad_inputs_raise_clear_errors():
    pred, target = shifted_pair(1, 1)
    loss = CorrWise("l1", flow="match")
    with pytest.raises(InputError, match="shapes differ"):
        loss(pred, target[..., :-1])
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        loss((pred + 1) * 127.5, (target + 1) * 127.5)
    with pytest.raises(InputError, match=r"\(B, C, H, W\)"):
        loss(pred[0], target[0])
    with pytest.raises(InputError, match="floating"):
        loss(pred.to(torch.uint8), target.to(torch.uint8))


def test_oracle_needs_flows_from_the_data():
    pred, target = shifted_pair(2, 0)
    loss = CorrWise("l1", flow="oracle")
    with pytest.raises(ConfigError, match="flows="):
        loss(pred, target)
    zero = torch.zeros(1, 2, *target.shape[2:])
    with pytest.raises(InputError):
        loss(pred, target, flows=(zero[..., :-1], zero))
    value, info = loss(pred, target, flows=(zero, zero))
    assert value.item() == pytest.approx(2 * F.l1_loss(pred, target).item(), rel=1e-5)
    assert torch.equal(info["flow_target_to_pred"], zero)


def test_composite_base_loss_is_the_mean_aligned_once():
    pred, target = shifted_pair(3, -2)
    mean, _ = CorrWise("l1+mse", flow="match")(pred, target)
    l1, _ = CorrWise("l1", flow="match")(pred, target)
    mse, _ = CorrWise("mse", flow="match")(pred, target)
    assert mean.item() == pytest.approx((l1.item() + mse.item()) / 2, rel=1e-5)


def test_vgg_second_term_passes_gradient_to_the_prediction(tmp_path):
    from corrwise.train.losses.vgg import vgg19_features

    torch.manual_seed(0)
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in vgg19_features().state_dict().items()}, path)
    pred, target = shifted_pair(2, 1)
    pred = pred[..., :32, :32].contiguous().requires_grad_(True)
    target = target[..., :32, :32].contiguous()
    from corrwise.train.losses import VGGLoss

    loss = CorrWise(VGGLoss(weights=path), flow="match", epsilon=0.5)
    _, info = loss(pred, target)
    info_free = loss.base_loss(info["warped_target"], pred)  # the second term alone
    info_free.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
