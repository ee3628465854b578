"""Several processes, one result: Hugging Face Accelerate under semclip's runs.

Under ``accelerate launch`` (or torchrun) every process runs the same command on its own
device (its GPU, or the CPU over gloo): token extraction splits the shards between them;
training wraps the model with ``Accelerator.prepare`` (DistributedDataParallel) and calls
``accelerator.backward``, each process taking an equal slice of every batch, so the result
equals the single-process run up to float rounding; sweeps split the receiver's rows of each
batch, retrieval and the baselines their points, and the results are gathered
(``gather_items``). Started plainly, this
is one process on the run's device (``semclip.device``) and nothing is wrapped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import torch
from torch import nn

from semclip import device as devices
from semclip.errors import SemclipError

T = TypeVar("T")


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            _state(self.device.type == "cpu").wait_for_everyone()

    def shard(self, lo: int, hi: int) -> tuple[int, int]:
        """This rank's contiguous part of rows lo..hi (equal parts: see ``check_split``)."""
        n = (hi - lo) // self.world
        return lo + self.rank * n, lo + (self.rank + 1) * n

    def check_split(self, batch_size: int, what: str) -> None:
        """A batch must split into equal slices, or the processes would weigh rows unequally."""
        if batch_size % self.world:
            raise SemclipError(
                f"{what} batch size {batch_size} does not split evenly over {self.world} processes; "
                f"use a multiple of {self.world} or launch a number of processes that divides {batch_size}"
            )

    def prepare(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[nn.Module, torch.optim.Optimizer]:
        """Accelerate's ``prepare`` over several processes (the model comes back wrapped in
        DDP, which averages gradients during ``backward``); as is for one. The caller has put
        the model on ``self.device`` already (one device policy, no placement by Accelerate).
        The learning-rate schedule is not prepared: Accelerate would step it once per process."""
        if self.world == 1:
            return model, optimizer
        return _accelerator(self.device.type == "cpu").prepare(model, optimizer)

    def backward(self, loss: torch.Tensor) -> None:
        if self.world == 1:
            loss.backward()
        else:
            _accelerator(self.device.type == "cpu").backward(loss)

    def class_slice(self, n: int) -> tuple[int, int]:
        """This rank's classes lo..hi of ``n``, in slices of ceil(n / world): the last ranks'
        may be short or empty (``gather_classes`` pads them)."""
        per = -(-n // self.world)
        return min(n, self.rank * per), min(n, (self.rank + 1) * per)

    def gather_classes(self, text: torch.Tensor, n: int) -> torch.Tensor:
        """Every rank's class embeddings [G, c_r, d] (its ``class_slice`` of ``n``) -> [G, n, d]
        on every rank, differentiable: the gradient that reaches this rank's slice is the sum
        over ranks of their losses' gradients, which DDP's averaging then turns into the
        single-process gradient (every rank computes the same terms over all classes)."""
        if self.world == 1:
            return text
        per = -(-n // self.world)
        pad = per - text.shape[1]
        if pad:  # equal parts for the collective
            text = torch.cat([text, text.new_zeros(text.shape[0], pad, text.shape[2])], 1)
        return _GatherClasses.apply(text, self.world, self.rank)[:, :n]

    def shard_items(self, items: Sequence[T]) -> list[T]:
        """Every world-th item, starting at this rank: how retrieval splits its channels and the
        baselines their (method, channel) pairs."""
        return list(items[self.rank :: self.world])

    def gather_items(self, mine: list[Any]) -> list[Any]:
        """The items of every rank, on every rank, in the order ``shard_items`` split them."""
        if self.world == 1:
            return mine
        from accelerate.utils import gather_object

        parts: list[list[Any]] = gather_object([mine])
        out: list[Any] = []
        for i in range(max(len(p) for p in parts)):  # undo the round robin
            out.extend(p[i] for p in parts if i < len(p))
        return out

    def check_agree(self, tensors: Iterable[torch.Tensor], what: str) -> None:
        """Raise if the ranks ended with different ``tensors`` (they must stay in lockstep)."""
        if self.world == 1:
            return
        from accelerate.utils import gather

        flat = torch.cat([t.detach().float().reshape(-1) for t in tensors]).to(self.device)
        every = gather(flat.unsqueeze(0)).cpu()  # [world, n]: small (a codec or a prompt learner)
        worst = (every - every[:1]).abs().max().item()
        if worst > 1e-6:
            raise SemclipError(f"the {self.world} processes disagree on {what} after training (max difference {worst:.2e})")


class _GatherClasses(torch.autograd.Function):
    """all_gather along the class axis whose backward sums the ranks' gradients and keeps this
    rank's part (an all-reduce: every backend has it, gloo included)."""

    @staticmethod
    def forward(ctx, text: torch.Tensor, world: int, rank: int) -> torch.Tensor:
        import torch.distributed as td

        parts = [torch.empty_like(text) for _ in range(world)]
        td.all_gather(parts, text.contiguous())
        ctx.rank, ctx.per = rank, text.shape[1]
        return torch.cat(parts, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        import torch.distributed as td

        grad = grad.contiguous().clone()
        td.all_reduce(grad)
        return grad[:, ctx.rank * ctx.per : (ctx.rank + 1) * ctx.per], None, None


@lru_cache(maxsize=2)
def _accelerator(cpu: bool):
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    _state(cpu)
    # find_unused_parameters: a step may leave a parameter without gradient (an SNR branch no row took)
    return Accelerator(cpu=cpu, device_placement=False, kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


@lru_cache(maxsize=2)
def _state(cpu: bool):
    from accelerate import PartialState

    # cpu=True (gloo) when the run's device is the CPU, GPU or not; else NCCL, one GPU per process
    return PartialState(cpu=cpu)


def launched_world() -> int:
    """Processes the launcher started (WORLD_SIZE), without initialising anything."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def dist(expected_world: int | None = None) -> Dist:
    """This process's place in the run. ``expected_world`` (a config's ``world_size``) must
    match what was launched: a mismatch would silently change batch splits and results."""
    world = launched_world()
    if expected_world is not None and expected_world != world:
        raise SemclipError(
            f"the configuration expects {expected_world} process(es) but {world} were launched; "
            f"run `accelerate launch --num_processes {expected_world} ...` or set world_size to {world} (or leave it out)"
        )
    device = devices.current()
    if world == 1:
        return Dist(0, 1, device)  # one process: nothing to start
    state = _state(device.type == "cpu")
    if state.num_processes != world:
        raise SemclipError(f"WORLD_SIZE says {world} processes but Accelerate sees {state.num_processes}: check the launcher's settings")
    return Dist(state.process_index, state.num_processes, torch.device(state.device))
