"""Several processes training one biLM (``torchrun``): which rank and device this is, and what they agree on."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List

import torch

from ..errors import ElmoError


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def sum_int(self, value: int) -> int:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.int64)
        torch.distributed.all_reduce(t)
        return int(t.item())

    def broadcast_flags(self, flags: List[bool]) -> List[bool]:
        """Rank 0 decides (time-based checkpoints, stop signals); all ranks follow."""
        if not self.enabled:
            return flags
        t = torch.tensor([int(f) for f in flags], dtype=torch.int64)
        torch.distributed.broadcast(t, 0)
        return [bool(x) for x in t.tolist()]


def init_distributed(device: torch.device) -> Dist:
    """Join the process group when started by ``torchrun`` (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return Dist(torch.distributed.get_rank(), torch.distributed.get_world_size())


def choose_device(gpu_id: int) -> str:
    """The device to train on: the CPU for ``gpu_id < 0``, else that GPU, or under ``torchrun``
    (LOCAL_RANK set) the local rank's GPU, made current for this process."""
    if gpu_id < 0:
        return "cpu"
    if not torch.cuda.is_available():
        raise ElmoError(f"--gpu-id {gpu_id} given but torch sees no CUDA GPU. Use --gpu-id -1 to train on the CPU.")
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', gpu_id))}"
    torch.cuda.set_device(device)
    return device
