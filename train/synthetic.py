"""Built-in synthetic data: textured sprites moving over real photos.

Each sample is a frame triplet at times 0, 0.5 and 1 with its ground-truth
motion. The background is a crop of a photo shipped inside scikit-image that
pans with a camera motion; two to five textured sprites (ellipses, rectangles,
triangles) move on top with their own motions. Displacements are even
integers, so the middle frame is rendered exactly, without resampling.

For prediction, :func:`render_clip` renders N consecutive frames of the same
kind of scene, the camera and each sprite moving at a constant whole-pixel
velocity, again exactly.

Everything is a pure function of (seed, index): the same dataset always
yields the same frames, in any order and in any worker process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from corrwise.errors import ConfigError
from skimage import data as skdata
from skimage import draw
from skimage.transform import rescale

# Colour photos that ship inside the scikit-image wheel (no download).
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "stereo_motorcycle")


@dataclass(frozen=True)
class SyntheticConfig:
    """Geometry and motion of the synthetic triplets.

    Attributes:
        height, width: frame size (pixels).
        max_motion: largest sprite displacement between frame 0 and frame 1 (pixels,
            per axis); 16 is about what 30 fps footage shows for moderate motion.
        camera_motion: largest background pan between frame 0 and frame 1 (pixels).
        sprites: (min, max) number of sprites per sample.
        sprite_size: (min, max) sprite side (pixels).
        seed: base seed; sample ``i`` depends only on (seed, i).
        still_camera: probability (0..1) that a sample's background does not move,
            as with a camera on a tripod: interpolators must then leave it exactly
            where it is, fine detail included.
        patterns: probability (0..1) that a sample's background is a procedural
            pattern of thin lines (grids, stripes, checkerboards, 1-3 px lines every
            6-20 px) instead of a photo: periodic detail that a flow estimator can
            mismatch and a sub-pixel warp blurs.
    """

    height: int = 96
    width: int = 160
    max_motion: int = 16
    camera_motion: int = 6
    sprites: tuple[int, int] = (2, 5)
    sprite_size: tuple[int, int] = (10, 36)
    seed: int = 0
    still_camera: float = 0.0
    patterns: float = 0.0

    def __post_init__(self) -> None:
        for name in ("still_camera", "patterns"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")
        if self.height < 16 or self.width < 16:
            raise ConfigError(f"frames must be at least 16x16, got {self.height}x{self.width}")
        if self.max_motion < 0 or self.camera_motion < 0:
            raise ConfigError("max_motion and camera_motion must be >= 0")
        if not 1 <= self.sprites[0] <= self.sprites[1]:
            raise ConfigError(f"sprites must be (min, max) with 1 <= min <= max, got {self.sprites}")
        if not 2 <= self.sprite_size[0] <= self.sprite_size[1]:
            raise ConfigError(f"sprite_size must be (min, max) with 2 <= min <= max, got {self.sprite_size}")


def load_photos(min_height: int, min_width: int) -> list[np.ndarray]:
    """The shipped colour photos as uint8 (H, W, 3), upscaled where smaller than asked."""
    photos = []
    for name in PHOTOS:
        image = getattr(skdata, name)()
        image = image[0] if isinstance(image, tuple) else image  # stereo pair -> left view
        image = np.ascontiguousarray(image[..., :3])
        factor = max(min_height / image.shape[0], min_width / image.shape[1], 1.0)
        if factor > 1.0:
            scaled = rescale(image, factor, channel_axis=-1, preserve_range=True)
            image = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
        photos.append(image)
    return photos


def _pattern(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A background of thin lines: uint8 (height, width, 3), two random colours.

    A grid, stripes along x or y, or a checkerboard; lines 1-3 px wide every 6-20 px.
    """
    yy, xx = np.mgrid[0:height, 0:width]
    period, line = int(rng.integers(6, 21)), int(rng.integers(1, 4))
    oy, ox = rng.integers(0, period, size=2)
    rows, cols = (yy + oy) % period < line, (xx + ox) % period < line
    kind = rng.integers(4)
    on = [rows | cols, rows, cols, ((yy + oy) // period + (xx + ox) // period) % 2 == 1][kind]
    ink, paper = rng.integers(0, 256, size=(2, 3))
    return np.where(on[..., None], ink, paper).astype(np.uint8)


def _scene(
    cfg: SyntheticConfig, photo: np.ndarray, key: list[int], size: tuple[int, int]
) -> tuple[np.ndarray, bool]:
    """The background of one sample and whether its camera stands still.

    Draws from its own stream (``key`` + [1]), so samples of a config with
    ``still_camera`` and ``patterns`` at 0 are the ones rendered before those options existed.
    """
    if cfg.still_camera == 0.0 and cfg.patterns == 0.0:
        return photo, False
    rng = np.random.default_rng([*key, 1])
    still, patterned = rng.random() < cfg.still_camera, rng.random() < cfg.patterns
    return (_pattern(rng, *size) if patterned else photo), still


def _even(rng: np.random.Generator, limit: int, size: int = 2) -> np.ndarray:
    """Random even integers in [-limit, limit] (so the midpoint is a whole pixel)."""
    return 2 * rng.integers(-(limit // 2), limit // 2 + 1, size=size)


def _sprite(rng: np.random.Generator, size_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A textured sprite: colour (h, w, 3) float in [0, 1] and alpha mask (h, w) bool."""
    h, w = rng.integers(size_range[0], size_range[1] + 1, size=2)
    mask = np.zeros((h, w), dtype=bool)
    kind = rng.integers(3)
    if kind == 0:
        rr, cc = draw.ellipse(h / 2 - 0.5, w / 2 - 0.5, h / 2, w / 2, shape=(h, w))
    elif kind == 1:
        rr, cc = draw.rectangle((0, 0), end=(h - 1, w - 1), shape=(h, w))
    else:
        rr, cc = draw.polygon([0, h - 1, h - 1], [w / 2, 0, w - 1], shape=(h, w))
    mask[rr, cc] = True
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(3, 9)
    stripes = 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    base, other = rng.uniform(0, 1, size=(2, 3)).astype(np.float32)
    colour = base + (other - base) * stripes[..., None]  # (h, w, 3)
    return colour, mask


def _paste(frame: np.ndarray, colour: np.ndarray, mask: np.ndarray, top: int, left: int) -> np.ndarray:
    """Paste a sprite at integer (top, left), clipped to the frame; return the covered mask."""
    H, W = frame.shape[:2]
    h, w = mask.shape
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + h, H), min(left + w, W)
    covered = np.zeros((H, W), dtype=bool)
    if y0 >= y1 or x0 >= x1:
        return covered
    m = mask[y0 - top : y1 - top, x0 - left : x1 - left]
    frame[y0:y1, x0:x1][m] = colour[y0 - top : y1 - top, x0 - left : x1 - left][m]
    covered[y0:y1, x0:x1] = m
    return covered


def render_triplet(photos: list[np.ndarray], cfg: SyntheticConfig, index: int) -> dict[str, np.ndarray]:
    """Render sample ``index``.

    Returns:
        ``frames``: float32 (3, H, W, 3) in [0, 1], at times 0, 0.5, 1.
        ``flow``: float32 (2, H, W), motion from frame 0 to frame 1 in pixels (x, y).
    """
    rng = np.random.default_rng([cfg.seed, index])
    H, W = cfg.height, cfg.width
    pad = cfg.camera_motion
    photo, still = _scene(
        cfg, photos[rng.integers(len(photos))], [cfg.seed, index], (H + 2 * pad, W + 2 * pad)
    )
    cam = _even(rng, cfg.camera_motion) * (not still)  # (dy, dx) of the scene content
    oy = rng.integers(pad, photo.shape[0] - H - pad + 1) if photo.shape[0] >= H + 2 * pad else 0
    ox = rng.integers(pad, photo.shape[1] - W - pad + 1) if photo.shape[1] >= W + 2 * pad else 0
    frames = np.empty((3, H, W, 3), dtype=np.float32)
    flow = np.empty((2, H, W), dtype=np.float32)
    flow[0], flow[1] = cam[1], cam[0]
    sprites = [_sprite(rng, cfg.sprite_size) for _ in range(rng.integers(cfg.sprites[0], cfg.sprites[1] + 1))]
    starts = [rng.integers([-8, -8], [H - 4, W - 4]) for _ in sprites]
    motions = [_even(rng, cfg.max_motion) for _ in sprites]
    for k, t in enumerate((0.0, 0.5, 1.0)):
        sy, sx = int(oy - cam[0] * t), int(ox - cam[1] * t)
        sy, sx = np.clip(sy, 0, photo.shape[0] - H), np.clip(sx, 0, photo.shape[1] - W)
        frames[k] = photo[sy : sy + H, sx : sx + W] / np.float32(255)
        for (colour, mask), start, motion in zip(sprites, starts, motions, strict=True):
            pos = start + (motion * t).astype(int)
            covered = _paste(frames[k], colour, mask, int(pos[0]), int(pos[1]))
            if k == 0:
                flow[0][covered], flow[1][covered] = motion[1], motion[0]
    return {"frames": frames, "flow": flow}


def _camera_path(
    rng: np.random.Generator, photo_shape: tuple[int, ...], size: tuple[int, int], limit: int, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Constant camera velocity (dy, dx) and the window origin at frame 0, so every frame stays inside."""
    velocity = rng.integers(-limit, limit + 1, size=2)
    origin = np.zeros(2, dtype=np.int64)
    for axis in range(2):
        room = photo_shape[axis] - size[axis]  # the window's top/left may range over [0, room]
        if steps and abs(velocity[axis]) * steps > room:
            velocity[axis] = np.sign(velocity[axis]) * (room // steps)  # slow down to fit the photo
        travel = velocity[axis] * steps  # window origin at frame k is origin - velocity * k
        origin[axis] = rng.integers(max(travel, 0), room + min(travel, 0) + 1)
    return velocity, origin


def render_clip(
    photos: list[np.ndarray], cfg: SyntheticConfig, index: int, frames: int
) -> dict[str, np.ndarray]:
    """Render clip ``index``: ``frames`` consecutive frames of one scene moving at constant velocity.

    The camera pans by a whole number of pixels per frame, up to ``cfg.camera_motion`` per axis,
    and each sprite moves by up to ``cfg.max_motion`` (the config's bounds, read as the motion
    between consecutive frames). Frame k is the photo window shifted by k times the camera
    velocity with each sprite at ``start + k * velocity``: exact, no resampling. Each sprite is
    placed so it is near the view in the middle of the clip. A pure function of
    (``cfg.seed``, ``index``, ``frames``); :func:`render_triplet` is unaffected.

    Returns:
        ``frames``: float32 (frames, H, W, 3) in [0, 1].
        ``flow``: float32 (2, H, W), motion from each frame to the next in pixels (x, y), as seen
        in frame 0 (sprites drawn later cover earlier ones).
    """
    if frames < 1:
        raise ConfigError(f"a clip needs at least 1 frame, got {frames}")
    rng = np.random.default_rng([cfg.seed, index, frames])
    H, W = cfg.height, cfg.width
    span = cfg.camera_motion * max(frames - 1, 0)
    key, size = [cfg.seed, index, frames], (H + span, W + span)
    photo, still = _scene(cfg, photos[rng.integers(len(photos))], key, size)
    cam, origin = _camera_path(rng, photo.shape, (H, W), 0 if still else cfg.camera_motion, frames - 1)
    sprites = [_sprite(rng, cfg.sprite_size) for _ in range(rng.integers(cfg.sprites[0], cfg.sprites[1] + 1))]
    velocities = [rng.integers(-cfg.max_motion, cfg.max_motion + 1, size=2) for _ in sprites]
    middles = [rng.integers([-8, -8], [H - 4, W - 4]) for _ in sprites]
    starts = [m - v * ((frames - 1) // 2) for m, v in zip(middles, velocities, strict=True)]
    out = np.empty((frames, H, W, 3), dtype=np.float32)
    flow = np.empty((2, H, W), dtype=np.float32)
    flow[0], flow[1] = cam[1], cam[0]
    for k in range(frames):
        sy, sx = origin - cam * k
        out[k] = photo[sy : sy + H, sx : sx + W] / np.float32(255)
        for (colour, mask), start, velocity in zip(sprites, starts, velocities, strict=True):
            pos = start + velocity * k
            covered = _paste(out[k], colour, mask, int(pos[0]), int(pos[1]))
            if k == 0:
                flow[0][covered], flow[1][covered] = velocity[1], velocity[0]
    return {"frames": out, "flow": flow}
