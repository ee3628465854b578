"""Send one image: its token through the codec and a channel, then zero-shot top-5 over
class names the receiver picks, beside what the noiseless backbone says."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from semclip.backbones.base import create_backbone
from semclip.channels.base import as_snr_tensor
from semclip.channels.registry import create_channel
from semclip.data.base import load_image
from semclip.data.clipart_topics import CLASSES as CLIPART_CLASSES
from semclip.data.fashion_mnist import CLASSES as FASHION_CLASSES
from semclip.errors import SemclipError
from semclip.tasks.zeroshot import ZeroShotClassifier

DEFAULT_CLASSES = list(dict.fromkeys(FASHION_CLASSES + list(CLIPART_CLASSES)))  # the offline data's concepts


@dataclass
class Transmission:
    classes: list[str]
    clean: list[tuple[str, float]]  # top-k (class, probability), noiseless token
    received: list[tuple[str, float]]  # top-k after the channel
    cosine: float  # cos(clean token, received token)
    channel_uses: int
    channel: str
    snr_db: float
    codec: str


def top_k(probs: torch.Tensor, classes: Sequence[str], k: int) -> list[tuple[str, float]]:
    p, i = probs.topk(min(k, len(classes)))
    return [(classes[j], float(q)) for q, j in zip(p.tolist(), i.tolist())]


@torch.no_grad()
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
) -> Transmission:
    """The codec is ``jscc`` or the demo's cached default for this channel (trained on
    first use)."""
    from semclip.demo import DemoConfig, codec_recipe, get_jscc
    from semclip.evaluate import load_split
    from semclip.jscc.checkpoint import load_jscc

    snr = float(as_snr_tensor(snr_db, 1)[0, 0])
    gen = torch.Generator().manual_seed(seed)
    ch = create_channel(channel, generator=gen)
    img = load_image(image)
    bb = create_backbone(backbone)
    clf = ZeroShotClassifier(bb, list(classes) if classes else DEFAULT_CLASSES)
    if jscc:
        codec, name = load_jscc(jscc, backbone=bb.fingerprint), str(jscc)
    else:
        demo = DemoConfig(backbone=backbone)
        train = load_split(bb, demo.train_dataset, demo.train_limit)
        codec, path = get_jscc(demo, bb, train.tokens, train.classes, train.cache_id, *codec_recipe(channel), log=log)
        name = str(path)
    if codec.cfg.csi != (getattr(ch, "csi", None) == "decoder"):
        raise SemclipError(f"codec {name} was trained {'with' if codec.cfg.csi else 'without'} CSI at the decoder; it cannot serve channel {channel}")
    token = bb.encode_pixels(bb.preprocess(img)[None])
    received = codec.transmit(token, torch.full((1, 1), snr), ch)
    scale = bb.logit_scale
    clean_p = (scale * clf.logits(token)).softmax(-1)[0]
    recv_p = (scale * clf.logits(received)).softmax(-1)[0]
    return Transmission(
        classes=clf.classes,
        clean=top_k(clean_p, clf.classes, top),
        received=top_k(recv_p, clf.classes, top),
        cosine=float(F.cosine_similarity(token, received).item()),
        channel_uses=codec.cfg.k,
        channel=channel,
        snr_db=snr,
        codec=name,
    )
