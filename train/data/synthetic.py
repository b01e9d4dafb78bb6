"""The built-in synthetic data as sample datasets: sprites over scikit-image photos.

Content is a pure function of (``config.seed``, index); the optional crop and
flip draws are a pure function of (``seed``, epoch, index). Nothing is read
from disk except the photos shipped inside scikit-image.
"""

from __future__ import annotations

import torch
from corrwise.errors import ConfigError
from corrwise.train.data.augment import Augment, Window, check_seed, sample_rng
from corrwise.train.synthetic import SyntheticConfig, load_photos, render_clip, render_triplet
from torch.utils.data import Dataset


class SyntheticTriplets(Dataset):
    """Interpolation samples rendered by :func:`render_triplet`; the embedded default data.

    Item ``i`` is a dict of float32 tensors:
        ``frame0``, ``frame1``: (3, H, W) in [-1, 1], the frames at t = 0 and t = 1.
        ``target``: (3, H, W) in [-1, 1], the frame at t = 0.5.
        ``flow``: (2, H, W), ground-truth motion frame0 -> frame1 in pixels (x, y).
    """

    def __init__(self, config: SyntheticConfig | None = None, length: int = 100_000) -> None:
        self.config = config or SyntheticConfig()
        self.length = length
        pad = 2 * self.config.camera_motion
        self.photos = load_photos(self.config.height + pad, self.config.width + pad)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        sample = render_triplet(self.photos, self.config, index)
        frames = torch.from_numpy(sample["frames"]).permute(0, 3, 1, 2) * 2 - 1  # (3, 3, H, W)
        return {
            "frame0": frames[0],
            "target": frames[1],
            "frame1": frames[2],
            "flow": torch.from_numpy(sample["flow"]),
        }


class _Augmented:
    """Crop/flip state shared by the synthetic datasets (the same rules as the frame datasets)."""

    def _setup(self, crop: tuple[int, int] | None, flip: bool, seed: int) -> None:
        check_seed(seed)
        self.augment = Augment(crop, flip)
        self.augment.check((self.config.height, self.config.width), "synthetic")
        self.seed, self.epoch = int(seed), 0

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames in every sample."""
        return self.augment.output_size((self.config.height, self.config.width))

    def set_epoch(self, epoch: int) -> None:
        """Use the crop and flip draws of ``epoch`` (>= 0) from now on."""
        check_seed(self.seed, epoch)
        self.epoch = int(epoch)

    def _window(self, index: int) -> Window:
        rng = sample_rng(self.seed, self.epoch, index) if self.augment.random else None
        return self.augment.draw((self.config.height, self.config.width), rng, "synthetic")


class SyntheticInterpolation(_Augmented, SyntheticTriplets):
    """:class:`SyntheticTriplets` in the interpolation sample format: adds ``timestep`` (always 0.5).

    Item keys: ``frame0``, ``frame1``, ``target`` (3, H, W) in [-1, 1], ``timestep`` 0-d float32,
    and ``flow`` (2, H, W) in pixels (x, y) unless ``flow=False`` (leave it out to batch with
    real data, which has none). Crop and flip cut the flow alike (a flip negates its x).
    """

    def __init__(
        self,
        config: SyntheticConfig | None = None,
        length: int = 100_000,
        crop: tuple[int, int] | None = None,
        flip: bool = False,
        seed: int = 0,
        flow: bool = True,
    ) -> None:
        super().__init__(config, length)
        self._setup(crop, flip, seed)
        self.flow = flow

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        window = self._window(index)
        out = {key: window.planes(item[key]).contiguous() for key in ("frame0", "frame1", "target")}
        out["timestep"] = torch.tensor(0.5, dtype=torch.float32)
        if self.flow:
            out["flow"] = window.flow(item["flow"]).contiguous()
        return out


class SyntheticPrediction(_Augmented, Dataset):
    """Prediction samples rendered by :func:`render_clip`: a scene moving at constant velocity.

    Item ``i`` is a dict of float32 tensors in [-1, 1]:
        ``context``: (context, 3, H, W), oldest first.
        ``future``: (horizon, 3, H, W), the frames that follow, nearest first.

    Args:
        config: size and motion (per frame) of the rendered clips.
        length: number of samples.
        context, horizon: frames in and frames to predict (each >= 1).
        crop, flip, seed: as in :class:`~corrwise.train.data.prediction.PredictionClips`.
    """

    def __init__(
        self,
        config: SyntheticConfig | None = None,
        length: int = 100_000,
        context: int = 3,
        horizon: int = 1,
        crop: tuple[int, int] | None = None,
        flip: bool = False,
        seed: int = 0,
    ) -> None:
        if context < 1 or horizon < 1 or length < 0:
            raise ConfigError(
                f"context and horizon must be >= 1 and length >= 0, got {context}, {horizon}, {length}"
            )
        self.config = config or SyntheticConfig()
        self.length, self.context, self.horizon = int(length), int(context), int(horizon)
        pad = self.config.camera_motion * (context + horizon - 1)  # room for the whole pan
        self.photos = load_photos(self.config.height + pad, self.config.width + pad)
        self._setup(crop, flip, seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        clip = render_clip(self.photos, self.config, index, self.context + self.horizon)
        frames = torch.from_numpy(clip["frames"]).permute(0, 3, 1, 2) * 2 - 1  # (K + horizon, 3, H, W)
        frames = self._window(index).planes(frames).contiguous()
        return {"context": frames[: self.context], "future": frames[self.context :]}
