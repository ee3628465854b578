"""Run by tests/test_distributed.py, plainly and under ``accelerate launch``: sweeps (the
hand-crafted and a TAPL receiver), retrieval and every baseline on a tiny CLIP, records
written by the main process to the JSON file given. Not collected by pytest (no test_ prefix)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch


def main(clip: str, images: str, out: str) -> None:
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.image_jscc import ImageJSCCTrainConfig
    from semclip.baselines.common import BASELINES, BaselineConfig, Context
    from semclip.baselines.run import run_baselines
    from semclip.data.registry import create_dataset
    from semclip.tokens.cache import dataset_tokens
    from semclip.baselines.quantize import TokenQuantizer
    from semclip.distributed import dist
    from semclip.eval.retrieval import sweep_retrieval
    from semclip.eval.sweep import sweep, sweep_semclip
    from semclip.jscc.model import JSCCConfig, TokenJSCC
    from semclip.prompts.base import PromptConfig
    from semclip.prompts.registry import create_learner
    from semclip.tasks.retrieval import CaptionIndex
    from semclip.tasks.zeroshot import ZeroShotClassifier

    d = dist()
    bb = create_backbone(f"hf-clip:{clip}")
    data = create_dataset(f"folder:{images}")
    tokens, labels = dataset_tokens(bb, data)
    torch.manual_seed(0)
    codec = TokenJSCC(JSCCConfig(dim=bb.dim, ks=[4], linear_base=False)).eval()
    learner = create_learner("tapl", bb, PromptConfig(), k=4).eval()
    clf = ZeroShotClassifier(bb, data.classes)
    snrs = [0.0, 10.0]
    records = sweep_semclip(codec, tokens, labels, clf, ["awgn", "rayleigh"], snrs, batch_size=7)
    records += sweep(codec, tokens, labels, lambda t, s: learner.predict(t, s, data.classes), ["awgn", "rayleigh:mmse"], snrs,
                     method="tapl", batch_size=5)
    index = CaptionIndex(bb, [f"a {data.classes[i]}" for i in labels.tolist()])
    records += sweep_retrieval(codec, tokens, index, ["awgn", "rayleigh"], snrs, "tiny")
    ctx = Context(bb, clf, [data.image(i) for i in range(len(data))], labels, tokens, lambda b: TokenQuantizer(tokens, b), data, "tiny", 0,
                  indomain_train=data)
    cfg = BaselineConfig(methods=BASELINES.names(), limit=len(data), budget=300, mcs=["qpsk:1/3", "16qam:1/2"], token_bits=[1],
                         image_jscc_train=ImageJSCCTrainConfig(steps=3, batch_size=4))
    records += run_baselines(ctx, cfg, ["awgn", "rayleigh"], snrs, log=lambda *a: None)
    assert {r.method for r in records} >= set(BASELINES.names())
    if d.is_main:
        Path(out).write_text(json.dumps([r.model_dump() for r in records], indent=1))
    d.barrier()


if __name__ == "__main__":
    main(*sys.argv[1:4])
