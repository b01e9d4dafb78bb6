"""``match``: weight-free global patch matching, then Lucas–Kanade refinement.

Coarse-to-fine flow methods (DIS included) start from zero motion at a coarse
scale, where a small object has vanished into the background, so they miss an
object that jumps further than its own size over a static scene — the
correspondence-wise loss's most important case. This estimator instead compares
every patch of A with *every* patch of B:

1. Both images are area-downsampled so the matching grid has at most
   ``max_positions`` cells (this caps time, O(N²), and memory).
2. Each cell is described by its ``patch`` x ``patch`` colour neighbourhood,
   normalised to zero mean and unit length (normalised cross-correlation).
3. All-pairs similarities, minus a small cost on displacement length, are
   computed in row chunks (memory bounded by ``chunk`` x N); one pass gives the
   best match in both directions. This search only picks *where* to look, so it
   runs in bfloat16 by default (``search_precision``): several times faster on
   CPUs and GPUs with bf16 units, and it finds the same matches.
4. A soft-argmax over the best match's neighbourhood gives a sub-cell,
   differentiable displacement; cells whose patch is flat get zero flow.
5. Cells whose match is not mutual (A → B → A lands more than 1.5 cells away)
   or whose patch is flat take the confidence-weighted mean of ever wider
   neighbourhoods; with no reliable neighbour at all they keep zero flow.
6. The flow is upsampled to full size and refined: a smoothed pyramid
   Lucas–Kanade estimate down to half size (right for camera motion) and the
   matched flow (right for small objects) are fused per pixel by local warping
   error, then polished by a full-size Lucas–Kanade step for sub-pixel
   precision. Both directions are refined as one batch.

Everything is batched torch code, runs on CPU and GPU, and is differentiable
with respect to both images (the argmax picks *where* to look; the soft-argmax
and the refinement carry the gradients).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.train.flow.base import FlowEstimator, check_image_pair
from corrwise.train.flow.warp import backward_warp, resize_flow

DAMPING = 1e-4  # Tikhonov term of the Lucas–Kanade solve ([-1, 1] intensity² per px²)
SMOOTH_FINEST = 1  # finest pyramid level (relative to the refinement's) of the smoothed hypothesis
SMOOTH = 17  # box smoothing (px of each level) of the camera-motion hypothesis
POLISH = 7  # box smoothing (px) of the final full-size steps
POLISH_ITERS = 1  # final full-size steps; each more gains ~0.02 px on camera motion for ~15 % of the time
FUSE_TEMPERATURE = 0.002  # softmin temperature on mean absolute warping error ([-1, 1] units)
FILL_SIZES = (3, 7, 15, 31)
SEARCH_DTYPES = {
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
}  # neighbourhoods (cells) that fill unreliable cells


class MatchFlow(FlowEstimator):
    """Global patch matching with local refinement; no learned weights.

    Args:
        max_positions: largest matching grid (cells); the images are downsampled
            by at least ``min_stride`` and until H*W/stride² <= max_positions.
            4096 cells cost about 1.3 GFLOP per image pair.
        min_stride: smallest downsampling factor of the matching grid (>= 1).
        patch: odd side of the compared patches, in matching cells.
        temperature: soft-argmax temperature on cosine similarity (lower = sharper).
        radius: half-side of the soft-argmax neighbourhood around the best match (cells).
        length_cost: similarity subtracted per image diagonal of displacement; breaks
            ties between repeated textures in favour of short motion.
        flat_threshold: patch standard deviation (in [-1, 1] units) below which a cell
            is flat and gets zero flow; flow reaches full strength at twice this value.
        refine_iters: Lucas–Kanade iterations per pyramid level (0 turns refinement off).
        refine_window: odd side (pixels of its level) of the Lucas–Kanade aggregation window.
        refine_level: finest pyramid level of the refinement (0 full size, 1 half, 2 quarter);
            the refined flow is upsampled from there. Half size keeps sub-pixel accuracy
            on camera motion at a third of the cost of full size.
        chunk: query cells per correlation block; bounds memory to B x chunk x N floats.
    """

    name: ClassVar[str] = "match"
    differentiable: ClassVar[bool] = True

    def __init__(
        self,
        max_positions: int = 4096,
        min_stride: float = 2.0,
        patch: int = 5,
        temperature: float = 0.05,
        radius: int = 1,
        length_cost: float = 0.05,
        flat_threshold: float = 0.01,
        refine_iters: int = 3,
        refine_window: int = 7,
        refine_level: int = 0,
        search_precision: str = "bfloat16",
        chunk: int = 1024,
    ) -> None:
        super().__init__()
        if max_positions < 16 or chunk < 1 or min_stride < 1:
            raise ConfigError("max_positions must be >= 16, chunk >= 1 and min_stride >= 1")
        if patch < 1 or patch % 2 == 0 or refine_window < 3 or refine_window % 2 == 0:
            raise ConfigError(f"patch and refine_window must be odd, got {patch} and {refine_window}")
        if search_precision not in SEARCH_DTYPES:
            raise ConfigError(
                f"search_precision must be one of {sorted(SEARCH_DTYPES)}, got {search_precision!r}"
            )
        if refine_level not in (0, 1, 2):
            raise ConfigError(
                f"refine_level must be 0 (full size), 1 (half) or 2 (quarter), got {refine_level}"
            )
        if temperature <= 0 or radius < 1 or length_cost < 0 or flat_threshold < 0 or refine_iters < 0:
            raise ConfigError("temperature must be > 0, radius >= 1, and the other weights >= 0")
        self.max_positions = max_positions
        self.min_stride = float(min_stride)
        self.patch = patch
        self.temperature = temperature
        self.radius = radius
        self.length_cost = length_cost
        self.flat_threshold = flat_threshold
        self.refine_iters = refine_iters
        self.refine_window = refine_window
        self.refine_level = refine_level
        self.search_precision = search_precision
        self.chunk = chunk
        self._penalty_cache: tuple[tuple, torch.Tensor] | None = None

    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self._match(a, b, both=False)[0]

    def pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(flow A → B, flow B → A) from one all-pairs pass; each (B, 2, H, W) in pixels."""
        check_image_pair(a, b)
        flow_ab, flow_ba = self._match(a, b, both=True)
        return flow_ab, flow_ba

    def matching_size(self, height: int, width: int) -> tuple[int, int]:
        """Matching-grid size (h, w) for an H x W image."""
        stride = max(self.min_stride, math.sqrt(height * width / self.max_positions))
        return max(1, round(height / stride)), max(1, round(width / stride))

    def _match(self, a: torch.Tensor, b: torch.Tensor, both: bool) -> list[torch.Tensor]:
        """Flow A → B, and B → A when ``both``; each (B, 2, H, W) float32 pixels."""
        a, b = a.float(), b.float()
        height, width = a.shape[2:]
        h, w = self.matching_size(height, width)
        feat_a, conf_a = self._features(F.interpolate(a, size=(h, w), mode="area"))  # (B, N, D), (B, N)
        feat_b, conf_b = self._features(F.interpolate(b, size=(h, w), mode="area"))
        cells = _cell_positions(h, w, a)  # (N, 2) x, y in cells
        best_ab, best_ba = self._best_matches(feat_a, feat_b, cells, (h, w))
        stride = (height / h + width / w) / 2
        if both:  # both directions go through the remaining steps as one batch of 2B
            src, dst, feat_src, feat_dst = (
                torch.cat(p) for p in ((a, b), (b, a), (feat_a, feat_b), (feat_b, feat_a))
            )
            best = torch.cat((best_ab, best_ba))
            conf = torch.cat(
                (conf_a * _consistent(best_ab, best_ba, cells), conf_b * _consistent(best_ba, best_ab, cells))
            )
        else:
            src, dst, feat_src, feat_dst, best = a, b, feat_a, feat_b, best_ab
            conf = conf_a * _consistent(best_ab, best_ba, cells)
        cells_flow = self._soft_argmax(feat_src, feat_dst, best, cells, (h, w))  # (B', N, 2)
        coarse = _fill(cells_flow.transpose(1, 2).reshape(-1, 2, h, w), conf.view(-1, 1, h, w))
        flow = self._refine(src, dst, resize_flow(coarse, (height, width)), stride)
        return list(flow.chunk(2)) if both else [flow]

    def _features(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit-length, zero-mean colour patches (B, N, D) and flatness confidence (B, N) in [0, 1]."""
        pad = self.patch // 2
        mode = "reflect" if min(image.shape[2:]) > pad else "replicate"
        padded = F.pad(image, (pad, pad, pad, pad), mode=mode)
        patches = F.unfold(padded, self.patch)  # (B, D, N)
        patches = patches - patches.mean(dim=1, keepdim=True)
        norm = patches.norm(dim=1)  # (B, N)
        std = norm / math.sqrt(patches.shape[1])
        if self.flat_threshold > 0:
            conf = (std / self.flat_threshold - 1).clamp(0, 1)
        else:
            conf = torch.ones_like(std)
        unit = patches / (norm.unsqueeze(1) + 1e-6)  # (B, D, N)
        return unit.transpose(1, 2), conf

    @torch.no_grad()
    def _best_matches(
        self, feat_a: torch.Tensor, feat_b: torch.Tensor, cells: torch.Tensor, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Index (B, N) of the best cell of B for each cell of A, and of A for each cell of B."""
        batch, n, _ = feat_a.shape
        best_ab = torch.empty(batch, n, dtype=torch.long, device=feat_a.device)
        col_score = torch.full((batch, n), -math.inf, device=feat_a.device)
        best_ba = torch.zeros(batch, n, dtype=torch.long, device=feat_a.device)
        dtype = SEARCH_DTYPES[self.search_precision]
        col_score = col_score.to(dtype)
        feat_a, feat_b_t = (
            feat_a.to(dtype),
            feat_b.transpose(1, 2).contiguous().to(dtype),
        )  # (B, N, D), (B, D, N)
        length_penalty = self._length_penalty(cells, size, dtype)  # (N, N)
        for start in range(0, n, self.chunk):
            stop = min(start + self.chunk, n)
            block = torch.bmm(feat_a[:, start:stop], feat_b_t)  # (B, chunk, N)
            block -= length_penalty[start:stop].unsqueeze(0)
            best_ab[:, start:stop] = block.max(dim=2).indices
            score, row = _column_max(block)  # (B, N)
            better = score > col_score
            col_score = torch.where(better, score, col_score)
            best_ba = torch.where(better, row + start, best_ba)
        return best_ab, best_ba

    def _length_penalty(self, cells: torch.Tensor, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        """(N, N) displacement cost: ``length_cost`` per grid diagonal of distance, cached for the last grid.

        The grid only changes with the frame size, and recomputing the N² distances
        costs as much as a third of the search; the cache holds N² values of ``dtype``.
        """
        key = (size, cells.device, dtype, self.length_cost)
        if self._penalty_cache is None or self._penalty_cache[0] != key:
            per_cell = self.length_cost / math.hypot(*size)
            self._penalty_cache = (key, (per_cell * torch.cdist(cells, cells)).to(dtype))
        return self._penalty_cache[1]

    def _soft_argmax(
        self,
        feat_src: torch.Tensor,
        feat_dst: torch.Tensor,
        best: torch.Tensor,
        cells: torch.Tensor,
        size: tuple[int, int],
    ) -> torch.Tensor:
        """Sub-cell displacement (B, N, 2), in cells, from a soft-argmax around each best match."""
        h, w = size
        r = self.radius
        steps = torch.arange(-r, r + 1, device=best.device)
        dy, dx = torch.meshgrid(steps, steps, indexing="ij")
        by, bx = (best // w).unsqueeze(-1), (best % w).unsqueeze(-1)  # (B, N, 1)
        ny, nx = by + dy.reshape(1, 1, -1), bx + dx.reshape(1, 1, -1)  # (B, N, K)
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        index = (ny.clamp(0, h - 1) * w + nx.clamp(0, w - 1)).flatten(1)  # (B, N*K)
        batch, n, dim = feat_dst.shape
        rows = (index + n * torch.arange(batch, device=index.device).unsqueeze(1)).flatten()
        gathered = feat_dst.reshape(batch * n, dim).index_select(0, rows).view(batch, n, -1, dim)
        sims = (gathered * feat_src.unsqueeze(2)).sum(-1)  # (B, N, K)
        target = cells[index].view(batch, n, -1, 2)  # (B, N, K, 2)
        length = (target - cells.view(1, n, 1, 2)).norm(dim=-1)
        sims = sims - self.length_cost / math.hypot(h, w) * length
        weights = torch.softmax(sims.masked_fill(~inside, -math.inf) / self.temperature, dim=-1)
        return (weights.unsqueeze(-1) * target).sum(2) - cells.unsqueeze(0)  # (B, N, 2)

    def _refine(
        self, src: torch.Tensor, dst: torch.Tensor, coarse: torch.Tensor, stride: float
    ) -> torch.Tensor:
        """Two hypotheses, fused per pixel by warping error, then polished at full size.

        ``smooth``: pyramid Lucas–Kanade from above the matching scale with strong
        smoothing — accurate for camera motion, but it blurs small moving objects
        away. ``coarse``: the matched flow itself — right on small objects. Each
        pixel takes the one that warps ``dst`` onto ``src`` better around it.
        """
        if self.refine_iters == 0:
            return coarse
        height, width = src.shape[2:]
        finest = self.refine_level
        size = (max(1, height >> finest), max(1, width >> finest))
        if finest:
            src, dst = F.interpolate(src, size=size, mode="area"), F.interpolate(dst, size=size, mode="area")
            coarse = resize_flow(coarse, size)
        top = max(0, min(3, int(math.log2(max(stride, 1.0))) + 1) - finest)
        iters, window = self.refine_iters, self.refine_window
        smooth = _pyramid_lk(src, dst, coarse, list(range(top, SMOOTH_FINEST - 1, -1)), iters, window, SMOOTH)
        fused = _fuse(src, dst, (coarse, smooth), window)
        fine = _pyramid_lk(src, dst, fused, [0], min(iters, POLISH_ITERS), window, POLISH)
        return resize_flow(fine, (height, width)) if finest else fine


def _pyramid_lk(
    src: torch.Tensor,
    dst: torch.Tensor,
    flow: torch.Tensor,
    levels: list[int],
    iters: int,
    window: int,
    smooth: int,
) -> torch.Tensor:
    """Lucas–Kanade at each pyramid level (2**level downsampling), coarse to fine; flow (B, 2, H, W) px.

    After every step the flow is box-smoothed over ``smooth`` pixels of that level,
    a cheap stand-in for a smoothness prior that keeps weak-texture areas stable.
    """
    height, width = src.shape[2:]
    for level in levels:  # the flow moves level to level and reaches full size only at the end
        size = (max(1, height >> level), max(1, width >> level))
        src_l = F.interpolate(src, size=size, mode="area") if level else src
        dst_l = F.interpolate(dst, size=size, mode="area") if level else dst
        flow = resize_flow(flow, size)
        for _ in range(iters):
            flow = _box(flow + _lucas_kanade_step(src_l, dst_l, flow, window), smooth)
    return resize_flow(flow, (height, width))


def _fuse(src: torch.Tensor, dst: torch.Tensor, flows: tuple[torch.Tensor, ...], window: int) -> torch.Tensor:
    """Per-pixel soft choice (B, 2, H, W) among candidate flows by local warping error."""
    errors = [(backward_warp(dst, f, "border") - src).abs().mean(1, keepdim=True) for f in flows]
    errors = _box(torch.cat(errors, dim=1), window)  # (B, K, H, W)
    weights = torch.softmax(-errors / FUSE_TEMPERATURE, dim=1)
    return sum(weights[:, k : k + 1] * f for k, f in enumerate(flows))


def _cell_positions(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(N, 2) float (x, y) coordinates of the matching cells, row-major."""
    ys, xs = torch.meshgrid(
        torch.arange(h, device=like.device, dtype=torch.float32),
        torch.arange(w, device=like.device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack((xs.flatten(), ys.flatten()), dim=1)


def _lucas_kanade_step(src: torch.Tensor, dst: torch.Tensor, flow: torch.Tensor, window: int) -> torch.Tensor:
    """One Lucas–Kanade update (B, 2, H, W), pixels, that moves ``dst`` warped by ``flow`` onto ``src``.

    Gradients average both images (symmetric, robust to blur); a small Tikhonov
    term keeps the update near zero where there is no texture; steps are capped
    at 1 px so one bad window cannot throw the estimate far.
    """
    warped = backward_warp(dst, flow, padding_mode="border")  # (B, C, H, W)
    gx, gy = _gradients((warped + src) / 2)
    diff = warped - src
    pairs = ((gx, gx), (gy, gy), (gx, gy), (gx, diff), (gy, diff))
    products = torch.cat([(p * q).sum(1, keepdim=True) for p, q in pairs], dim=1)  # (B, 5, H, W)
    sxx, syy, sxy, bx, by = _box(products, window).split(1, dim=1)  # each (B, 1, H, W)
    sxx, syy = sxx + DAMPING, syy + DAMPING
    det = sxx * syy - sxy * sxy
    du = -(syy * bx - sxy * by) / det
    dv = -(sxx * by - sxy * bx) / det
    return torch.cat((du, dv), dim=1).clamp(-1.0, 1.0)  # (B, 2, H, W)


def _gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central-difference gradients (B, C, H, W) per pixel, replicate-padded."""
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    gx = (padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]) / 2
    gy = (padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]) / 2
    return gx, gy


def _column_max(block: torch.Tensor, group: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Max over dim 1 of ``block`` (B, R, N) and its row index, each (B, N).

    A reduction with indices across rows is slow on CPUs; a plain max over groups
    of ``group`` rows is fast. So: the best group per column, then the best row
    within it (exact; same result as ``block.max(dim=1)``, about twice as fast).
    """
    batch, rows, n = block.shape
    if rows % group:
        return block.max(dim=1)
    groups = block.view(batch, rows // group, group, n)
    score, best_group = groups.amax(dim=2).max(dim=1)  # (B, N)
    members = groups.gather(1, best_group.view(batch, 1, 1, n).expand(-1, -1, group, -1)).squeeze(1)
    return score, best_group * group + members.argmax(dim=1)


def _consistent(best_ab: torch.Tensor, best_ba: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """(B, N) 1.0 where A's best match in B maps back to within 1.5 cells of where it started, else 0.0."""
    back = best_ba.gather(1, best_ab)  # (B, N) cell of A reached by going A -> B -> A
    return ((cells[back] - cells.unsqueeze(0)).norm(dim=-1) <= 1.5).float()


def _fill(flow: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """Replace unreliable coarse flow (B, 2, h, w) by the confidence-weighted mean of ever wider
    neighbourhoods (normalised convolution); cells with no reliable neighbour at all keep zero flow."""
    flow = flow * conf
    for size in FILL_SIZES:
        weight = _window_mean(conf, size)  # (B, 1, h, w)
        filled = _window_mean(flow * conf, size) / weight.clamp_min(1e-6)
        flow = conf * flow + (1 - conf) * filled
        conf = torch.maximum(conf, (weight / 0.1).clamp(0, 1))
    return flow


def _window_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over the part of a size x size window inside the image, same shape as ``x``.

    Windows clipped by the border are rectangles, so two 1-D passes give exactly
    the 2-D mean (size operations per cell instead of size²).
    """
    x = F.avg_pool2d(x, (1, size), stride=1, padding=(0, size // 2), count_include_pad=False)
    return F.avg_pool2d(x, (size, 1), stride=1, padding=(size // 2, 0), count_include_pad=False)


def _box(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over a size x size window, same shape as ``x`` (replicate-padded; running sums)."""
    pad = size // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    for dim in (-1, -2):
        sums = F.pad(x.cumsum(dim), (1, 0) if dim == -1 else (0, 0, 1, 0))
        length = sums.shape[dim]
        x = (sums.narrow(dim, size, length - size) - sums.narrow(dim, 0, length - size)) / size
    return x
