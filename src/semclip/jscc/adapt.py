"""Label-free adaptation of a trained codec to its sender's own domain.

A camera that sends tokens sees its own pictures, never the receiver's task. Its unlabelled
images (a *training* split of its domain: no labels, no class names) can tune the codec
with the codec's own loss (reconstruction and the geometry terms over the codec's fixed
text bank), through a simulated channel:

- ``transmitter``: only the encoder's residual net moves; the decoder and the shared linear
  code stay as shipped, so the receiver needs no update and no signalling;
- ``both``: the encoder moves, and the receiver gets a compact update, sent once
  (``semclip.jscc.model.UPDATE_KINDS``; the chosen one: a per-dimension scale and shift of
  its token estimate, a shift that grows with the noise, and a rank-4 map from the received
  symbols, 3 bits a value): its size (``ReceiverUpdate.bits``) is for the caller to count
  in channel uses;
- ``receiver``: blind and decision-directed, the classic receiver that adapts without a
  pilot. The transmitter stays as shipped. The receiver decodes its sender's traffic
  (received at ``traffic_snr_db`` with ``traffic_k`` symbols), takes its own decisions as
  the tokens that were sent, and retrains its decoder's residual net on them through its
  copy of the standard encoder and a simulated channel. No label, no signalling; the
  receiver's estimates, never the sender's tokens, are what it learns from.

Adaptation runs in one process (it is seconds of work); the model stays on its device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F

from semclip.channels.registry import create_channel
from semclip.data.base import LabelledImages
from semclip.device import generator
from semclip.distributed import Dist
from semclip.errors import SemclipError
from semclip.settings import setting
from semclip.jscc.model import UPDATE_KINDS, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, batch_plan, jscc_loss
from semclip.training import LoopLog, TrainingLoop
from semclip.provenance import AdaptedOn, Provenance, is_evaluation_split, leak_note

ADAPT_MODES = ("transmitter", "both", "receiver")
RECEIVER_CHANGES = {"both": tuple(UPDATE_KINDS), "receiver": ("decoder-net", *UPDATE_KINDS)}  # what each mode may change at the receiver
# per mode, the best label-free validation of benchmarks/adapt_curve.py among the variants that adapt
# within the 60 s budget on our slowest 2-core machine (300 steps take about 50 s there) and, for
# both sides, whose update costs at most 2 channel uses per image over 10 000 images at 0 dB
CHOSEN: dict[str, dict] = {"transmitter": {"lr": 1e-3}, "both": {"lr": 1e-3, "update": "low-rank-4-3bit"},
                           "receiver": {"lr": 3e-4, "update": "decoder-net"}}
MIN_IMAGES = 2  # the instance-geometry term compares a token with the others of its batch


@dataclass
class AdaptConfig:
    """How the codec adapts; loss weights, SNR range and channels as the codec's training."""

    mode: str = "transmitter"
    # defaults: the transmitter mode's chosen settings (``chosen`` gives each mode's)
    steps: int = setting(300, help="Steps of that adaptation (batches of 256).", flag="adapt_steps")
    batch_size: int = 256
    lr: float = 1e-3
    loss: JSCCTrainConfig = field(default_factory=JSCCTrainConfig)
    seed: int = setting(0, help="Seed for training and channel noise.", shared=True)
    update: str = "scale-shift"  # what changes at the receiver: a ReceiverUpdate kind, or (receiver mode) "decoder-net"
    traffic_snr_db: float = 10.0  # ``receiver``: the link its traffic came over (AWGN)
    traffic_k: int = 16

    @classmethod
    def chosen(cls, mode: str, **overrides) -> "AdaptConfig":
        """The settings benchmarks/adapt_curve.py's label-free validation chose for ``mode``."""
        if mode not in CHOSEN:
            raise SemclipError(f"unknown adaptation mode {mode!r}: choose one of {', '.join(ADAPT_MODES)}")
        return cls(mode=mode, **(CHOSEN[mode] | overrides))

    def validate(self) -> None:
        if self.mode not in ADAPT_MODES:
            raise SemclipError(f"unknown adaptation mode {self.mode!r}: choose one of {', '.join(ADAPT_MODES)}")
        if self.steps <= 0 or self.batch_size <= 0 or not self.lr > 0:
            raise SemclipError(f"invalid adaptation settings: steps {self.steps}, batch {self.batch_size}, lr {self.lr}")
        if self.mode in RECEIVER_CHANGES and self.update not in RECEIVER_CHANGES[self.mode]:
            raise SemclipError(f"unknown receiver update {self.update!r} for mode {self.mode}: choose one of "
                               + ", ".join(RECEIVER_CHANGES[self.mode]))
        if not -50.0 <= self.traffic_snr_db <= 60.0:  # also false for NaN
            raise SemclipError(f"traffic SNR {self.traffic_snr_db} dB is outside [-50, 60] dB")
        self.loss.validate()

    def record(self) -> dict:
        """The settings that matter to this mode (so a mode's record, and the artefact name
        made from it, does not change when another mode gains a setting)."""
        out = asdict(self)
        if self.mode == "transmitter":
            del out["update"]
        if self.mode != "receiver":
            del out["traffic_snr_db"], out["traffic_k"]
        out["loss"] = {k: out["loss"][k] for k in ("semantic_weight", "semantic_scale", "instance_weight", "instance_scale",
                                                   "snr_min_db", "snr_max_db", "channels")}
        return out


def check_adaptation_set(tokens: torch.Tensor, dim: int, what: str) -> None:
    """Enough readable images, of the codec's token size."""
    if tokens.dim() != 2 or tokens.shape[1] != dim:
        raise SemclipError(f"{what}: expected tokens [N, {dim}], got {list(tokens.shape)} (another backbone?)")
    if tokens.shape[0] < MIN_IMAGES:
        raise SemclipError(f"{what} holds {tokens.shape[0]} readable image(s): adaptation needs at least {MIN_IMAGES}")
    if not torch.isfinite(tokens).all():
        raise SemclipError(f"{what}: tokens with NaN or inf")


def learned_from(mode: str, n: int) -> str:
    """What an adaptation in ``mode`` on n images learns from, as the logs say it."""
    return f"its decisions about {n} received images" if mode == "receiver" else f"{n} unlabelled images"


@torch.no_grad()
def decoded_traffic(codec: TokenJSCC, tokens: torch.Tensor, cfg: AdaptConfig, gen: torch.Generator) -> torch.Tensor:
    """What the receiver decoded of its sender's traffic [N, d], unit norm: the tokens sent
    by the unchanged codec over the traffic's link (AWGN at ``traffic_snr_db``, ``traffic_k``
    symbols). Blind adaptation learns from these decisions alone."""
    if cfg.traffic_k not in codec.cfg.ks:
        raise SemclipError(f"traffic at k={cfg.traffic_k}: this codec serves k in {codec.cfg.ks}")
    channel = create_channel("awgn", generator=gen)
    out = []
    for chunk in tokens.split(4096):
        n = chunk.shape[0]
        snr = torch.full((n, 1), cfg.traffic_snr_db, device=chunk.device)
        decoded, _ = codec(chunk, snr, channel, torch.full((n,), cfg.traffic_k, device=chunk.device))
        out.append(F.normalize(decoded, dim=-1))
    return torch.cat(out)


@torch.enable_grad()
def adapt_codec(codec: TokenJSCC, tokens: torch.Tensor, bank: torch.Tensor | None, cfg: AdaptConfig,
                what: str = "the adaptation set") -> list[dict[str, float]]:
    """Adapt ``codec`` in place on unlabelled tokens [N, d] (unit norm) of its sender's
    domain; returns a loss log. The decoder (and the linear code both sides share) never
    changes in ``transmitter`` mode; ``both`` adds a ``ReceiverUpdate`` to it
    (``codec.decoder.update``); ``receiver`` retrains its residual net and nothing else."""
    cfg.validate()
    check_adaptation_set(tokens, codec.cfg.dim, what)
    dev = next(codec.parameters()).device
    tokens = tokens.to(dev)
    for p in codec.parameters():
        p.requires_grad_(False)
    gen = generator(cfg.seed, dev)
    if cfg.mode == "receiver":
        codec.eval()
        tokens = decoded_traffic(codec, tokens, cfg, gen)  # from here on the sender's tokens are never seen
        params = list(codec.decoder.net.parameters()) if cfg.update == "decoder-net" else []
    else:
        params = list(codec.encoder.net.parameters())
    if cfg.mode != "transmitter" and cfg.update in UPDATE_KINDS:
        params += list(codec.decoder.add_update(cfg.update).parameters())
    for p in params:
        p.requires_grad_(True)
    channels = [create_channel(c, generator=gen) for c in cfg.loss.channels]
    ks = torch.tensor(codec.cfg.ks, device=dev)
    bank = None if bank is None else bank.to(dev)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    rows = replace(cfg.loss, batch_size=cfg.batch_size, k_sampling="row")  # each row its own SNR and k, as in training
    what = f"adapting the codec ({cfg.mode}) on {learned_from(cfg.mode, len(tokens))}"
    loop = TrainingLoop(what, cfg.steps, codec, opt, log=LoopLog(every=50), d=Dist(0, 1, dev))
    codec.train()

    def loss_at(step: int) -> torch.Tensor:
        idx, snr, k, _ = batch_plan(rows, ks, gen, tokens.shape[0])
        clean = tokens[idx]
        decoded, _ = codec(clean, snr, channels[step % len(channels)], k)
        return jscc_loss(decoded, clean, bank, cfg.loss)

    log = loop.run(loss_at)
    codec.eval()
    for p in codec.parameters():
        p.requires_grad_(False)
    if cfg.mode == "both":
        codec.decoder.update.quantize()
    return log


def adapted_provenance(prov: Provenance, spec: str, data: LabelledImages, n: int, mode: str, allow_leak: bool) -> Provenance:
    """The trained codec's record plus what it was adapted on. Images of an evaluation split
    are refused, even unlabelled, unless ``allow_leak``: the record then says so, and so does
    every result the codec takes part in (the protocols' leak check finds the split)."""
    if is_evaluation_split(data.name) or is_evaluation_split(spec):
        if not allow_leak:
            raise SemclipError(f"--adapt-on {spec}: {data.name} is an evaluation split; adapt on a training split of the "
                               "sender's domain (e.g. fashion-mnist:train#1000), or pass --allow-leak (every record then says so)")
        prov = replace(prov, notes=[*prov.notes, leak_note([f"the token-codec was adapted on images of the evaluation split {data.name}"])])
    return replace(prov, adapted_on=[*prov.adapted_on, AdaptedOn(spec, data.name, data.cache_id, n, mode)])
