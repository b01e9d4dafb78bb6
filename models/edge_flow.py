"""EdgeFlow: an edge-sized flow-based interpolator (estimate motion, warp both frames, fuse).

    frame0, frame1 (B, 3, H, W) in [-1, 1]; optional timestep (B, 1, 1, 1) in (0, 1)
        -> shared encoder, once per frame: stride-2 stages at 1/2, 1/4, 1/8, 1/16,
           widths c, 1.5c, 2.5c, 4c                                -> 4 feature maps per frame
        -> coarsest flow level, 1/16: symmetric cost volume, cosine similarity of unit features
               cost[d](x) = <f0(x - d), f1(x + d)>,  d in [-R, R]^2      -> (B, (2R+1)^2, H/16, W/16)
           soft-argmax over d: flow = E[(-d, +d)] under softmax(s * cost)   -> (B, 4, H/16, W/16)
           concat [cost, f0, f1, flow] -> convs -> head: flow correction (4) + mask logit (1)
        -> each finer level (1/8, 1/4, then 1/2 with levels=4): flow and logit resampled x2 (flow
           x2 in value), features backward-warped to the middle time; at 1/8 a radius-1 cost volume
           of the warped pair and its soft-argmax added to the flow;
           concat [warped0, warped1, (cost), flow, logit] -> convs -> head: corrections to flow, logit
        -> full resolution: flow and logit resampled bilinearly to 1/2, nearest x2, flow scaled to
           pixels (B, 4, H, W): channels 0-1 flow t->0, 2-3 flow t->1 (x then y);
           mask m = sigmoid(logit) (B, 1, H, W), the weight of frame 0
           (time input: flow t->0 scaled by 2t, flow t->1 by 2(1 - t))
        -> warped0 = warp(frame0, flow t->0), warped1 = warp(frame1, flow t->1)      (B, 3, H, W)
        -> fused = m * warped0 + (1 - m) * warped1
                   (time input: weights (1 - t) m and t (1 - m), normalised)
        -> small full-resolution residual from [warped0, warped1, fused] (zero-initialised head)
        -> clamp to [-1, 1]
        -> optional candidate selection (``select_window`` K > 0, no parameters), before the
           warps: three candidate motions -- the estimate above, the estimate on both frames
           halved (large motions, flat objects) and no motion (still backgrounds, which a
           fractional flow would blur) -- each with its disagreement e_k, |warped0 - warped1| of
           the halved frames (channel mean) averaged over 4 x 4 px cells, then over K x K cells;
           weights softmax_k(-e_k / T) (T = ``select_temperature``) per cell, resampled bilinearly
           to full resolution, mix the flows and mask logits (no motion: zero flow, even mask)

Warping (``corrwise.models.warp``) is bilinear ``grid_sample`` with
``align_corners=False`` and border padding, flow in pixels of the map it is
applied to; exported graphs compute the same sampler with ``GatherElements``
and a linear ``Resize``, which ONNX Runtime runs faster than ``GridSample``.
The soft-argmax makes even the untrained network a (learned-feature)
block matcher; its flow is zero where matching is ambiguous or the two frames
are equal (the cost is then symmetric in d), and every head is zero-initialised,
so with zero flow the output is the blend. The coarse level sees motions up to
about 2 * R * 16 pixels between the two frames (64 px for R = 2); most of the
work runs at 1/4 resolution or below. H and W must be multiples of 16 and at
least 16 * (R + 1) (the cost volume's reflect padding); with candidate selection
multiples of 32 and at least 32 * (R + 1), for the halved pair. The runtime pads
to both (the contract carries ``align`` and ``min_size``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.models.inputs import DEFAULT_CONTEXT_FRAMES, TIMESTEP_NAME, frame_names, split_inputs
from corrwise.models.spec import ExportSpec
from corrwise.models.warp import resample, warp
from torch import nn

TASK = "interpolate"  # the only task: two frames in, the frame between them out
STAGES = 4  # encoder stages: features at 1/2, 1/4, 1/8 and 1/16
ALIGN = 2**STAGES
WIDTH_HALVES = (2, 3, 5, 8)  # encoder widths per stage, in halves of base_channels: 16, 24, 40, 64
BLOCK_FACTORS = (2, 2, 3, 6)  # flow-block widths per stage, times base_channels
BLOCK_CONVS = (2, 2, 3, 3)  # convolutions per flow block, per stage (wide receptive field at 1/16)
LOCAL_COST = (False, False, True, False)  # radius-1 cost volume of the warped pair, per refinement stage
FLOW_OUT = 5  # flow t->0 (2), flow t->1 (2), mask logit (1)
SELECT_CELL = 4  # candidate selection weighs the candidates per cell of 4 x 4 pixels


@dataclass(frozen=True)
class EdgeFlowConfig:
    """Size and time input of an EdgeFlow.

    The model interpolates only: it has no ``task`` option, so a config asking
    for ``task: predict`` is rejected as an unknown option (ConfigError), and
    the trainer refuses it for a prediction run.

    Attributes:
        base_channels: encoder width at 1/2 resolution; 16 gives about 0.5 M parameters and
            roughly 2 GFLOP per 448x256 frame.
        levels: flow levels, coarsest (1/16) first: 3 refines down to 1/4, 4 down to 1/2.
        search_radius: cost-volume radius R at 1/16 (level pixels); the coarse level
            matches motions up to about 2 * R * 16 px between the two frames.
        refine_channels: width of the full-resolution residual; 0 drops it.
        timestep: take a time input t in (0, 1): the midpoint flows are scaled by 2t and
            2(1 - t) and the fusion weights by (1 - t) and t.
        select_window: side K (odd) of the box, in cells of 4 x 4 pixels, over which candidate
            selection compares the candidates' disagreement; 0 turns selection off. Selection
            has no parameters, so it can be switched on for a model trained without it.
        select_temperature: softmin temperature T of the selection, in units of the mean
            absolute difference of frames in [-1, 1]; small values pick one candidate per pixel.
    """

    base_channels: int = 16
    levels: int = 3
    search_radius: int = 2
    refine_channels: int = 8
    timestep: bool = False
    select_window: int = 0
    select_temperature: float = 0.02

    def __post_init__(self) -> None:
        if not 4 <= self.base_channels <= 128:
            raise ConfigError(f"base_channels must be in [4, 128], got {self.base_channels}")
        if not 1 <= self.levels <= STAGES:
            raise ConfigError(f"levels must be in [1, {STAGES}] (1/16 down to 1/2), got {self.levels}")
        if not 1 <= self.search_radius <= 4:
            raise ConfigError(f"search_radius must be in [1, 4] (pixels at 1/16), got {self.search_radius}")
        if not 0 <= self.refine_channels <= 64:
            raise ConfigError(f"refine_channels must be in [0, 64], got {self.refine_channels}")
        if not isinstance(self.timestep, bool):
            raise ConfigError(f"EdgeFlowConfig: timestep must be true or false, got {self.timestep!r}")
        k = self.select_window
        if isinstance(k, bool) or not isinstance(k, int) or not (k == 0 or (1 <= k <= 15 and k % 2 == 1)):
            raise ConfigError(
                f"select_window must be 0 (off) or odd, in [1, 15] cells of 4 x 4 px; got {k!r}"
            )
        if not self.select_temperature > 0:
            raise ConfigError(f"select_temperature must be > 0, got {self.select_temperature!r}")


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.LeakyReLU(0.1))


def _zero_conv(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, 1, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def cost_volume(f0: torch.Tensor, f1: torch.Tensor, radius: int) -> torch.Tensor:
    """Symmetric matching cost of two (B, C, h, w) maps: (B, (2R+1)^2, h, w), cosine similarity in [-1, 1].

    Channel ``(dy + R) * (2R + 1) + (dx + R)`` compares f0(x - d) with f1(x + d)
    for d = (dx, dy) in level pixels: a pixel of the middle frame that moves by
    -d towards frame 0 and +d towards frame 1. Features are normalised per
    pixel over channels first. Shifts read reflected borders, so h and w must exceed R.
    """
    r = radius
    h, w = f0.shape[-2], f0.shape[-1]
    p0 = F.pad(_unit(f0), (r, r, r, r), mode="reflect")  # (B, C, h + 2R, w + 2R)
    p1 = F.pad(_unit(f1), (r, r, r, r), mode="reflect")
    costs = []
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            a = p0[:, :, r - dy : r - dy + h, r - dx : r - dx + w]  # f0(x - d)
            b = p1[:, :, r + dy : r + dy + h, r + dx : r + dx + w]  # f1(x + d)
            costs.append((a * b).sum(dim=1, keepdim=True))  # (B, 1, h, w)
    return torch.cat(costs, dim=1)  # (B, (2R+1)^2, h, w)


def _unit(f: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) scaled to unit length over channels at every pixel."""
    return f * torch.rsqrt((f * f).sum(dim=1, keepdim=True) + 1e-6)


def _split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 5, h, w) -> flows (B, 4, h, w) and mask logit (B, 1, h, w)."""
    return x[:, :4], x[:, 4:]


def _box_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    """Mean of (B, C, H, W) ``x`` over the k x k box around each pixel (clipped at the borders), separably."""
    x = F.avg_pool2d(x, (1, k), stride=1, padding=(0, k // 2), count_include_pad=False)
    return F.avg_pool2d(x, (k, 1), stride=1, padding=(k // 2, 0), count_include_pad=False)


def displacements(radius: int) -> torch.Tensor:
    """The flows of each cost-volume channel as 1x1 conv weights (4, (2R+1)^2, 1, 1), level pixels.

    Output channels: flow t->0 (x, y) = -d, flow t->1 (x, y) = +d.
    """
    d = torch.arange(-radius, radius + 1, dtype=torch.float32)
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    dx, dy = dx.reshape(-1), dy.reshape(-1)  # ((2R+1)^2,)
    return torch.stack([-dx, -dy, dx, dy]).view(4, -1, 1, 1)


def soft_argmax(cost: torch.Tensor, weights: torch.Tensor, sharpness: torch.Tensor) -> torch.Tensor:
    """Expected flow under softmax(sharpness * cost) over the channels: (B, K, h, w) -> (B, 4, h, w).

    Where the cost is flat (no texture) or symmetric in d (two equal frames) the expectation is the
    zero flow.
    """
    return F.conv2d(torch.softmax(cost * sharpness, dim=1), weights)  # (B, 4, h, w)


class EdgeFlow(nn.Module):
    """Frame interpolation by coarse-to-fine bidirectional flow, backward warping and fusion.

    See the module docstring for the data flow. ``forward(frame0, frame1)``, or
    ``forward(frame0, frame1, timestep)`` when the config has a time input.
    """

    config_class = EdgeFlowConfig

    def __init__(self, config: EdgeFlowConfig | None = None) -> None:
        super().__init__()
        self.config = config or EdgeFlowConfig()
        c, r = self.config.base_channels, self.config.search_radius
        widths = [c * k // 2 for k in WIDTH_HALVES]
        self.encoder = nn.ModuleList(
            nn.Sequential(_conv(c_in, c_out, 2), _conv(c_out, c_out))
            for c_in, c_out in zip([3, *widths[:-1]], widths, strict=True)
        )
        self.blocks = nn.ModuleList()
        # softmax sharpness of each matching level; 10 makes a cosine gap of 0.1 a factor e.
        self.match_sharpness = nn.Parameter(torch.full((STAGES,), 10.0))
        self.register_buffer("coarse_flows", displacements(r), persistent=False)
        self.register_buffer("local_flows", displacements(1), persistent=False)
        heads: dict[str, nn.Module] = {}
        for j in self._flow_stages():
            width = c * BLOCK_FACTORS[j]
            coarsest = j == STAGES - 1
            c_in = (
                (2 * r + 1) ** 2 + 2 * widths[j] + 4
                if coarsest
                else 9 * LOCAL_COST[j] + 2 * widths[j] + FLOW_OUT
            )
            convs = [_conv(c_in, width)] + [_conv(width, width) for _ in range(BLOCK_CONVS[j] - 1)]
            self.blocks.append(nn.Sequential(*convs))
            heads[f"flow{j}"] = _zero_conv(width, FLOW_OUT)
        rc = self.config.refine_channels
        self.refine = _conv(9, rc) if rc else None
        if rc:
            heads["refine"] = _zero_conv(rc, 3)
        self.head = nn.ModuleDict(heads)

    def _flow_stages(self) -> list[int]:
        """Encoder stage index of each flow level, coarsest first (3 = 1/16, 0 = 1/2)."""
        return list(range(STAGES - 1, STAGES - 1 - self.config.levels, -1))

    @staticmethod
    def export_spec(config: EdgeFlowConfig) -> ExportSpec:
        """Graph facts for the exporter: two frames (and the timestep) in, one frame out."""
        align = ALIGN * 2 if config.select_window else ALIGN  # selection also estimates on halved frames
        return ExportSpec(
            task=TASK,
            input_names=frame_names(TASK, DEFAULT_CONTEXT_FRAMES),
            output_names=("frame",),
            align=align,
            min_opset=18,
            timestep_input=TIMESTEP_NAME if config.timestep else None,
            min_size=align * (config.search_radius + 1),
        )

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Synthesise the frame between two frames (at t = 0.5, or at the time input).

        Args:
            inputs: ``frame0, frame1`` (B, 3, H, W) in [-1, 1], H and W multiples of 16
                and at least 16 * (search_radius + 1) (with selection: 32 and 32 * (R + 1));
                with ``timestep=True`` then the timestep (B, 1, 1, 1) in (0, 1).

        Returns:
            (B, 3, H, W) in [-1, 1].
        """
        spec = self.export_spec(self.config)
        frames, t = split_inputs("EdgeFlow", inputs, spec.input_names, self.config.timestep, spec.align)
        x0, x1 = frames
        half = self.estimate_half(x0, x1)  # (B, 5, H/2, W/2)
        if self.config.select_window:
            half = self.select(x0, x1, half)
        flow, logit = _split(F.interpolate(half, scale_factor=2.0, mode="nearest"))  # (B, 4|1, H, W)
        return self.synthesise(x0, x1, flow, logit, t)

    def select(self, x0: torch.Tensor, x1: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
        """Candidate selection: per cell, the soft-min over three motions of how well each aligns the frames.

        The candidates are the estimate ``half``, the estimate on both frames halved,
        and no motion (zero flow, even mask: the plain blend). Each one's disagreement
        is |warped0 - warped1| of the halved frames (channel mean), averaged over 4 x 4 px
        cells and then over ``select_window`` cells around each cell; the soft-min
        weights (temperature ``select_temperature``) mix the flows and mask logits.

        Args:
            x0, x1: (B, 3, H, W) in [-1, 1], H and W multiples of 32.
            half: :meth:`estimate_half` of the pair, (B, 5, H/2, W/2).

        Returns:
            the mixed estimate, (B, 5, H/2, W/2) like ``half``.
        """
        y0, y1 = F.avg_pool2d(x0, 2), F.avg_pool2d(x1, 2)  # (B, 3, H/2, W/2)
        # The estimate of the halved pair, (B, 5, H/4, W/4) -> (B, 5, H/2, W/2), flows in halved-frame pixels.
        coarse = F.interpolate(self.estimate_half(y0, y1), scale_factor=2.0, mode="nearest")
        own = torch.cat([half[:, :4] * 0.5, half[:, 4:]], dim=1)  # flows in pixels of the halved frames
        errors = torch.cat(
            [
                (warp(y0, own[:, 0:2]) - warp(y1, own[:, 2:4])).abs().mean(1, True),
                (warp(y0, coarse[:, 0:2]) - warp(y1, coarse[:, 2:4])).abs().mean(1, True),
                (y0 - y1).abs().mean(1, True),
            ],
            dim=1,
        )  # (B, 3, H/2, W/2): per candidate motion
        cells = F.avg_pool2d(errors, SELECT_CELL // 2)  # (B, 3, H/4, W/4): one value per 4 x 4 px cell
        cells = _box_mean(cells, self.config.select_window)
        weights = torch.softmax(cells * (-1.0 / self.config.select_temperature), dim=1)
        # (B, 3, H/2, W/2), still summing to 1; the third candidate moves nothing and keeps an even mask
        weights = resample(weights, half.shape[-2], half.shape[-1])
        mixed = weights[:, 0:1] * own + weights[:, 1:2] * coarse  # (B, 5, H/2, W/2), flows in half-res pixels
        return torch.cat([mixed[:, :4] * 2.0, mixed[:, 4:]], dim=1)

    def estimate_half(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Midpoint flows (in full-resolution pixels) and mask logit at half resolution: (B, 5, H/2, W/2).

        The flow levels end at 1/4 (or 1/2) resolution; their result is resampled
        bilinearly to 1/2, and :meth:`forward` repeats it to full resolution (nearest x2):
        full-resolution bilinear resampling costs as much as the final warp, for no
        measurable gain.
        """
        feats0, feats1 = self._encode(x0), self._encode(x1)
        stages = self._flow_stages()
        flow = logit = None
        for block, j in zip(self.blocks, stages, strict=True):
            f0, f1 = feats0[j], feats1[j]
            if flow is None:
                cost = cost_volume(f0, f1, self.config.search_radius)  # (B, (2R+1)^2, h, w)
                flow = soft_argmax(cost, self.coarse_flows, self.match_sharpness[j])  # (B, 4, h, w)
                x = torch.cat([cost, f0, f1, flow], dim=1)
            else:
                h, w = f0.shape[-2], f0.shape[-1]
                flow, logit = resample(flow, h, w) * 2.0, resample(logit, h, w)  # (B, 4|1, h, w)
                w0, w1 = warp(f0, flow[:, :2]), warp(f1, flow[:, 2:])
                if LOCAL_COST[j]:
                    cost = cost_volume(w0, w1, 1)  # (B, 9, h, w)
                    flow = flow + soft_argmax(cost, self.local_flows, self.match_sharpness[j])
                    x = torch.cat([w0, w1, cost, flow, logit], dim=1)
                else:
                    x = torch.cat([w0, w1, flow, logit], dim=1)
            out = self.head[f"flow{j}"](block(x))  # (B, 5, h, w)
            flow = flow + out[:, :4]
            logit = out[:, 4:] if logit is None else logit + out[:, 4:]
        stage = stages[-1]
        x = torch.cat([flow * float(2 ** (stage + 1)), logit], dim=1)  # (B, 5, h, w), flows in pixels
        if stage > 0:
            x = resample(x, x.shape[-2] * 2**stage, x.shape[-1] * 2**stage)  # (B, 5, H/2, W/2)
        return x

    def synthesise(
        self,
        x0: torch.Tensor,
        x1: torch.Tensor,
        flow: torch.Tensor,
        logit: torch.Tensor,
        t: torch.Tensor | None,
    ) -> torch.Tensor:
        """Warp both frames by ``flow`` (B, 4, H, W) pixels, fuse with sigmoid(``logit``), add the residual.

        With a timestep (B, 1, 1, 1), the midpoint flows and fusion weights are scaled to time t.
        Returns (B, 3, H, W) in [-1, 1].
        """
        m = torch.sigmoid(logit)  # (B, 1, H, W) weight of frame 0
        if t is None:
            w0, w1 = warp(x0, flow[:, :2]), warp(x1, flow[:, 2:])
            fused = m * w0 + (1.0 - m) * w1
        else:
            w0, w1 = warp(x0, flow[:, :2] * (2.0 * t)), warp(x1, flow[:, 2:] * (2.0 - 2.0 * t))
            a, b = (1.0 - t) * m, t * (1.0 - m)  # (B, 1, H, W)
            fused = (a * w0 + b * w1) / (a + b + 1e-6)
        if self.refine is not None:
            fused = fused + self.head["refine"](self.refine(torch.cat([w0, w1, fused], dim=1)))
        return torch.clamp(fused, -1.0, 1.0)  # (B, 3, H, W)

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of one frame: (B, c * k, H / 2^(i+1), W / 2^(i+1)) for stages i = 0..3."""
        feats = []
        for stage in self.encoder:
            x = stage(x)
            feats.append(x)
        return feats
