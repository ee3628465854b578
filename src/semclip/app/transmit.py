"""Send one image: its token through the codec and a channel, then zero-shot top-5 over
class names the receiver picks, beside what the noiseless backbone says."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from semclip.backbones.registry import create_backbone
from semclip.backbones.engine import image_encoder
from semclip.channels.base import as_snr_tensor
from semclip.channels.registry import create_channel
from semclip.data.base import load_image
from semclip.data.clipart_topics import CLASSES as CLIPART_CLASSES
from semclip.data.fashion_mnist import CLASSES as FASHION_CLASSES
from semclip.device import generator
from semclip.errors import SemclipError
from semclip.tasks.zeroshot import ZeroShotClassifier

DEFAULT_CLASSES = list(dict.fromkeys(FASHION_CLASSES + list(CLIPART_CLASSES)))  # the offline data's concepts


@dataclass
class Transmission:
    classes: list[str]
    clean: list[tuple[str, float]]  # top-k (class, probability), noiseless token
    received: list[tuple[str, float]]  # top-k after the channel
    cosine: float  # cos(clean token, received token)
    channel_uses: float  # k, times what a symbol costs on the channel (an OFDM link: pilots and prefix)
    channel: str
    snr_db: float
    codec: str


def top_k(probs: torch.Tensor, classes: Sequence[str], k: int) -> list[tuple[str, float]]:
    p, i = probs.topk(min(k, len(classes)))
    return [(classes[j], float(q)) for q, j in zip(p.tolist(), i.tolist())]


class Sender:
    """A frozen backbone and its codecs, loaded once and reused for many images (the
    web demo keeps one)."""

    def __init__(self, backbone: str = "pocketclip", jscc: str | Path | None = None, log=print, k: int = 16) -> None:
        self.backbone = create_backbone(backbone)
        self.jscc = jscc
        self.k = k  # complex symbols per token (one the codec serves)
        self.log = log
        self._codecs: dict = {}
        self._classifiers: dict[tuple[str, ...], ZeroShotClassifier] = {}
        self._lock = threading.RLock()  # the web demo calls from several threads: each model is built once
        self._building: dict = {}  # a lock per codec recipe

    def codec(self, channel: str):
        """The codec serving ``channel``: the one given, or the demo's cached default."""
        from semclip.jscc.zoo import codec_recipe, default_codec
        from semclip.jscc.checkpoint import load_jscc

        recipe = codec_recipe(channel)
        with self._lock:
            building = self._building.setdefault(recipe, threading.Lock())
        with building:  # built once per recipe; a long build holds up neither the other recipes nor the classifiers
            if recipe not in self._codecs:
                if self.jscc:
                    self._codecs[recipe] = load_jscc(self.jscc, backbone=self.backbone.fingerprint, k=self.k), str(self.jscc)
                else:
                    codec, path = default_codec(self.backbone, channel, self.log, k=self.k)
                    self._codecs[recipe] = codec, str(path)
            codec, name = self._codecs[recipe]
        if codec.cfg.csi != (recipe[1]):
            raise SemclipError(f"codec {name} was trained {'with' if codec.cfg.csi else 'without'} CSI at the decoder; it cannot serve channel {channel}")
        return codec, name

    def classifier(self, classes: Sequence[str] | None) -> ZeroShotClassifier:
        key = tuple(classes) if classes else tuple(DEFAULT_CLASSES)
        with self._lock:
            if key not in self._classifiers:
                self._classifiers[key] = ZeroShotClassifier(self.backbone, list(key))
            return self._classifiers[key]

    @torch.no_grad()
    def send(self, image: Image.Image, snr_db: float, channel: str = "awgn", classes: Sequence[str] | None = None,
             seed: int = 0, top: int = 5) -> Transmission:
        snr = float(as_snr_tensor(snr_db, 1)[0, 0])
        clf = self.classifier(classes)
        codec, name = self.codec(channel)
        bb = self.backbone
        dev = bb.device
        ch = create_channel(channel, generator=generator(seed, dev))
        token = image_encoder(bb)(bb.preprocess(image)[None].to(dev)).to(dev)
        received = codec.transmit(token, torch.full((1, 1), snr, device=dev), ch)
        clean_p, recv_p = clf.probs(token)[0], clf.probs(received)[0]
        return Transmission(
            classes=clf.classes,
            clean=top_k(clean_p, clf.classes, top),
            received=top_k(recv_p, clf.classes, top),
            cosine=float(F.cosine_similarity(token, received).item()),
            channel_uses=round(codec.cfg.k * ch.charge, 2),
            channel=channel,
            snr_db=snr,
            codec=name,
        )


def transmit_image(
    image: str | Path,
    snr_db: float,
    channel: str = "awgn",
    classes: Sequence[str] | None = None,
    backbone: str = "pocketclip",
    jscc: str | Path | None = None,
    seed: int = 0,
    top: int = 5,
    log=print,
    k: int = 16,
) -> Transmission:
    """Checks the cheap things (SNR, channel, the image) before loading any model."""
    as_snr_tensor(snr_db, 1)
    create_channel(channel)
    img = load_image(image)
    return Sender(backbone, jscc, log, k).send(img, snr_db, channel, classes, seed, top)
