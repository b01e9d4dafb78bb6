"""Baselines a learned model must beat, for video prediction and frame interpolation.

One convention throughout: frames are torch tensors (B, 3, H, W) in [-1, 1],
the models' own convention, so the evaluator runs baselines and models on the
same tensors. Frames go in oldest first; every baseline returns one new frame
(B, 3, H, W) in [-1, 1] (``minterpolate`` returns one per consecutive pair).

Prediction (frames t-K+1 ... t -> frame t+1):
    - :func:`copy_last`: frame t again (no motion).
    - :func:`dis_extrapolate`: constant velocity. DIS flow from frame t to
      frame t-1 says, for each pixel of t, where it was one frame earlier; the
      same offset read at the next frame's pixel points back to where that
      content is now, so ``backward_warp(frame_t, flow(t -> t-1))`` is frame t+1.

Interpolation (frames 0 and 1 -> frame at time t in (0, 1)):
    - :func:`blend`: ``(1 - t) * f0 + t * f1``.
    - :func:`dis_midpoint`: DIS flows both ways, both frames backward-warped to
      time t with Super SloMo's linear flow approximation (Jiang et al. 2018),
      blended with weights ``1 - t`` and ``t``.
    - :func:`minterpolate`: FFmpeg's motion-compensated ``minterpolate`` filter,
      run through PyAV's filter graph (see :data:`MINTERPOLATE_GRAPH`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from corrwise.errors import InputError
from corrwise.extras import import_for
from corrwise.train.flow import FlowEstimator, backward_warp, build_flow, check_image_pair

DIS_PRESET = "medium"  # the most accurate of OpenCV's presets, ~7 ms per 256x448 pair on a CPU
WARP_PADDING = "border"  # content entering at the border repeats the edge, for warps in both tasks
MINTERPOLATE_RATE = 25  # frame rate given to the filter's input; its output runs at twice that
MINTERPOLATE_OPTIONS = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"
MINTERPOLATE_FILTER = f"minterpolate=fps={2 * MINTERPOLATE_RATE}:{MINTERPOLATE_OPTIONS}"
# The whole graph: the filter needs planar YUV, and 4:4:4 keeps full chroma resolution (an RGB -> YUV ->
# RGB round trip alone costs about 0.4 levels of 255 on average).
MINTERPOLATE_GRAPH = f"format=yuv444p,{MINTERPOLATE_FILTER},format=rgb24"
MINTERPOLATE_MIN_SIDE = 32  # the filter refuses frames below two 16-pixel blocks a side
MINTERPOLATE_TAIL = 2  # the last frame is fed this many extra times so the filter flushes every midpoint


def _check_frames(frames: Sequence[torch.Tensor], least: int, what: str) -> None:
    """InputError unless ``frames`` holds >= ``least`` RGB tensors (B, 3, H, W) of one shape in [-1, 1]."""
    if isinstance(frames, torch.Tensor) or len(frames) < least:
        got = "a tensor" if isinstance(frames, torch.Tensor) else f"{len(frames)} frame(s)"
        raise InputError(f"{what}: expected a sequence of at least {least} frames (B, 3, H, W), got {got}")
    for frame in frames[1:]:
        check_image_pair(frames[0], frame, what)
    if frames[0].shape[1] != 3:
        raise InputError(f"{what}: expected RGB frames (B, 3, H, W), got {tuple(frames[0].shape)}")


def _dis(flow: FlowEstimator | None) -> FlowEstimator:
    """The given flow estimator, or a new OpenCV DIS one (preset :data:`DIS_PRESET`)."""
    return build_flow("dis", preset=DIS_PRESET) if flow is None else flow


def copy_last(frames: Sequence[torch.Tensor]) -> torch.Tensor:
    """Predict the next frame as the last one.

    Args:
        frames: oldest first, each (B, 3, H, W) in [-1, 1]; at least one.

    Returns:
        (B, 3, H, W) in [-1, 1]: a copy of ``frames[-1]``.
    """
    _check_frames(frames, 1, "copy_last")
    return frames[-1].clone()


@torch.no_grad()
def dis_extrapolate(frames: Sequence[torch.Tensor], flow: FlowEstimator | None = None) -> torch.Tensor:
    """Predict the next frame by constant-velocity extrapolation of DIS flow.

    Args:
        frames: oldest first, each (B, 3, H, W) in [-1, 1], H, W >= 12; the last two are used.
        flow: the estimator to use (reuse one across calls); None builds OpenCV DIS.

    Returns:
        (B, 3, H, W) in [-1, 1]: ``backward_warp(frames[-1], flow(frames[-1] -> frames[-2]))``,
        edges repeated where content enters the frame.
    """
    _check_frames(frames, 2, "dis_extrapolate")
    last, previous = frames[-1], frames[-2]
    back = _dis(flow)(last, previous).to(last.dtype)  # (B, 2, H, W) pixels, frame t -> t-1
    return backward_warp(last, back, padding_mode=WARP_PADDING).clamp(-1, 1)


def _timestep(t: float | torch.Tensor, like: torch.Tensor, what: str) -> torch.Tensor:
    """``t`` as a (B, 1, 1, 1) tensor on ``like``'s device and dtype; InputError outside [0, 1]."""
    value = torch.as_tensor(t, device=like.device, dtype=like.dtype)
    if value.numel() not in (1, like.shape[0]) or not bool(((value >= 0) & (value <= 1)).all()):
        raise InputError(f"{what}: t must be a number or one per image (B,) in [0, 1], got {t!r}")
    return value.reshape(-1, 1, 1, 1).expand(like.shape[0], 1, 1, 1)


def blend(frame0: torch.Tensor, frame1: torch.Tensor, t: float | torch.Tensor = 0.5) -> torch.Tensor:
    """Linear blend of two frames.

    Args:
        frame0, frame1: (B, 3, H, W) in [-1, 1].
        t: time of the output in [0, 1], a number or (B,) / (B, 1, 1, 1).

    Returns:
        (B, 3, H, W) in [-1, 1]: ``(1 - t) * frame0 + t * frame1``.
    """
    _check_frames([frame0, frame1], 2, "blend")
    weight = _timestep(t, frame0, "blend")
    return (1 - weight) * frame0 + weight * frame1


@torch.no_grad()
def dis_midpoint(
    frame0: torch.Tensor,
    frame1: torch.Tensor,
    t: float | torch.Tensor = 0.5,
    flow: FlowEstimator | None = None,
) -> torch.Tensor:
    """Flow-based interpolation with DIS flow in both directions.

    With F01, F10 the flows 0 -> 1 and 1 -> 0, the flows from time t back to the
    inputs are approximated as (Super SloMo, eq. 4)
    ``F_t0 = -(1 - t) t F01 + t^2 F10`` and ``F_t1 = (1 - t)^2 F01 - t (1 - t) F10``;
    both frames are backward-warped to time t and blended ``(1 - t) : t``.

    Args:
        frame0, frame1: (B, 3, H, W) in [-1, 1], H, W >= 12.
        t: time of the output in [0, 1], a number or (B,) / (B, 1, 1, 1).
        flow: the estimator to use (reuse one across calls); None builds OpenCV DIS.

    Returns:
        (B, 3, H, W) in [-1, 1].
    """
    _check_frames([frame0, frame1], 2, "dis_midpoint")
    weight = _timestep(t, frame0, "dis_midpoint")
    flow_01, flow_10 = _dis(flow).pair(frame0, frame1)  # each (B, 2, H, W) pixels
    flow_01, flow_10 = flow_01.to(frame0.dtype), flow_10.to(frame0.dtype)
    flow_t0 = -(1 - weight) * weight * flow_01 + weight**2 * flow_10  # (B, 2, H, W)
    flow_t1 = (1 - weight) ** 2 * flow_01 - weight * (1 - weight) * flow_10  # (B, 2, H, W)
    warped0 = backward_warp(frame0, flow_t0, padding_mode=WARP_PADDING)
    warped1 = backward_warp(frame1, flow_t1, padding_mode=WARP_PADDING)
    return ((1 - weight) * warped0 + weight * warped1).clamp(-1, 1)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8 RGB, rounded to the nearest level."""
    levels = ((frames.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return np.ascontiguousarray(levels.permute(0, 2, 3, 1).cpu().numpy())


def from_uint8(frames: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> (B, 3, H, W) in [-1, 1] on ``like``'s device and dtype."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # (B, 3, H, W) uint8
    return (tensor.to(device=like.device, dtype=like.dtype) / 127.5 - 1).contiguous()


def _minterpolate_graph(av: Any, height: int, width: int) -> Any:
    """A configured PyAV graph: rgb24 buffer -> :data:`MINTERPOLATE_GRAPH` -> buffersink."""
    graph = av.filter.Graph()
    chain = [
        graph.add_buffer(width=width, height=height, format="rgb24", time_base=Fraction(1, MINTERPOLATE_RATE))
    ]
    for spec in MINTERPOLATE_GRAPH.split(","):
        name, _, args = spec.partition("=")
        chain.append(graph.add(name, args))
    chain.append(graph.add("buffersink"))
    for source, sink in itertools.pairwise(chain):
        source.link_to(sink)
    graph.configure()
    return graph


def _pull_all(av: Any, graph: Any, into: dict[int, np.ndarray]) -> None:
    """Move every frame the graph has ready into ``into``, keyed by output pts (units of 1 / (2 * rate))."""
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        into[int(frame.pts)] = frame.to_ndarray(format="rgb24")


def minterpolate_uint8(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """FFmpeg ``minterpolate`` midpoints of uint8 RGB frames (H, W, 3): N frames in, N - 1 out.

    Frame i goes in at time i / 25 s; the filter doubles the rate to 50 fps, so
    output pts ``2 i + 1`` (in 1/50 s) is the midpoint of frames i and i + 1. The
    last frame is repeated twice after the end so the filter, which looks one
    frame ahead, emits every midpoint before the flush.
    """
    av = import_for("av", None, "the minterpolate baseline")
    height, width = frames[0].shape[:2]
    if min(height, width) < MINTERPOLATE_MIN_SIDE:
        raise InputError(
            f"minterpolate needs frames of at least {MINTERPOLATE_MIN_SIDE}x{MINTERPOLATE_MIN_SIDE} "
            f"pixels, got {width}x{height}"
        )
    graph = _minterpolate_graph(av, height, width)
    outputs: dict[int, np.ndarray] = {}
    padded = [*frames, *[frames[-1]] * MINTERPOLATE_TAIL]
    for index, array in enumerate(padded):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
        frame.pts, frame.time_base = index, Fraction(1, MINTERPOLATE_RATE)
        graph.push(frame)
        _pull_all(av, graph, outputs)
    graph.push(None)
    _pull_all(av, graph, outputs)
    missing = [i for i in range(len(frames) - 1) if 2 * i + 1 not in outputs]
    if missing:
        raise InputError(
            f"minterpolate produced no midpoint after input frame(s) {missing} of {len(frames)} "
            f"({width}x{height}); the filter graph was {MINTERPOLATE_GRAPH!r}"
        )
    return [outputs[2 * i + 1] for i in range(len(frames) - 1)]


def minterpolate(frames: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Midpoints of consecutive frames by FFmpeg's motion-compensated interpolation.

    Runs the PyAV filter graph :data:`MINTERPOLATE_GRAPH`,
    ``format=yuv444p,minterpolate=fps=50:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1,format=rgb24``,
    on the frames fed at 25 fps, and keeps the frames it synthesises halfway
    between inputs. Each image of the batch is its own sequence. Scene-change
    detection keeps FFmpeg's defaults (``scd=fdiff``), as in the usual recipe.
    Results are 8-bit: inputs are rounded to 8 bits first.

    Args:
        frames: oldest first, N >= 2 frames (B, 3, H, W) in [-1, 1], H, W >= 32. Give the filter
            just the pair to interpolate, or longer runs for its temporal predictors.

    Returns:
        N - 1 frames (B, 3, H, W) in [-1, 1] on 8-bit levels; item i lies halfway
        between ``frames[i]`` and ``frames[i + 1]``.
    """
    _check_frames(frames, 2, "minterpolate")
    arrays = [to_uint8(frame) for frame in frames]  # N x (B, H, W, 3)
    batch = frames[0].shape[0]
    per_image = [minterpolate_uint8([a[b] for a in arrays]) for b in range(batch)]  # B x (N - 1)
    return [
        from_uint8(np.stack([per_image[b][i] for b in range(batch)]), frames[0])
        for i in range(len(frames) - 1)
    ]
