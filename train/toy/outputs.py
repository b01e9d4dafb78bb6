"""The toy experiment's files: the figure (PNG), the training video (MP4 and GIF), the metrics (JSON).

Pictures are drawn with PIL; every file is written atomically, so a final name
never holds a half-written file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from corrwise.atomic import atomic_output
from corrwise.extras import import_for
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MARGIN = 6  # pixels between tiles
FONT_SIZE = 13
VIDEO_FPS = 10


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [-1, 1] -> uint8 (H, W, 3) RGB."""
    array = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    return array.byte().permute(1, 2, 0).numpy()


def _tile(image: torch.Tensor, scale: int) -> Image.Image:
    """An image tile enlarged ``scale`` times with nearest neighbours (pixels stay visible)."""
    tile = Image.fromarray(to_uint8(image))
    return tile.resize((tile.width * scale, tile.height * scale), Image.Resampling.NEAREST)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=FONT_SIZE)


def labelled_row(images: Sequence[torch.Tensor], headers: Sequence[str], footers: Sequence[str],
                 title: str, scale: int) -> Image.Image:  # fmt: skip
    """Tiles side by side, a header above and a footer below each, a title line on top: RGB image."""
    tiles = [_tile(image, scale) for image in images]
    font, line = _font(), FONT_SIZE + 4
    width = sum(t.width for t in tiles) + MARGIN * (len(tiles) + 1)
    height = tiles[0].height + 2 * MARGIN + 4 * line
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN, MARGIN // 2), title, fill=INK, font=font)
    x = MARGIN
    for tile, header, footer in zip(tiles, headers, footers, strict=True):
        draw.text((x, MARGIN + line), header, fill=INK, font=font)
        canvas.paste(tile, (x, MARGIN + 2 * line))
        draw.multiline_text((x, MARGIN + 2 * line + tile.height + 2), footer, fill=INK, font=font, spacing=2)
        x += tile.width + MARGIN
    return canvas


def save_png(image: Image.Image, path: Path) -> Path:
    """Write ``image`` as PNG at ``path`` atomically."""
    with atomic_output(path, suffix=".png") as tmp:
        image.save(tmp, format="PNG", optimize=True)
    return path


def save_gif(frames: Sequence[Image.Image], path: Path, fps: int = VIDEO_FPS) -> Path:
    """An endlessly looping GIF of ``frames`` (same size, RGB), the last frame held for 2 seconds."""
    paletted = [frame.convert("P", palette=Image.Palette.ADAPTIVE, colors=128) for frame in frames]
    durations = [round(1000 / fps)] * (len(frames) - 1) + [2000]
    with atomic_output(path, suffix=".gif") as tmp:
        paletted[0].save(tmp, format="GIF", save_all=True, append_images=paletted[1:], duration=durations,
                         loop=0, optimize=True)  # fmt: skip
    return path


def save_mp4(frames: Sequence[Image.Image], path: Path, fps: int = VIDEO_FPS) -> Path:
    """H.264 MP4 (yuv420p, crf 18) of ``frames`` (same size, RGB); odd sizes are padded by one pixel."""
    av = import_for("av", None, "the toy experiment's MP4 video")
    width, height = frames[0].width + frames[0].width % 2, frames[0].height + frames[0].height % 2
    with atomic_output(path, suffix=".mp4") as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18"}
        for frame in frames:
            padded = Image.new("RGB", (width, height), BACKGROUND)
            padded.paste(frame, (0, 0))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(padded), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def save_json(data: Mapping[str, Any], path: Path) -> Path:
    """``data`` as indented JSON at ``path``, atomically."""
    with atomic_output(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
    return path
