"""``image-jscc``: a convolutional DeepJSCC of the pixels, then the backbone, trained on the
same task-agnostic corpus as semclip's token codec (both learned codecs meet the test domain
unseen); ``image-jscc-indomain``: the same trained on the main set's training images, the
in-domain reference. The codec itself (model, training, files) is
``semclip.baselines.image_jscc``; this file is the method."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from semclip import artefacts
from semclip.baselines import common
from semclip.baselines.common import Baseline, BaselineConfig, Context, Outcome, register_baseline
from semclip.baselines.image_jscc import (
    ImageJSCC,
    ImageJSCCConfig,
    auto_config,
    load_image_jscc,
    save_image_jscc,
    to_image,
    to_tensor,
    train_image_jscc,
)
from semclip.baselines.receiver import ImageReceiver
from semclip.channels.registry import create_channel
from semclip.data.base import LabelledImages
from semclip.errors import SemclipError
from semclip.provenance import DatasetSeen, Provenance
from semclip.resume import partial_path
from semclip.results import Record
from semclip.tasks.zeroshot import correct


def image_codec_provenance(train: LabelledImages, in_domain: bool) -> Provenance:
    """What an image-jscc pixel codec learned from (MSE on pixels, no class list): the
    task-agnostic corpus, or the main set's training images (in-domain, which favours it)."""
    note = ("image-jscc-indomain reference: trained on the main set's training images (in-domain), pixel MSE" if in_domain
            else "image-jscc baseline: trained on the task-agnostic corpus (no evaluation image, no class list), pixel MSE")
    return Provenance("image-codec", datasets=[DatasetSeen(train.name, train.cache_id, len(train))], notes=[note])


def image_jscc_name(cfg: BaselineConfig, mcfg: ImageJSCCConfig, train: LabelledImages) -> str:
    return artefacts.name("jscc", f"image-jscc-{mcfg.channel_uses}", [asdict(mcfg), asdict(cfg.image_jscc_train), train.cache_id])


def image_jscc_train(ctx: Context, method: str) -> LabelledImages:
    """The images ``method`` (image-jscc or image-jscc-indomain) trains on."""
    train = ctx.indomain_train if method == "image-jscc-indomain" else ctx.image_train
    if train is None:
        raise SemclipError(f"{method} needs its training images (Context.{'indomain_train' if method.endswith('indomain') else 'image_train'})")
    return train


def image_jscc_artefact(cfg: BaselineConfig, ctx: Context, method: str) -> tuple[ImageJSCCConfig, LabelledImages, str, str]:
    """The pixel codec ``method`` uses: its config (fitted to the test images unless set), its
    training images, and its artefact name and description."""
    mcfg = cfg.image_jscc or auto_config(ctx.images[0])
    train = image_jscc_train(ctx, method)
    return mcfg, train, image_jscc_name(cfg, mcfg, train), f"image DeepJSCC ({train.name})"


def get_image_jscc(cfg: BaselineConfig, ctx: Context, log=print, method: str = "image-jscc") -> ImageJSCC:
    """The image codec of ``method`` for (config, its training images): cached, shipped with
    semclip (``semclip.artefacts``), or trained now (images resized to the test images')."""
    mcfg, train, name, what = image_jscc_artefact(cfg, ctx, method)

    def make(path: Path) -> ImageJSCC:
        torch.manual_seed(cfg.image_jscc_train.seed)
        model = ImageJSCC(mcfg)
        x = torch.stack([to_tensor(train.image(i), mcfg) for i in range(len(train))])
        train_log = train_image_jscc(model, x, cfg.image_jscc_train, partial=partial_path(path))
        save_image_jscc(model, path, {"train_data": train.cache_id, "train": asdict(cfg.image_jscc_train), "log": train_log[-1:]},
                        image_codec_provenance(train, method == "image-jscc-indomain"))
        partial_path(path).unlink(missing_ok=True)
        return model

    model, _ = artefacts.obtain(name, what, lambda path: load_image_jscc(path, mcfg), make, log)
    return model


@register_baseline("the same pixel codec trained on the main set's training images: the in-domain reference",
                   name="image-jscc-indomain", in_domain=True)
@register_baseline("a convolutional DeepJSCC of the pixels, trained on the task-agnostic corpus (pixel MSE)")
class ImageJSCCBaseline(Baseline):
    name = "image-jscc"
    needs_csi = False  # a learned analog code: runs on every channel, rayleigh:none included

    def __init__(self, name: str = "image-jscc", in_domain: bool = False) -> None:
        self.name, self.in_domain = name, in_domain
        self.model: ImageJSCC | None = None

    def trained_on(self, ctx: Context) -> str | None:
        return image_jscc_train(ctx, self.name).cache_id

    def prepare(self, cfg: BaselineConfig, ctx: Context, log: Callable[[str], None]) -> None:
        self.model = get_image_jscc(cfg, ctx, log, self.name)

    def read_back(self, cfg: BaselineConfig, ctx: Context) -> None:
        artefacts.find(*image_jscc_artefact(cfg, ctx, self.name)[2:])

    def run(self, ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], receiver: ImageReceiver,
            tick: Callable[[], None]) -> list[Record]:
        gen = common.channel_generator(ctx.seed, spec)
        channel = create_channel(spec, gen)
        self.model.to(gen.device)
        x = torch.stack([to_tensor(im, self.model.cfg) for im in ctx.images]).to(gen.device)
        out = []
        for snr in snrs:
            recs = []
            with torch.no_grad():
                h = common.common_fades(ctx, spec, snr)
                for s in range(0, x.shape[0], 256):
                    with channel.gains(None if h is None else h[s : s + 256]):
                        rec, _ = self.model(x[s : s + 256], torch.full((min(256, x.shape[0] - s), 1), float(snr), device=x.device), channel)
                    recs += [to_image(r) for r in rec]
            tokens = receiver.tokens(recs, [None] * len(recs))
            o = Outcome(correct(ctx.classifier.predict(tokens), ctx.labels), self.model.cfg.channel_uses, 0.0, f"conv DeepJSCC {self.model.cfg.size}px, {self.model.cfg.channel_uses} ch. uses")
            out.append(common.make_record(self.name, spec, snr, o, len(recs), channel.receiver))
            tick()
        return out
