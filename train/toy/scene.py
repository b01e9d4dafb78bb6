"""The toy scene: a car in front of a fixed real photo, re-rendered at any horizontal position.

The photo is a scikit-image sample (the launch pad of ``rocket`` by default:
dark sky, lit towers standing behind the car's path, lights on the ground),
cropped to the scene's aspect and area-resized. The car stands on the ground
near the bottom, centred at ``position = 0``; ``render(positions)`` shifts it
by any real number of pixels (bilinear, exact at whole pixels) and composites
it over the photo.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.train.toy.sprite import draw_car
from PIL import Image

GROUND = 0.93  # the wheels touch the ground at this fraction of the height
PHOTO_CROP = {"rocket": (0.3, 1.0)}  # vertical band (fractions) kept before fitting the aspect


def load_background(name: str, height: int, width: int) -> np.ndarray:
    """A scikit-image photo cropped to the aspect width:height and area-resized: uint8 (H, W, 3) RGB."""
    from skimage import data as skdata

    loader = getattr(skdata, name, None)
    if loader is None:
        raise ConfigError(f"toy: scikit-image has no sample photo {name!r}; try 'rocket' or 'astronaut'")
    image = np.asarray(loader())
    image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
    top, bottom = PHOTO_CROP.get(name, (0.0, 1.0))
    image = image[int(top * image.shape[0]) : int(bottom * image.shape[0])]
    rows, cols = image.shape[:2]
    if cols / rows > width / height:
        keep = round(rows * width / height)
        image = image[:, (cols - keep) // 2 : (cols - keep) // 2 + keep]
    else:
        keep = round(cols * height / width)
        image = image[rows - keep :]
    return np.array(Image.fromarray(image).resize((width, height), Image.Resampling.BOX))


class Scene:
    """Photo plus car; all tensors (…, 3, H, W) float32 in [-1, 1] on ``device``.

    Args:
        height, width: scene size in pixels.
        car_width: the car's length as a fraction of ``width``.
        shift: positions are uniform in [-shift * width, shift * width] pixels.
        background: scikit-image photo name.
        device: where the tensors live.

    Attributes:
        background: (3, H, W) the photo alone.
        box: (top, bottom, left, right) pixel box of the car at position 0 (bottom, right exclusive).
        max_shift: the largest |position|, pixels.
    """

    def __init__(self, height: int, width: int, car_width: float, shift: float,
                 background: str = "rocket", device: str | torch.device = "cpu") -> None:  # fmt: skip
        photo = load_background(background, height, width)
        self.background = torch.from_numpy(photo).permute(2, 0, 1).float().div(127.5).sub(1).to(device)
        car = draw_car(max(8, round(car_width * width)))  # (h, l, 4)
        top = round(GROUND * height) - car.shape[0]
        left = (width - car.shape[1]) // 2
        layer = np.zeros((4, height, width), np.float32)
        layer[:, top : top + car.shape[0], left : left + car.shape[1]] = car.transpose(2, 0, 1)
        self.layer = torch.from_numpy(layer).to(device)  # (4, H, W) premultiplied RGB [0, 1] and alpha
        self.box = (top, top + car.shape[0], left, left + car.shape[1])
        self.max_shift = float(shift * width)
        self.height, self.width = height, width

    def sample_positions(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """(count,) float32 positions, pixels, uniform in [-max_shift, max_shift] (CPU generator)."""
        u = torch.rand(count, generator=generator)
        return ((2 * u - 1) * self.max_shift).to(self.background.device)

    def render(self, positions: torch.Tensor) -> torch.Tensor:
        """The scene with the car moved right by ``positions`` (N,) pixels: (N, 3, H, W) in [-1, 1]."""
        layer = self.shifted_layer(positions)  # (N, 4, H, W)
        photo = (self.background + 1) / 2
        image = photo * (1 - layer[:, 3:]) + layer[:, :3]
        return image * 2 - 1

    def shifted_layer(self, positions: torch.Tensor) -> torch.Tensor:
        """The car layer moved right by ``positions`` (N,) pixels: (N, 4, H, W), zeros where it left."""
        count = positions.shape[0]
        theta = torch.zeros(count, 2, 3, device=positions.device)
        theta[:, 0, 0] = 1.0
        theta[:, 1, 1] = 1.0
        theta[:, 0, 2] = -positions * 2 / max(self.width - 1, 1)  # sample at x - position
        grid = F.affine_grid(theta, [count, 4, self.height, self.width], align_corners=True)
        layer = self.layer.unsqueeze(0).expand(count, -1, -1, -1)
        return F.grid_sample(layer, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    def car_box(self, position: float) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) pixel box covering the car at ``position`` (clipped to the frame)."""
        top, bottom, left, right = self.box
        left = max(0, int(np.floor(left + position)))
        right = min(self.width, int(np.ceil(right + position)))
        return top, bottom, left, right
