"""One process on CPU or one GPU, or many through `torchrun` (DistributedDataParallel).

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK (and MASTER_ADDR / MASTER_PORT);
without them training runs as a single process. Only rank 0 writes files.
Mixed precision (bf16, or fp16 with a GradScaler) is for GPUs only.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(want: str, local_rank: int = 0) -> torch.device:
    """`auto` = the local GPU when there is one, else the CPU; `cuda` without one is an error."""
    if want == "cpu" or (want == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is available (use train.device=cpu or auto)")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def launch_rank() -> int:
    """This process's rank as torchrun set it (0 without torchrun), readable before joining the group."""
    return int(os.environ.get("RANK", "0"))


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group torchrun describes (if any) and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = launch_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    ctx = DistContext(rank, world_size, local_rank, pick_device(device, local_rank))
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if ctx.device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        log.info("process %d of %d joined (%s, %s)", rank, world_size, backend, ctx.device)
    return ctx


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(module: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """DistributedDataParallel around the training task when there are several processes."""
    if not ctx.distributed:
        return module
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module


def all_true(flag: bool, ctx: DistContext) -> bool:
    """True when `flag` holds on every process (so all skip a step together, or none)."""
    if not ctx.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0)


def all_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Element-wise sum over processes (validation totals)."""
    if not ctx.distributed:
        return values
    values = values.to(ctx.device).clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def broadcast_object(obj, ctx: DistContext):
    """Rank 0's (picklable) `obj` on every process."""
    if not ctx.distributed:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


class Precision:
    """autocast + GradScaler for the configured precision; fp32 is a no-op."""

    def __init__(self, precision: str, device: torch.device):
        if precision != "fp32" and device.type != "cuda":
            raise RuntimeError(f"train.precision={precision} needs a GPU; use fp32 on {device.type}")
        self.precision = precision
        self.device = device
        self.dtype: Optional[torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self):
        return self.scaler.state_dict() if self.scaler else {}

    def load_state_dict(self, state) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)
