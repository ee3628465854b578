"""The baselines stage: every configured baseline on the first ``cfg.limit`` test images,
and semclip on the same images (view 'subset') so that the comparison is paired."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from semclip.backbones.base import Backbone
from semclip.baselines.common import BaselineConfig, Context
from semclip.baselines.methods.image_jscc import image_codec_provenance
from semclip.baselines.quantize import TokenQuantizer
from semclip.baselines.receiver import ImageReceiver
from semclip.baselines.run import run_baselines
from semclip.data.base import LabelledImages
from semclip.eval.sweep import sweep
from semclip.job.codecs import Codes
from semclip.job.config import GridConfig
from semclip.job.encode import Encoded
from semclip.provenance import check
from semclip.results import Record


@dataclass
class BaselineOutcome:
    """The records, and what the views stage reuses: the images sent and the shared receiver
    (a received picture's tokens are computed once for every run)."""

    records: list[Record]
    ctx: Context
    receiver: ImageReceiver
    provenance: dict[str, dict] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)


def run_baseline_stage(cfg: BaselineConfig, grid: GridConfig, backbone: Backbone, data: Encoded, indomain: LabelledImages,
                       quantizer: Callable[[int], TokenQuantizer], codes: Codes, allow_leak: bool, log=print) -> BaselineOutcome:
    """``indomain``: the main set's training images, which image-jscc-indomain trains on."""
    main, test = data.main, data.main.data
    provenance, leaks = {}, []
    if "image-jscc" in cfg.methods:  # the corpus codec of pixels is held to zero-shot like semclip's
        prov = image_codec_provenance(data.train, in_domain=False)
        provenance["image-jscc"] = asdict(prov)
        leaks += check(prov, test.name, test.classes, allow_leak, log, split_id=test.cache_id)
    if "image-jscc-indomain" in cfg.methods:
        provenance["image-jscc-indomain"] = asdict(image_codec_provenance(indomain, in_domain=True))
    n = min(cfg.limit or len(test), len(test))
    ctx = Context(  # image-jscc trains on the token codec's corpus, image-jscc-indomain on the main set's training split
        backbone, main.classifier, [test.image(i) for i in range(n)], main.labels[:n], main.tokens[:n], quantizer,
        data.train, f"{test.cache_id}-first{n}", grid.seed, indomain_train=indomain,
    )
    receiver = ImageReceiver(backbone)
    records = run_baselines(ctx, cfg, grid.channels, grid.snrs_db, log, receiver=receiver)
    for ch in grid.channels:
        sub = sweep(codes.get("semclip", ch).model, ctx.tokens, ctx.labels, lambda t, s: main.classifier.predict(t), [ch],
                    grid.snrs_db, view="subset", seed=grid.seed, outcomes=True)
        records += [r.model_copy(update={"n_images": n}) for r in sub]
    return BaselineOutcome(records, ctx, receiver, provenance, leaks)
