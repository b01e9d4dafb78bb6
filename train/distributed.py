"""Data-parallel training across processes started by ``torchrun``.

``torchrun --nproc_per_node N -m corrwise.train.cli predict --config run.yaml``
starts N copies; each reads RANK, WORLD_SIZE and LOCAL_RANK from the
environment, joins one process group (NCCL on GPUs, gloo on the CPU), trains on
its own share of every step's samples, and DistributedDataParallel averages the
gradients so the weights stay identical. Only rank 0 writes logs, samples and
checkpoints. Without those variables training runs in a single process.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from corrwise.errors import ConfigError


@dataclass(frozen=True)
class Context:
    """Where this process stands: rank, world size, and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's CUDA device when there is one, else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for, but torch sees no CUDA device; use device: cpu")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def setup(device: str) -> Context:
    """Join the process group when started by torchrun; otherwise a single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
    return Context(rank, world_size, resolved)


def teardown(context: Context) -> None:
    """Leave the process group (after a final barrier) if this process joined one."""
    if context.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def broadcast_flag(context: Context, flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (so all ranks stop at the same step)."""
    if not context.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.broadcast(value, src=0)
    return bool(value.item())


def mean_across_ranks(context: Context, value: float) -> float:
    """The mean of a scalar over all ranks (the logged loss of a data-parallel step)."""
    if not context.distributed:
        return value
    tensor = torch.tensor([value], device=context.device, dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item()) / context.world_size


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the parameters and buffers, to check that ranks hold identical weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
