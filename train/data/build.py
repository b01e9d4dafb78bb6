"""From a :class:`DataConfig` to a torch Dataset: open each source, cut samples, concatenate."""

from __future__ import annotations

from corrwise.errors import ConfigError, InputError
from corrwise.extras import import_for
from corrwise.train.data.config import DataConfig, SourceConfig
from corrwise.train.data.images import FolderSequence
from corrwise.train.data.interpolation import InterpolationSamples
from corrwise.train.data.kitti import open_kitti
from corrwise.train.data.prediction import PredictionClips
from corrwise.train.data.sequence import FrameSequence
from corrwise.train.data.shots import split_into_shots
from corrwise.train.data.synthetic import SyntheticInterpolation, SyntheticPrediction
from corrwise.train.data.video import VideoSequence
from corrwise.train.data.vimeo import open_vimeo
from torch.utils.data import ConcatDataset, Dataset, Subset

TASKS = ("predict", "interpolate")


def open_sequences(source: SourceConfig) -> list[FrameSequence]:
    """The frame sequences of a file-backed source (every kind except ``synthetic``)."""
    kind = source.kind
    if kind == "synthetic":
        raise ConfigError("a synthetic source renders samples directly and has no frame sequences")
    if kind == "folder":
        return [FolderSequence(source.path)]
    if kind == "kitti":
        return list(open_kitti(source.path, camera=source.camera))
    if kind == "video":
        return [VideoSequence(source.path, max_side=source.max_side)]
    if kind in ("vimeo-triplet", "vimeo-septuplet"):
        layout = kind.split("-", 1)[1]
        return list(open_vimeo(source.path, layout=layout, list_file=source.list_file, split=source.split))
    samples = import_for("corrwise.runtime.samples", None, "sample clips")
    return [VideoSequence(samples.sample_video(source.name), max_side=source.max_side, name=source.name)]


def open_shots(source: SourceConfig, min_length: int) -> list[FrameSequence]:
    """:func:`open_sequences`, with videos split into shots of at least ``min_length`` frames.

    Applies to ``video`` and ``sample-clip`` sources whose ``scene_cuts`` is on (the
    default); other sources are returned as they are.
    """
    sequences = open_sequences(source)
    if not (source.scene_cuts and source.kind in ("video", "sample-clip")):
        return sequences
    return [shot for sequence in sequences for shot in split_into_shots(sequence, min_length)]


def build_dataset(task: str, config: DataConfig) -> ConcatDataset:
    """The samples of ``task`` (``predict`` or ``interpolate``) from every source, concatenated.

    Items are dicts of float32 tensors in [-1, 1]; predict: ``context`` (K, 3, H, W) and
    ``future`` (horizon, 3, H, W); interpolate: ``frame0``, ``frame1``, ``target`` (3, H, W)
    and ``timestep`` (0-d), plus ``flow`` (2, H, W) when every source is synthetic.
    Source k draws its crops and flips from seed ``config.seed + k``. Synthetic sources
    render ``config.length`` samples of ``config.synthetic``; ``skip``, ``span`` and
    ``random_t`` do not apply to them (their motion is set by the synthetic config and
    their interpolation target is always the midpoint).
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    with_flow = all(source.kind == "synthetic" for source in config.sources)
    parts = [
        _source_dataset(task, config, source, config.seed + k, with_flow)
        for k, source in enumerate(config.sources)
    ]
    if config.crop is None:
        _check_sizes(parts, config.sources)
    return ConcatDataset(parts)


def set_epoch(dataset: Dataset, epoch: int) -> None:
    """Switch every part of ``dataset`` (through ConcatDataset and Subset) to ``epoch``'s augmentation.

    Call it before creating the DataLoader iterator of that epoch, so worker processes get it.
    """
    if isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            set_epoch(part, epoch)
    elif isinstance(dataset, Subset):
        set_epoch(dataset.dataset, epoch)
    elif hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)


def _source_dataset(task: str, config: DataConfig, source: SourceConfig, seed: int, flow: bool) -> Dataset:
    """The samples of one source."""
    crop, flip = config.crop, config.flip
    if source.kind == "synthetic":
        if task == "predict":
            return SyntheticPrediction(
                config.synthetic, config.length, config.context, config.horizon, crop, flip, seed
            )
        return SyntheticInterpolation(config.synthetic, config.length, crop, flip, seed, flow=flow)
    sequences = open_shots(source, window_length(task, config))
    if task == "predict":
        return PredictionClips(sequences, config.context, config.horizon, config.skip, crop, flip, seed)
    return InterpolationSamples(sequences, config.span, config.skip, config.random_t, crop, flip, seed)


def window_length(task: str, config: DataConfig) -> int:
    """Frames, first to last, that one sample of ``task`` spans."""
    if task == "predict":
        return (config.context + config.horizon - 1) * config.skip + 1
    return config.span * config.skip + 1


def _check_sizes(parts: list[Dataset], sources: tuple[SourceConfig, ...]) -> None:
    """Without a crop, every source must give samples of one size, or batches cannot be stacked."""
    sizes = [part.size for part in parts]
    if len(set(sizes)) > 1:
        listed = ", ".join(
            f"{source.kind} {source.path or source.name or ''}".rstrip() + f" {w}x{h}"
            for source, (h, w) in zip(sources, sizes, strict=True)
        )
        raise InputError(
            f"the data sources give frames of different sizes ({listed}); batching needs equal sizes "
            f"or a crop: set data.crop to [height, width] no larger than the smallest frames"
        )
