"""Image DeepJSCC (Bourtsoulatze et al. 2019 style): a convolutional autoencoder sends
the pixels themselves as complex symbols, SNR-conditioned (FiLM) so one model serves every
SNR; the receiver's backbone then sees the reconstruction. Trained on training images
only, with MSE, over AWGN and MMSE-equalised Rayleigh, SNR uniform over the grid."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from semclip.digest import json_digest
from semclip._io import atomic_write, checkpoint_errors, load_weights, safetensors_meta
from semclip.channels.base import Channel, ChannelOutput, check_snr_range, power_normalize
from semclip.channels.registry import create_channel
from semclip.data.base import flatten_alpha
from semclip.device import current as current_device, generator
from semclip.distributed import Dist
from semclip.errors import SemclipError
from semclip.settings import setting
from semclip.jscc.film import SNRFiLM
from semclip.provenance import META_KEY, Provenance
from semclip.training import LoopLog, TrainingLoop, adamw, one_cycle

KIND = "semclip-image-jscc"


@dataclass
class ImageJSCCConfig:
    """size: side of the (square) transmitted image; channels: 1 grey, 3 RGB;
    latent: complex symbols per 4x4 pixel patch, so channel uses = latent * (size/4)^2."""

    size: int = 28
    channels: int = 1
    latent: int = 2
    width: int = 32

    def __post_init__(self) -> None:
        if self.size % 4 or self.size <= 0:
            raise SemclipError(f"image JSCC size must be a positive multiple of 4, got {self.size}")
        if self.channels not in (1, 3) or self.latent <= 0 or self.width <= 0:
            raise SemclipError(f"invalid image JSCC config {asdict(self)}")

    @property
    def channel_uses(self) -> int:
        return self.latent * (self.size // 4) ** 2


@dataclass
class ImageJSCCTrainConfig:
    steps: int = setting(2000, help="Training steps of the image-jscc baseline's pixel codec.", flag="image_jscc_steps")
    batch_size: int = 64
    lr: float = 2e-3
    snr_min_db: float = -12.0
    snr_max_db: float = 22.0
    channels: list[str] = field(default_factory=lambda: ["awgn", "rayleigh"])
    seed: int = 0

    def __post_init__(self) -> None:
        check_snr_range(self.snr_min_db, self.snr_max_db)


class _FiLMConv(nn.Module):
    """conv -> SNR FiLM per feature map -> GELU."""

    def __init__(self, cin: int, cout: int, up: bool = False) -> None:
        super().__init__()
        self.conv = (nn.ConvTranspose2d(cin, cout, 4, 2, 1) if up else nn.Conv2d(cin, cout, 3, 2, 1))
        self.film = SNRFiLM(cout)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """x: [B, Cin, H, W]; snr_db: [B, 1] -> [B, Cout, H/2, W/2] (2H, 2W when up)."""
        return nn.functional.gelu(self.film(self.conv(x), snr_db))


class ImageJSCC(nn.Module):
    def __init__(self, cfg: ImageJSCCConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.enc1, self.enc2 = _FiLMConv(cfg.channels, w), _FiLMConv(w, w)
        self.enc_out = nn.Conv2d(w, 2 * cfg.latent, 3, 1, 1)
        self.dec_in = nn.Conv2d(2 * cfg.latent, w, 3, 1, 1)
        self.dec1, self.dec2 = _FiLMConv(w, w, up=True), _FiLMConv(w, w, up=True)
        self.dec_out = nn.Conv2d(w, cfg.channels, 3, 1, 1)

    def encode(self, images: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """images: [B, C, S, S] in [0, 1] -> x: [B, channel_uses] complex64, unit power."""
        h = self.enc_out(self.enc2(self.enc1(images * 2 - 1, snr_db), snr_db))
        re, im = h.flatten(1).chunk(2, dim=1)
        return power_normalize(torch.complex(re, im))

    def decode(self, y: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """y: [B, channel_uses] complex -> images [B, C, S, S] in [0, 1]."""
        s = self.cfg.size // 4
        h = torch.cat([y.real, y.imag], dim=1).reshape(y.shape[0], 2 * self.cfg.latent, s, s)
        h = self.dec2(self.dec1(nn.functional.gelu(self.dec_in(h)), snr_db), snr_db)
        return torch.sigmoid(self.dec_out(h))

    def forward(self, images: torch.Tensor, snr_db: torch.Tensor, channel: Channel) -> tuple[torch.Tensor, ChannelOutput]:
        """images: [B, C, S, S]; snr_db: [B, 1] -> (reconstruction [B, C, S, S], channel output)."""
        c, s = self.cfg.channels, self.cfg.size
        if images.dim() != 4 or tuple(images.shape[1:]) != (c, s, s):
            raise SemclipError(f"image JSCC expects images [B, {c}, {s}, {s}], got {list(images.shape)}")
        out = channel(self.encode(images, snr_db), snr_db)
        return self.decode(out.y, out.rx_snr_db), out


def auto_config(image: Image.Image, latent: int = 2, max_size: int = 64) -> ImageJSCCConfig:
    """The codec for a dataset like ``image``: grey or RGB as stored, square side = the
    shorter side rounded down to a multiple of 4 (28 for Fashion-MNIST), at most ``max_size``."""
    side = max(4, min(max_size, min(image.size)) // 4 * 4)
    return ImageJSCCConfig(size=side, channels=1 if image.mode in ("L", "1", "I", "F") else 3, latent=latent)


def to_tensor(image: Image.Image, cfg: ImageJSCCConfig) -> torch.Tensor:
    """PIL -> [C, S, S] in [0, 1]: alpha on white, grey or RGB, resized to S x S."""
    image = flatten_alpha(image).convert("L" if cfg.channels == 1 else "RGB")
    if image.size != (cfg.size, cfg.size):
        image = image.resize((cfg.size, cfg.size), Image.BICUBIC)
    arr = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(arr.reshape(cfg.size, cfg.size, cfg.channels)).permute(2, 0, 1)


def to_image(x: torch.Tensor) -> Image.Image:
    """[C, S, S] in [0, 1] -> PIL."""
    arr = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


@torch.enable_grad()  # trains even when called under no_grad
def train_image_jscc(
    model: ImageJSCC, images: torch.Tensor, cfg: ImageJSCCTrainConfig, device: torch.device | None = None,
    partial: Path | None = None, save_every: int = 200,
) -> list[dict[str, float]]:
    """Train in place on images [N, C, S, S] in [0, 1] with MSE, on ``device`` (default: the
    run's); returns a loss log. With ``partial``, resumable as ``train_jscc`` is."""
    dev = device or current_device()
    model.to(dev)
    images = images.to(dev)
    gen = generator(cfg.seed, dev)
    channels = [create_channel(c, generator=gen) for c in cfg.channels]
    opt = adamw(model.parameters(), cfg.lr)
    sched = one_cycle(opt, cfg.lr, cfg.steps)
    key = json_digest([asdict(cfg), asdict(model.cfg), list(images.shape)])
    loop = TrainingLoop(f"training image DeepJSCC ({model.cfg.channel_uses} ch. uses)", cfg.steps, model, opt, sched=sched, gen=gen,
                        partial=partial, key=key, save_every=save_every, log=LoopLog(every=200, name="mse"), d=Dist(0, 1, dev))
    model.train()

    def loss_at(step: int) -> torch.Tensor:
        x = images[torch.randint(images.shape[0], (cfg.batch_size,), generator=gen, device=dev)]
        snr = cfg.snr_min_db + (cfg.snr_max_db - cfg.snr_min_db) * torch.rand(cfg.batch_size, 1, generator=gen, device=dev)
        rec, _ = model(x, snr, channels[step % len(channels)])
        return nn.functional.mse_loss(rec, x)

    log = loop.run(loss_at)
    model.eval()
    return log


def save_image_jscc(model: ImageJSCC, path: str | Path, extra: dict | None = None, provenance: Provenance | None = None) -> Path:
    meta = {"kind": KIND, "config": json.dumps(asdict(model.cfg)), "extra": json.dumps(extra or {})}
    if provenance is not None:
        meta[META_KEY] = provenance.to_json()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda p: save_file(state, str(p), metadata=meta))


def load_image_jscc(path: str | Path, cfg: ImageJSCCConfig | None = None) -> ImageJSCC:
    """Load a checkpoint; refuse another kind of file or another configuration."""
    meta = safetensors_meta(path, "image-JSCC checkpoint", KIND)
    with checkpoint_errors(path, "image-JSCC checkpoint"):
        saved = ImageJSCCConfig(**json.loads(meta["config"]))
        if cfg is not None and saved != cfg:
            raise SemclipError(f"{path} was trained as {asdict(saved)}, not {asdict(cfg)}: retrain it")
        model = ImageJSCC(saved)
        load_weights(model, path, "the image codec it describes")
    return model.eval()
