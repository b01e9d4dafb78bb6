"""The trainer: next-frame prediction and frame interpolation with any loss of the library.

``train(config, run_dir)`` runs :class:`~corrwise.train.config.RunConfig` to the
end, or resumes it (``resume=True``) from the newest complete checkpoint.

The run folder receives:

- ``model.safetensors``: the final model (hand it to ``corr-export``),
- ``checkpoints/step_<n>/``: resumable checkpoints (see ``train_state``),
- ``log.csv`` and ``tensorboard/``: loss terms, learning rate, throughput, validation,
- ``samples/step_<n>.png``: input | prediction | target | warped prediction,
- ``config.yaml``: the resolved config; ``summary.json``: the outcome;
- ``ranks/rank<r>.json``: per process, a digest of the samples it saw and of its
  final weights (data-parallel runs must end with one weights digest).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from corrwise.atomic import atomic_output
from corrwise.errors import ConfigError, InputError
from corrwise.models import build_model, export_spec, load_checkpoint, save_checkpoint
from corrwise.train import distributed
from corrwise.train.config import RunConfig
from corrwise.train.criterion import Criterion
from corrwise.train.data import DataConfig, build_dataset
from corrwise.train.metrics import psnr
from corrwise.train.optim import build_optimizer, lr_at, set_lr
from corrwise.train.run_log import RunLog
from corrwise.train.sample_grid import make_grid, save_grid
from corrwise.train.sampler import EpochView, StepBatches
from corrwise.train.tasks import baseline, grid_inputs, run_model, to_device
from corrwise.train.train_state import (
    find_resumable,
    load_training_state,
    read_training_state,
    save_training_state,
)
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm


@dataclass(frozen=True)
class TrainResult:
    """The outcome of a run.

    Attributes:
        checkpoint: the final model file.
        steps: optimisation steps done in total (including those before a resume).
        seconds: wall time of this invocation (s).
        final_loss: loss of the last step (rank mean).
        resumed_from: step the run resumed from, or None for a fresh run.
        validation: mean PSNR (dB, frames in [0, 1]) of the model and the baseline on the
            held-out data, or None when there is none.
    """

    checkpoint: Path
    steps: int
    seconds: float
    final_loss: float
    resumed_from: int | None
    validation: dict[str, float] | None


def train(
    config: RunConfig,
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train ``config`` into ``run_dir``; see the module docstring for what is written."""
    context = distributed.setup(config.device)
    try:
        return _Run(config, Path(run_dir), context, progress).fit(resume, overwrite)
    finally:
        distributed.teardown(context)


class _Run:
    """One training process's state; rank 0 also writes the run folder."""

    def __init__(
        self, config: RunConfig, run_dir: Path, context: distributed.Context, progress: bool
    ) -> None:
        self.config, self.run_dir, self.context = config, run_dir, context
        self.progress = progress and context.is_main
        self.spec = export_spec(config.model.name, config.model.options)
        if self.spec.task != config.task:
            raise ConfigError(
                f"model {config.model.name!r} with options {dict(config.model.options)} does the "
                f"{self.spec.task!r} task, not {config.task!r}"
            )
        torch.manual_seed(config.seed)
        self.model = build_model(config.model.name, config.model.options)
        if config.model.init is not None:
            _initialise(self.model, config.model.name, Path(config.model.init))
        self.model = self.model.to(context.device).train()
        self.optimizer = build_optimizer(self.model.parameters(), config.optim)
        self.criterion = Criterion(config.loss).to(context.device)
        self.dataset = build_dataset(config.task, config.data)
        self.val_dataset = _validation_data(config)
        cuda = context.device.type == "cuda"
        self.amp_dtype = _amp_dtype() if config.amp and cuda else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.log = RunLog(run_dir) if context.is_main else None
        self.seen = hashlib.sha256()
        self.samples_seen = 0

    def fit(self, resume: bool, overwrite: bool) -> TrainResult:
        start = self._start_step(resume, overwrite)
        if self.context.is_main:
            self._write_config()
        model = self.model
        if self.context.distributed:
            ids = [self.context.device.index] if self.context.device.type == "cuda" else None
            model = DistributedDataParallel(self.model, device_ids=ids)
        began, loss_value, step = time.monotonic(), math.nan, start
        bar = tqdm(
            total=self.config.steps, initial=start, desc=f"train {self.config.task}", unit="step",
            disable=not self.progress, mininterval=1.0,
        )  # fmt: skip
        last_log = time.monotonic()
        for indices, batch in self._batches(start):
            if self._out_of_time(began):
                break
            loss_value, terms, pred, warped = self._step(model, step, batch)
            step += 1
            self._account(indices)
            bar.update()
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            if step % self.config.log_every == 0 or step == self.config.steps:
                now = time.monotonic()
                self._log_row(step, loss_value, terms, self.config.log_every / max(now - last_log, 1e-9))
                last_log = now
            self._periodic(step, batch, pred, warped)
        bar.close()
        return self._finish(step, start, began, loss_value, resume)

    def _batches(self, start: int) -> Any:
        """(indices, batch on device) for each remaining step of this rank."""
        plan = (
            len(self.dataset), self.config.batch_size, self.config.steps, start,
            self.config.seed, self.context.rank, self.context.world_size,
        )  # fmt: skip
        loader = DataLoader(
            EpochView(self.dataset),
            batch_sampler=StepBatches(*plan, with_epoch=True),
            num_workers=self.config.workers,
            pin_memory=self.context.device.type == "cuda",
        )
        for indices, batch in zip(StepBatches(*plan), loader, strict=True):
            yield indices, to_device(batch, self.context.device)

    def _step(
        self, model: torch.nn.Module, step: int, batch: dict[str, torch.Tensor]
    ) -> tuple[float, dict[str, float], torch.Tensor, torch.Tensor | None]:
        """One optimisation step; returns the rank-mean loss, its terms, the prediction and warp."""
        self._check_size(batch)
        lr = lr_at(step, self.config.optim, self.config.steps)
        set_lr(self.optimizer, lr)
        with torch.autocast(
            self.context.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
        ):
            pred, target = run_model(model, self.spec, self.config.task, batch)
        loss, terms, warped = self.criterion(pred, target)
        if not torch.isfinite(loss):
            raise InputError(
                f"the loss became {loss.item()} at step {step + 1}; lower optim.lr or set optim.grad_clip"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)
            terms["grad_norm"] = float(
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.optim.grad_clip)
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        terms["lr"] = lr
        return distributed.mean_across_ranks(self.context, loss.item()), terms, pred.detach(), warped

    def _check_size(self, batch: dict[str, torch.Tensor]) -> None:
        frames = batch["context"] if self.config.task == "predict" else batch["frame0"]
        h, w = frames.shape[-2:]
        if h % self.spec.align or w % self.spec.align:
            raise ConfigError(
                f"training frames are {h}x{w}, but {self.config.model.name!r} needs multiples of "
                f"{self.spec.align}; set data.crop to such a size, e.g. "
                f"[{h // self.spec.align * self.spec.align}, {w // self.spec.align * self.spec.align}]"
            )

    def _account(self, indices: list[int]) -> None:
        self.seen.update(json.dumps(indices).encode())
        self.samples_seen += len(indices)

    def _periodic(
        self, step: int, batch: dict[str, torch.Tensor], pred: torch.Tensor, warped: torch.Tensor | None
    ) -> None:
        config = self.config
        if self.context.is_main and config.sample_every and step % config.sample_every == 0:
            self._save_samples(step, batch, pred, warped)
        if config.val_every and step % config.val_every == 0 and step < config.steps:
            self._validate(step)
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps:
            self._checkpoint(step)

    def _start_step(self, resume: bool, overwrite: bool) -> int:
        existing = find_resumable(self.run_dir)
        if not resume:
            if existing is not None and not overwrite:
                raise ConfigError(
                    f"{self.run_dir} already holds a training run ({existing.name}); pass --resume to "
                    "continue it, --overwrite to start again, or choose another --out"
                )
            return 0
        if existing is None:
            if self.context.is_main:
                tqdm.write(f"no complete checkpoint in {self.run_dir}: starting from step 0")
            return 0
        saved = read_training_state(existing).extra.get("config", {})
        if saved.get("model") != self.config.to_dict()["model"] or saved.get("task") != self.config.task:
            raise ConfigError(
                f"{existing} was trained as {saved.get('task')} with model {saved.get('model')}; "
                f"the config asks for {self.config.task} with {self.config.to_dict()['model']}"
            )
        state = load_training_state(existing, self.model, self.optimizer)
        if "scaler" in state.extra and self.scaler.is_enabled():
            self.scaler.load_state_dict(state.extra["scaler"])
        if state.step >= self.config.steps:
            raise ConfigError(
                f"{existing} is at step {state.step}, which already reaches steps={self.config.steps}; "
                "raise steps to train further"
            )
        if self.context.is_main:
            tqdm.write(f"resuming from {existing} (step {state.step})")
        return state.step

    def _checkpoint(self, step: int) -> None:
        if self.context.is_main:
            extra = {"config": self.config.to_dict(), "loss": self.config.loss.label}
            if self.scaler.is_enabled():
                extra["scaler"] = self.scaler.state_dict()
            save_training_state(
                self.run_dir, step, self.model, self.config.model.name, self.optimizer,
                self._training_facts(step), extra, keep=self.config.keep_checkpoints,
            )  # fmt: skip
        distributed.barrier(self.context)

    def _training_facts(self, step: int) -> dict[str, Any]:
        return {
            "task": self.config.task,
            "loss": self.config.loss.label,
            "steps": step,
            "world_size": self.context.world_size,
            "config": self.config.to_dict(),
        }

    def _out_of_time(self, began: float) -> bool:
        limit = self.config.max_seconds
        if limit is None:
            return False
        return distributed.broadcast_flag(self.context, time.monotonic() - began > limit)

    def _log_row(self, step: int, loss: float, terms: dict[str, float], steps_per_s: float) -> None:
        if self.log is not None:
            rate = steps_per_s * self.config.batch_size * self.context.world_size
            self.log.scalars(step, {"loss": loss, **terms, "samples_per_s": rate})

    def _save_samples(
        self, step: int, batch: dict[str, torch.Tensor], pred: torch.Tensor, warped: torch.Tensor | None
    ) -> None:
        target = batch["future"][:, 0] if self.config.task == "predict" else batch["target"]
        columns = {**grid_inputs(self.config.task, batch), "prediction": pred, "target": target}
        if warped is not None:
            columns["warped prediction"] = warped
        grid = make_grid(columns)
        save_grid(self.run_dir / "samples" / f"step_{step:08d}.png", grid)
        if self.log is not None:
            self.log.image("samples", step, grid)

    @torch.no_grad()
    def _validate(self, step: int) -> dict[str, float] | None:
        """Mean PSNR of the model and the baseline on the held-out data (rank 0 logs it)."""
        if self.val_dataset is None or not self.context.is_main:
            return None
        self.model.eval()
        count = min(len(self.val_dataset), self.config.val_batches * self.config.batch_size)
        loader = DataLoader(torch.utils.data.Subset(self.val_dataset, range(count)), self.config.batch_size)
        ours, base = [], []
        for raw in loader:
            batch = to_device(raw, self.context.device)
            pred, target = run_model(self.model, self.spec, self.config.task, batch)
            ours.append(_psnr(pred, target))
            base.append(_psnr(baseline(self.config.task, batch), target))
        self.model.train()
        result = {
            "val_psnr_db": torch.cat(ours).mean().item(),
            "val_baseline_psnr_db": torch.cat(base).mean().item(),
        }
        if self.log is not None:
            self.log.scalars(step, result)
        return result

    def _finish(self, step: int, start: int, began: float, loss: float, resume: bool) -> TrainResult:
        if step > start or not (self.run_dir / "model.safetensors").is_file():
            self._checkpoint(step)
        validation = self._validate(step)
        seconds = time.monotonic() - began
        self._write_rank_report(step)
        final = self.run_dir / "model.safetensors"
        result = TrainResult(final, step, seconds, loss, start if resume and start else None, validation)
        if self.context.is_main:
            save_checkpoint(final, self.model, self.config.model.name, self._training_facts(step))
            summary = dataclasses.asdict(result)
            summary["checkpoint"] = final.name  # beside summary.json: the folder can move
            with atomic_output(self.run_dir / "summary.json") as tmp:
                tmp.write_text(json.dumps(summary, indent=2) + "\n")
        if self.log is not None:
            self.log.close()
        distributed.barrier(self.context)
        return result

    def _write_rank_report(self, step: int) -> None:
        report = {
            "rank": self.context.rank,
            "world_size": self.context.world_size,
            "steps": step,
            "samples_seen": self.samples_seen,
            "samples_digest": self.seen.hexdigest(),
            "weights_digest": distributed.weights_digest(self.model),
        }
        with atomic_output(self.run_dir / "ranks" / f"rank{self.context.rank}.json") as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")

    def _write_config(self) -> None:
        import yaml

        with atomic_output(self.run_dir / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))


def _initialise(model: torch.nn.Module, name: str, checkpoint: Path) -> None:
    """Copy the weights of ``checkpoint`` into ``model`` (registered as ``name``).

    ConfigError when the checkpoint holds another model or other options.
    """
    loaded = load_checkpoint(checkpoint)
    theirs, ours = asdict(loaded.model.config), asdict(model.config)
    if loaded.name != name or theirs != ours:
        raise ConfigError(
            f"model.init: {checkpoint} holds {loaded.name!r} with {theirs}, but this run trains "
            f"{name!r} with {ours}; fine-tuning needs the same model and options"
        )
    model.load_state_dict(loaded.model.state_dict())


def _validation_data(config: RunConfig) -> torch.utils.data.Dataset | None:
    """The held-out dataset: ``val_data``, or synthetic data drawn with another seed."""
    if config.val_data is not None:
        return build_dataset(config.task, config.val_data)
    data: DataConfig = config.data
    if any(source.kind != "synthetic" for source in data.sources):
        return None
    synthetic = dataclasses.replace(data.synthetic, seed=data.synthetic.seed + 1)
    held_out = dataclasses.replace(data, synthetic=synthetic, flip=False, seed=data.seed + 1)
    return build_dataset(config.task, held_out)


def _psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (B,) in dB, capped at 100 dB so identical frames keep the mean finite."""
    return psnr(pred.float(), target.float()).clamp(max=100.0)


def _amp_dtype() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
