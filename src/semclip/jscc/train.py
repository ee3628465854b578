"""Stage 1: train the token codec over a range of SNRs so one model serves them all.

Loss = token reconstruction (d * MSE + (1 - cos)) + a semantic term: the KL divergence
between the zero-shot class distributions of the clean and of the received token over
a bank of class-name embeddings (so errors that change the meaning cost more than
errors that do not)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from semclip.channels.registry import create_channel
from semclip.distributed import Dist, dist
from semclip.errors import SemclipError
from semclip.jscc.model import TokenJSCC
from semclip.progress import progress


@dataclass
class JSCCTrainConfig:
    steps: int = 1500
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    snr_min_db: float = -12.0
    snr_max_db: float = 22.0
    channels: list[str] = field(default_factory=lambda: ["awgn", "rayleigh"])
    semantic_weight: float = 1.0
    semantic_scale: float = 50.0
    seed: int = 0


def jscc_loss(
    decoded: torch.Tensor, clean: torch.Tensor, bank: torch.Tensor | None, cfg: JSCCTrainConfig
) -> torch.Tensor:
    """decoded: [B, d] unnormalised; clean: [B, d] unit norm; bank: [C, d] unit norm."""
    d = clean.shape[1]
    loss = d * F.mse_loss(decoded, clean) + (1 - F.cosine_similarity(decoded, clean, dim=-1)).mean()
    if bank is not None and cfg.semantic_weight > 0:
        s = cfg.semantic_scale
        p = (s * clean @ bank.t()).log_softmax(-1)
        q = (s * F.normalize(decoded, dim=-1) @ bank.t()).log_softmax(-1)
        loss = loss + cfg.semantic_weight * F.kl_div(q, p, log_target=True, reduction="batchmean")
    return loss


def train_jscc(
    model: TokenJSCC, tokens: torch.Tensor, bank: torch.Tensor | None, cfg: JSCCTrainConfig, d: Dist | None = None
) -> list[dict[str, float]]:
    """Train in place on tokens [N, d] (unit norm); returns a loss log.

    Data-parallel under ``accelerate launch``: every process draws the same batch and
    channel, encodes and decodes its equal share of rows, and the gradients are averaged,
    so the result matches one process up to float rounding."""
    d = d or dist()
    if cfg.batch_size % d.world:
        raise SemclipError(f"codec batch size {cfg.batch_size} does not split evenly over {d.world} processes")
    gen = torch.Generator().manual_seed(cfg.seed)
    channels = [create_channel(c, generator=gen) for c in cfg.channels]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    model.train()
    log = []
    lo, hi = d.shard(0, cfg.batch_size)
    with progress(disable=not d.is_main) as bar:
        task = bar.add_task(f"training token JSCC (k={model.cfg.k})" + (f", {d.world} processes" if d.world > 1 else ""), total=cfg.steps)
        for step in range(cfg.steps):
            idx = torch.randint(tokens.shape[0], (cfg.batch_size,), generator=gen)
            clean = tokens[idx[lo:hi]]
            snr = cfg.snr_min_db + (cfg.snr_max_db - cfg.snr_min_db) * torch.rand(cfg.batch_size, 1, generator=gen)
            channel = channels[step % len(channels)]
            decoded, _ = model.forward_rows(clean, snr, channel, lo)
            loss = jscc_loss(decoded, clean, bank, cfg)
            opt.zero_grad()
            loss.backward()
            d.average_gradients(model.parameters())
            opt.step()
            sched.step()
            if step % 100 == 0 or step == cfg.steps - 1:
                log.append({"step": step, "loss": loss.item()})
            bar.update(task, advance=1)
    d.check_agree(model.parameters(), "the codec")
    model.eval()
    return log
