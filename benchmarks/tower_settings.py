"""Does any OpenVINO setting make the image tower faster in the real pipeline?

    python benchmarks/tower_settings.py

Encodes the first 1500 Fashion-MNIST test images through ``encode_images`` (decoding and
resizing in the background thread, as a run does) with the converted PocketCLIP tower
compiled several ways: the latency hint (what semclip uses) at batch 16, 32 and 64, and two
streams (the throughput hint) with each batch split over both, at batch 32 and 64. Twice
over, to see the spread. Reports images/s and whether the tokens equal the first setting's
to the bit; writes ``benchmarks/results/tower_settings.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import openvino as ov

    from semclip.backbones import engine
    from semclip.backbones.registry import create_backbone
    from semclip.data.registry import create_dataset
    from semclip.backbones.stream import encode_images

    torch.set_num_threads(2)
    bb = create_backbone("pocketclip")
    engine.image_encoder(bb, "openvino")  # converted and checked at first use
    xml = str(engine.model_path(bb))
    ds = create_dataset("fashion-mnist:test")
    images = [ds.image(i) for i in range(1500)]
    core = ov.Core()

    def latency():
        cm = core.compile_model(xml, "CPU", engine.compile_options())  # what semclip uses (2 threads, set above)
        return lambda px: torch.from_numpy(cm(px.contiguous().numpy())[0].copy())

    def streams():
        cm = core.compile_model(xml, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2, "INFERENCE_PRECISION_HINT": "f32",
                                             "INFERENCE_NUM_THREADS": 2})
        reqs = [cm.create_infer_request() for _ in range(2)]

        def encode(px: torch.Tensor) -> torch.Tensor:
            for req, part in zip(reqs, np.array_split(px.contiguous().numpy(), 2)):
                req.start_async({0: part})
            outs = []
            for req in reqs:
                req.wait()
                outs.append(req.get_output_tensor(0).data.copy())
            return torch.from_numpy(np.concatenate(outs))

        return encode

    settings = [("latency hint", latency, 16), ("latency hint", latency, 32), ("latency hint", latency, 64),
                ("two streams", streams, 32), ("two streams", streams, 64)]
    rows, ref = [], None
    for rep in range(2):
        for name, make, batch in settings:
            fn = make()
            t0 = time.time()
            tokens = encode_images(bb, lambda i: images[i], range(len(images)), batch, fn=fn)
            rate = len(images) / (time.time() - t0)
            ref = tokens if ref is None else ref
            rows.append({"setting": name, "batch": batch, "repeat": rep, "images_per_s": round(rate, 1),
                         "tokens_equal_to_first": bool(torch.equal(tokens, ref))})
            print(f"{name:>12} batch {batch:>2} (run {rep + 1}): {rate:6.0f} images/s, tokens equal: {torch.equal(tokens, ref)}", flush=True)
    out = ROOT / "benchmarks" / "results" / "tower_settings.json"
    out.write_text(json.dumps({"images": len(images), "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
