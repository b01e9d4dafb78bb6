"""Draw the figure of the docs page on the correspondence-wise loss (``docs/losses.md``).

A real photo shipped in scikit-image (``coffee``) is the background. The target
T has a textured object (the face of ``chelsea``, the cat, in a soft disc)
pasted on it; the "prediction" P has the same object blurred a little and
``--shift`` pixels further right, as an early prediction of a network might.
``CorrWise("l1", flow=...)`` compares the two, and one PNG shows what it saw::

    P              T              F(T -> P)         F(P -> T)
    warp(P) on T   warp(T) on P   |P - T|           |warp(P) - T|

Flow is colour-coded with the HSV wheel (hue = direction, saturation =
magnitude, white = no motion). Nothing is downloaded; the image is composed
with numpy and labelled with Pillow (a dependency of scikit-image), so the
script needs only the ``train`` extra::

    python scripts/figure_corrwise.py                # -> docs/img/corrwise_loss.png
    python scripts/figure_corrwise.py --flow dis --out runs/corrwise_dis.png
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import torch
from corrwise.errors import CorrwiseError
from corrwise.train.losses import CorrWise
from PIL import Image, ImageDraw, ImageFont, ImageOps
from skimage import color, data, filters, transform

HEIGHT, WIDTH = 192, 320  # frame size (pixels)
OBJECT_SIZE = 64  # side of the pasted object (pixels)
OBJECT_TOP, OBJECT_LEFT = 104, 36  # object position in the target (pixels)
BLUR_SIGMA = 1.2  # Gaussian blur of the object in the prediction (pixels)
DIFF_SCALE = 0.5  # a difference of this much (in [-1, 1] units, channel mean) is drawn white
GAP = 6  # pixels between panels
TITLE_HEIGHT = 20  # pixels above each panel for its title
SUPTITLE_HEIGHT = 64  # pixels above the grid for the three-line suptitle
FONT_SIZE = 13
SATURATION_PERCENTILE = 99.5  # flow magnitude drawn fully saturated: this percentile of both fields
SUPTITLE_FONT_SIZE = 14
SIZE_LIMIT = 300 * 1024  # bytes of PNG the docs page should carry at most
WHEEL_SIZE = 44  # side of the colour-wheel legend drawn in the flow panels (pixels)


@dataclass
class Example:
    """One prediction/target pair in [-1, 1], (1, 3, H, W), and the true flows between them (pixels)."""

    pred: torch.Tensor
    target: torch.Tensor
    flow_target_to_pred: torch.Tensor
    flow_pred_to_target: torch.Tensor


def background() -> np.ndarray:
    """scikit-image's ``coffee`` photo, cropped to 5:3 and resized to (HEIGHT, WIDTH, 3) floats in [0, 1]."""
    photo = data.coffee()[20:380]  # (360, 600, 3): 5:3 like HEIGHT x WIDTH
    return transform.resize(photo, (HEIGHT, WIDTH), anti_aliasing=True)


def textured_object() -> tuple[np.ndarray, np.ndarray]:
    """The cat's face from ``chelsea``: colour (S, S, 3) in [0, 1] and a soft disc mask (S, S) in [0, 1]."""
    face = transform.resize(data.chelsea()[15:285, 95:365], (OBJECT_SIZE, OBJECT_SIZE), anti_aliasing=True)
    centre = (OBJECT_SIZE - 1) / 2
    ys, xs = np.mgrid[:OBJECT_SIZE, :OBJECT_SIZE]
    radius = np.hypot(ys - centre, xs - centre)
    mask = np.clip((OBJECT_SIZE / 2 - radius) / 1.5, 0.0, 1.0)  # 1.5-pixel anti-aliased edge
    return face, mask


def paste(image: np.ndarray, patch: np.ndarray, mask: np.ndarray, top: int, left: int) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) with ``patch`` (S, S, 3) blended in by ``mask`` (S, S) at (top, left)."""
    out = image.copy()
    size = patch.shape[0]
    region = out[top : top + size, left : left + size]
    alpha = mask[..., None]
    out[top : top + size, left : left + size] = alpha * patch + (1 - alpha) * region
    return out


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) floats in [0, 1] -> (1, 3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().unsqueeze(0) * 2 - 1


def make_example(shift: int) -> Example:
    """Target with the object at its place; prediction with it ``shift`` px to the right and blurred."""
    back = background()
    face, mask = textured_object()
    target = paste(back, face, mask, OBJECT_TOP, OBJECT_LEFT)
    blurred_face = filters.gaussian(face, sigma=BLUR_SIGMA, channel_axis=-1)
    blurred_mask = filters.gaussian(mask, sigma=BLUR_SIGMA)
    pred = paste(back, blurred_face, blurred_mask, OBJECT_TOP, OBJECT_LEFT + shift)
    flow_tp = np.zeros((2, HEIGHT, WIDTH), np.float32)  # object pixels of T move +shift to reach P
    flow_tp[0, OBJECT_TOP : OBJECT_TOP + OBJECT_SIZE, OBJECT_LEFT : OBJECT_LEFT + OBJECT_SIZE] = shift * (
        mask > 0.5
    )
    flow_pp = np.zeros((2, HEIGHT, WIDTH), np.float32)  # and those of P move -shift to reach T
    left = OBJECT_LEFT + shift
    flow_pp[0, OBJECT_TOP : OBJECT_TOP + OBJECT_SIZE, left : left + OBJECT_SIZE] = -shift * (mask > 0.5)
    return Example(
        pred=to_tensor(pred).clamp(-1, 1),
        target=to_tensor(target).clamp(-1, 1),
        flow_target_to_pred=torch.from_numpy(flow_tp).unsqueeze(0),
        flow_pred_to_target=torch.from_numpy(flow_pp).unsqueeze(0),
    )


def flow_to_rgb(flow: np.ndarray, max_magnitude: float) -> np.ndarray:
    """Colour-code a flow field with the HSV wheel.

    Args:
        flow: (2, H, W) pixels, x then y (y pointing down).
        max_magnitude: magnitude drawn fully saturated; larger ones are clipped.

    Returns:
        (H, W, 3) floats in [0, 1]: hue = direction (0 = to the right, turning
        counter-clockwise on screen), saturation = magnitude / ``max_magnitude``,
        value 1, so zero motion is white.
    """
    u, v = flow[0], flow[1]
    angle = np.arctan2(-v, u)  # counter-clockwise on screen, where y points down
    hue = (angle / (2 * np.pi)) % 1.0
    saturation = np.clip(np.hypot(u, v) / max(max_magnitude, 1e-6), 0.0, 1.0)
    return color.hsv2rgb(np.stack([hue, saturation, np.ones_like(hue)], axis=-1))


def colour_wheel(size: int) -> np.ndarray:
    """The legend of :func:`flow_to_rgb`: (size, size, 3) in [0, 1], white outside the disc."""
    centre = (size - 1) / 2
    ys, xs = np.mgrid[:size, :size].astype(np.float64)
    flow = np.stack([xs - centre, ys - centre])
    wheel = flow_to_rgb(flow, centre)
    wheel[np.hypot(xs - centre, ys - centre) > centre] = 1.0
    return wheel


def image_rgb(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [-1, 1] -> (H, W, 3) floats in [0, 1]."""
    return ((x[0].permute(1, 2, 0).cpu().numpy() + 1) / 2).clip(0, 1)


def difference_rgb(a: torch.Tensor, b: torch.Tensor) -> tuple[np.ndarray, float]:
    """Channel-mean |a - b| as a gray (H, W, 3) image (black = 0, white >= DIFF_SCALE), and its mean."""
    diff = (a - b).abs().mean(1)[0].cpu().numpy()
    gray = np.clip(diff / DIFF_SCALE, 0.0, 1.0)
    return np.repeat(gray[..., None], 3, axis=-1), float(diff.mean())


def with_wheel(panel: np.ndarray) -> np.ndarray:
    """A copy of a flow panel with the colour-wheel legend in its top-right corner."""
    out = panel.copy()
    out[4 : 4 + WHEEL_SIZE, -4 - WHEEL_SIZE : -4] = colour_wheel(WHEEL_SIZE)
    out[3, -5 - WHEEL_SIZE : -3] = out[4 + WHEEL_SIZE, -5 - WHEEL_SIZE : -3] = 0.6  # gray frame
    out[3 : 5 + WHEEL_SIZE, -5 - WHEEL_SIZE] = out[3 : 5 + WHEEL_SIZE, -4] = 0.6
    return out


def compose(panels: list[tuple[str, np.ndarray]], suptitle: list[str], columns: int = 4) -> Image.Image:
    """A titled grid of (H, W, 3) panels in [0, 1] under a suptitle of one or more lines."""
    rows = -(-len(panels) // columns)
    width = columns * WIDTH + (columns + 1) * GAP
    height = SUPTITLE_HEIGHT + rows * (TITLE_HEIGHT + HEIGHT + GAP)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=FONT_SIZE)
    big = ImageFont.load_default(size=SUPTITLE_FONT_SIZE)
    for line, text in enumerate(suptitle):
        draw.text((width / 2, 6 + line * (SUPTITLE_FONT_SIZE + 5)), text, fill="black", font=big, anchor="ma")
    for index, (title, panel) in enumerate(panels):
        row, column = divmod(index, columns)
        left = GAP + column * (WIDTH + GAP)
        top = SUPTITLE_HEIGHT + row * (TITLE_HEIGHT + HEIGHT + GAP)
        draw.text((left + WIDTH / 2, top + 3), title, fill="black", font=font, anchor="ma")
        pixels = (np.clip(panel, 0, 1) * 255).round().astype(np.uint8)
        canvas.paste(Image.fromarray(pixels), (left, top + TITLE_HEIGHT))
    return canvas


def render(example: Example, flow: str, epsilon: float) -> tuple[Image.Image, dict[str, float]]:
    """Run CorrWise L1 on the example; the figure and the numbers in its suptitle."""
    criterion = CorrWise("l1", flow=flow, epsilon=epsilon)
    flows = (example.flow_target_to_pred, example.flow_pred_to_target) if flow == "oracle" else None
    with torch.no_grad():
        loss, info = criterion(example.pred, example.target, flows=flows)
    pred, target = example.pred, example.target
    pixel_l1 = 2 * (pred - target).abs().mean().item()
    numbers = {
        "pixel_l1": pixel_l1,
        "corrwise_l1": loss.item(),
        "loss_pred_to_target": info["loss_pred_to_target"].item(),
        "loss_target_to_pred": info["loss_target_to_pred"].item(),
    }
    flow_tp = info["flow_target_to_pred"][0].cpu().numpy()
    flow_pp = info["flow_pred_to_target"][0].cpu().numpy()
    magnitudes = np.concatenate([np.hypot(*flow_tp).ravel(), np.hypot(*flow_pp).ravel()])
    full = max(float(np.percentile(magnitudes, SATURATION_PERCENTILE)), 1.0)  # robust to stray matches
    diff_pixel, mean_pixel = difference_rgb(pred, target)
    diff_warped, mean_warped = difference_rgb(info["warped_pred"], target)
    scale = 1 - epsilon
    panels = [
        ("prediction P", image_rgb(pred)),
        ("target T", image_rgb(target)),
        (f"flow F(T->P), max {np.hypot(*flow_tp).max():.1f} px", with_wheel(flow_to_rgb(flow_tp, full))),
        (f"flow F(P->T), max {np.hypot(*flow_pp).max():.1f} px", with_wheel(flow_to_rgb(flow_pp, full))),
        (f"warp(P, {scale:g} F(T->P)): P on T's grid", image_rgb(info["warped_pred"])),
        (f"warp(T, {scale:g} F(P->T)): T on P's grid", image_rgb(info["warped_target"])),
        (f"|P - T| (pixel L1 sees), mean {mean_pixel:.4f}", diff_pixel),
        (f"|warp(P) - T| (corr-wise sees), mean {mean_warped:.4f}", diff_warped),
    ]
    suptitle = [
        f"pixel L1 = L1(P,T) + L1(T,P) = 2 mean|P - T| = {pixel_l1:.4f}     "
        f"corr-wise L1 (flow '{flow}', epsilon {epsilon:g}) = {numbers['corrwise_l1']:.4f}",
        f"= L1(warp(P), T) {numbers['loss_pred_to_target']:.4f} + L1(warp(T), P) "
        f"{numbers['loss_target_to_pred']:.4f}",
        f"flow: hue = direction (wheel, red = right), saturation = magnitude up to {full:.0f} px, "
        f"white = no motion;  differences: black 0, white >= {DIFF_SCALE:g}",
    ]
    return compose(panels, suptitle), numbers


def save_small(figure: Image.Image, out: Path) -> None:
    """Save as PNG with 6 bits per channel; as a 256-colour palette PNG if that is still over SIZE_LIMIT."""
    out.parent.mkdir(parents=True, exist_ok=True)
    ImageOps.posterize(figure, 6).save(out, optimize=True)
    if out.stat().st_size > SIZE_LIMIT:
        figure.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/img/corrwise_loss.png"),
    show_default=True,
    help="PNG to write (folders are created).",
)
@click.option(
    "--flow",
    type=click.Choice(["match", "dis", "raft", "oracle"]),
    default="match",
    show_default=True,
    help="Flow estimator of CorrWise; 'oracle' uses the true flow of the example.",
)
@click.option("--shift", type=int, default=24, show_default=True, help="How far right P's object sits (px).")
@click.option("--epsilon", type=float, default=0.1, show_default=True, help="CorrWise epsilon.")
def main(out: Path, flow: str, shift: int, epsilon: float) -> None:
    """Draw what the correspondence-wise L1 loss sees on a prediction whose object is misplaced."""
    if not 0 <= OBJECT_LEFT + shift <= WIDTH - OBJECT_SIZE:
        low, high = -OBJECT_LEFT, WIDTH - OBJECT_SIZE - OBJECT_LEFT
        message = f"the object would leave the frame; use {low} to {high}"
        raise click.BadParameter(message, param_hint="--shift")
    example = make_example(shift)
    try:
        figure, numbers = render(example, flow, epsilon)
    except CorrwiseError as err:
        raise click.ClickException(str(err)) from err
    save_small(figure, out)
    click.echo(
        f"{out}: {figure.width}x{figure.height}, {out.stat().st_size / 1024:.0f} KB; "
        + ", ".join(f"{name} {value:.4f}" for name, value in numbers.items())
    )


if __name__ == "__main__":
    main()
