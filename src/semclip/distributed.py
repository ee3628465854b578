"""Several processes, one result: the thin layer semclip puts over Hugging Face Accelerate.

Under ``accelerate launch`` (or torchrun) every process runs the same command; token
extraction splits the shards between them and training splits each batch, averaging the
gradients, so the result equals the single-process run up to float rounding. Started
plainly, this is one process and nothing changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import torch

from semclip.errors import SemclipError


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
            _state().wait_for_everyone()

    def shard(self, lo: int, hi: int) -> tuple[int, int]:
        """This rank's contiguous part of rows lo..hi (equal parts: the caller checks divisibility)."""
        n = (hi - lo) // self.world
        return lo + self.rank * n, lo + (self.rank + 1) * n

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Mean of every parameter's gradient over the ranks (in place), as DDP would do: one
        collective on a flat copy, on the launcher's device (NCCL reduces GPU tensors only)."""
        if self.world == 1:
            return
        from accelerate.utils import reduce

        grads = [p.grad for p in params if p.grad is not None]
        flat = reduce(torch.cat([g.reshape(-1) for g in grads]).to(self.device), "mean").to(grads[0].device)
        for g, part in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(part.view_as(g))

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


@lru_cache(maxsize=1)
def _state():
    from accelerate import PartialState

    # cpu=True when there is no GPU: Accelerate then joins the launched processes over gloo
    return PartialState(cpu=not torch.cuda.is_available())


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
    if world == 1 and not torch.cuda.is_available():
        return Dist(0, 1, torch.device("cpu"))  # plain CPU run: no need to start Accelerate
    state = _state()
    if state.num_processes != world:
        raise SemclipError(f"WORLD_SIZE says {world} processes but Accelerate sees {state.num_processes}: check the launcher's settings")
    return Dist(state.process_index, state.num_processes, torch.device(state.device))
