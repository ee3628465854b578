"""The one training loop every trainer runs (the token codec, its adaptation, the prompts,
the image-JSCC baseline, the PocketCLIP heads): optimiser step, learning-rate schedule,
partial checkpoints a killed run goes on from, the random generator's state, a progress
bar, a loss log, and data parallelism under ``accelerate launch``.

A trainer supplies what is its own: the loss of one step (``loss_at(step)``, drawing its
batch from the generator it gave), and optionally a learning rate as a function of the step
or hooks after each step. Everything else has one shape and lives here, so a fix to
resuming, logging or distribution reaches all trainers at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from semclip.distributed import Dist, dist
from semclip.progress import progress
from semclip.resume import load_partial, save_partial


# fused AdamW on a GPU: off, since it measured slower on an H200 in two runs (codec 44.2 / 38.2 steps/s fused
# against 48.4 / 45.3 per-tensor; TAPL 41.0 / 30.3 against 47.0 / 35.0: benchmarks/gpu_fill.py)
FUSED_ON_GPU = False


def adamw(params, lr: float, weight_decay: float = 1e-2) -> torch.optim.AdamW:
    """AdamW as every trainer makes it: torch's default kernels, or on a GPU the fused one
    when ``FUSED_ON_GPU`` says so (the switch ``benchmarks/gpu_fill.py`` measures). On the
    CPU always torch's default, so CPU results stay bit-identical to what they were."""
    params = list(params)
    tensors = [p for g in params for p in (g["params"] if isinstance(g, dict) else [g])]
    fused = FUSED_ON_GPU and bool(tensors) and all(p.is_cuda for p in tensors)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True if fused else None)


_drawn = threading.local()


@contextmanager
def drawn_snrs() -> Iterator[None]:
    """Within this block (this thread), SNRs are a trainer's draws from a range its settings
    validated (``semclip.channels.base.check_snr_range``): channels skip checking their values,
    a wait for the device on every call on a GPU (``benchmarks/gpu_syncs.py``). Every
    ``TrainingLoop`` runs its steps in one."""
    before = getattr(_drawn, "on", False)
    _drawn.on = True
    try:
        yield
    finally:
        _drawn.on = before


def snrs_drawn() -> bool:
    """Whether this thread is inside ``drawn_snrs``."""
    return getattr(_drawn, "on", False)


def one_cycle(opt: torch.optim.Optimizer, lr: float, steps: int, warmup: float = 0.05) -> torch.optim.lr_scheduler.OneCycleLR:
    """OneCycleLR with a ``warmup`` fraction. torch divides by ``warmup * steps - 1``, which
    is zero when the warm-up is exactly one step (20 steps at 5 %): there it is made a hair
    longer, and every other step count keeps the schedule it always had."""
    if abs(warmup * steps - 1) < 1e-9:
        warmup *= 1.2
    return torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=warmup)


@dataclass
class LoopLog:
    """How the loop logs: every ``every`` steps (and the last) a row ``{"step", name}``,
    the loss rounded to ``digits`` when given; ``show_loss`` puts it on the bar (a
    synchronisation per step on a GPU, so off for the hot loops)."""

    every: int = 100
    name: str = "loss"
    digits: int | None = None
    show_loss: bool = False


class TrainingLoop:
    """``steps`` optimiser steps of ``model`` with ``opt`` (and ``sched``, stepped after
    each), resumable from ``partial`` when given: the weights, optimiser, schedule and
    generator are saved there every ``save_every`` steps under ``key`` (a digest of the
    settings), and a restart with the same key goes on from the last save, ending with the
    same weights as an uninterrupted run. Only the main process writes."""

    def __init__(
        self, what: str, steps: int, model: nn.Module, opt: torch.optim.Optimizer, *, sched: object | None = None,
        gen: torch.Generator | None = None, partial: Path | None = None, key: str = "", save_every: int = 100,
        log: LoopLog | None = None, d: Dist | None = None,
    ) -> None:
        self.what, self.steps, self.model, self.opt, self.sched, self.gen = what, steps, model, opt, sched, gen
        self.partial, self.key, self.save_every = partial, key, save_every
        self.log_cfg = log or LoopLog()
        self.d = d or dist()
        self.start = load_partial(partial, model, opt, key, sched, gen) if partial is not None else 0

    def prepare(self, module: nn.Module) -> nn.Module:
        """``module`` (what computes the loss) wrapped for data parallelism, with the
        optimiser; call after construction, so a resumed state is what gets wrapped."""
        module, self.opt = self.d.prepare(module, self.opt)
        return module

    def run(
        self, loss_at: Callable[[int], torch.Tensor], lr_at: Callable[[int], float] | None = None,
        after_step: Callable[[int], None] | None = None,
    ) -> list[dict[str, float]]:
        """Run the steps left; ``loss_at(step)`` is the step's loss (a scalar tensor);
        ``lr_at(step)`` sets every group's learning rate first (a schedule that is a pure
        function of the step needs no saved state). Returns the loss log."""
        log: list[dict[str, float]] = []
        cfg, d = self.log_cfg, self.d
        with progress(disable=not d.is_main) as bar, drawn_snrs():  # a trainer's SNRs come from its validated range
            task = bar.add_task(self.what, total=self.steps, completed=self.start)
            for step in range(self.start, self.steps):
                loss = loss_at(step)
                if lr_at is not None:
                    for group in self.opt.param_groups:
                        group["lr"] = lr_at(step)
                self.opt.zero_grad()
                d.backward(loss)
                self.opt.step()
                if self.sched is not None:
                    self.sched.step()
                if after_step is not None:
                    after_step(step)
                logged = step % cfg.every == 0 or step == self.steps - 1
                value = loss.item() if logged or cfg.show_loss else None  # one host sync per step at most
                if logged:
                    log.append({"step": step, cfg.name: value if cfg.digits is None else round(value, cfg.digits)})
                shown = f"{self.what} ({cfg.name} {value:.3f})" if cfg.show_loss else self.what
                bar.update(task, advance=1, description=shown)
                if self.partial is not None and (step + 1) % self.save_every == 0 and step + 1 < self.steps and d.is_main:
                    save_partial(self.partial, self.model, self.opt, step + 1, self.key, self.sched, self.gen)
        return log
