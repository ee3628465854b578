"""Data loading: IDX parsing, image folders, bad files, and the token cache."""

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from semclip.data import ImageFolder, create_dataset, load_image
from semclip.tokens import cache as token_cache
from semclip.data.fashion_mnist import FashionMNIST, read_idx
from semclip.errors import SemclipError


def write_idx(path, arr):
    header = b"\x00\x00\x08" + bytes([arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_fmnist(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (12, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(12) % 10)
    return tmp_path


def test_fashion_mnist_from_a_folder(tiny_fmnist):
    ds = FashionMNIST("test", root=tiny_fmnist, limit=7)
    assert len(ds) == 7 and ds.labels.tolist() == list(range(7))
    assert ds.image(0).size == (28, 28) and len(ds.classes) == 10


def test_corrupt_idx_is_a_clear_error(tmp_path):
    (tmp_path / "bad.gz").write_bytes(b"garbage")
    with pytest.raises(SemclipError, match="corrupt Fashion-MNIST"):
        read_idx(tmp_path / "bad.gz")


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    import semclip.data.fashion_mnist as fm

    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "nowhere")
    with pytest.raises(SemclipError, match="apt-get install dataset-fashion-mnist"):
        fm.locate("test", root=tmp_path / "nowhere", download=False)


def test_image_folder(image_folder):
    ds = ImageFolder(image_folder)
    assert ds.classes == ["blue thing", "green thing", "red thing"]
    assert len(ds) == 12 and ds.image(0).mode == "RGB"
    (image_folder / "purple thing").mkdir()
    with pytest.raises(SemclipError, match="purple thing holds no images .*: remove it or add its images"):
        ImageFolder(image_folder)


def test_corrupt_and_missing_images(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(SemclipError, match="cannot read image"):
        load_image(tmp_path / "x.png")
    with pytest.raises(SemclipError, match="not found"):
        load_image(tmp_path / "y.png")


def test_unknown_dataset():
    with pytest.raises(SemclipError, match="unknown dataset"):
        create_dataset("imagenet-21k")


def test_token_cache_encodes_once_and_resumes(tiny_clip_dir, image_folder, monkeypatch, isolated_cache):
    from semclip.backbones.registry import create_backbone

    bb = create_backbone(f"hf-clip:{tiny_clip_dir}")
    ds = ImageFolder(image_folder)
    monkeypatch.setattr(token_cache, "shard_size", lambda n: 5)
    calls = []
    real = bb.encode_pixels
    monkeypatch.setattr(bb, "encode_pixels", lambda px: calls.append(len(px)) or real(px))
    tokens, labels = token_cache.dataset_tokens(bb, ds, batch_size=4)
    assert tokens.shape == (12, 24) and sum(calls) == 12
    direct = real(torch.stack([bb.preprocess(ds.image(i)) for i in range(12)]))
    assert torch.allclose(tokens, direct, atol=1e-5)
    # second run: nothing re-encoded
    calls.clear()
    again, _ = token_cache.dataset_tokens(bb, ds)
    assert calls == [] and torch.equal(again, tokens)
    # an interrupted run keeps finished shards: drop the final file, keep one shard
    path = token_cache.cache_path(bb, ds)
    path.unlink()
    shard_dir = path.with_suffix(".shards5")
    shard_dir.mkdir()
    from safetensors.torch import save_file

    save_file({"tokens": tokens[:5].contiguous()}, str(shard_dir / "00000.safetensors"))
    token_cache.dataset_tokens(bb, ds, batch_size=4)
    assert sum(calls) == 7  # only the 7 images after the finished shard


def test_cache_key_changes_with_content(tiny_clip_dir, image_folder):
    from semclip.backbones.registry import create_backbone

    bb = create_backbone(f"hf-clip:{tiny_clip_dir}")
    before = token_cache.cache_path(bb, ImageFolder(image_folder))
    Image.new("RGB", (8, 8)).save(image_folder / "red_thing" / "extra.png")
    assert token_cache.cache_path(bb, ImageFolder(image_folder)) != before


def test_clipart_topics_are_reproducible_and_split_cleanly():
    from semclip.data.clipart_topics import CLASSES, ClipartTopics, build

    splits = build()
    train, test = ({sha for _, _, sha in splits[s]} for s in ("train", "test"))
    assert not train & test and len(test) > 500
    per_class = [sum(1 for _, label, _ in splits["train"] if label == c) for c in range(len(CLASSES))]
    assert min(per_class) >= 16  # enough for 16-shot training on every class
    a, b = ClipartTopics("test"), ClipartTopics("test")
    assert a.cache_id == b.cache_id and a.labels.tolist() == b.labels.tolist() and a.classes == list(CLASSES)
    assert a.image(0).size[0] > 0
    with pytest.raises(SemclipError, match="splits"):
        ClipartTopics("val")


def test_packaged_pocketclip_heads_never_saw_the_clipart_test_split():
    """The heads file records how many drawings it trained on: all of Open Clip Art except
    every copy (by content) of a clip-art topics test image."""
    import hashlib
    import json
    from pathlib import Path

    from safetensors import safe_open

    from semclip.backbones.pocketclip import DEFAULT_HEADS
    from semclip.data.captioned import clipart
    from semclip.data.clipart_topics import test_hashes

    held_out = test_hashes()
    allowed = sum(hashlib.sha1(Path(k).read_bytes()).hexdigest() not in held_out for k in clipart().keys)
    with safe_open(str(DEFAULT_HEADS), "pt") as f:
        sizes = json.loads(f.metadata()["train_sizes"])
    assert sizes["openclipart"] == allowed


def test_a_folder_is_not_an_image(tmp_path):
    with pytest.raises(SemclipError, match="is a folder, not an image"):
        load_image(tmp_path)


def test_prefetched_batches_keep_order_raise_errors_and_stop_early():
    import threading

    from semclip.backbones.stream import prefetched

    assert list(prefetched(iter(range(50)))) == list(range(50))

    def broken():
        yield 1
        raise ValueError("image 7 is not a PNG")

    got = []
    with pytest.raises(ValueError, match="image 7"):
        for b in prefetched(broken()):
            got.append(b)
    assert got == [1]
    before = threading.active_count()
    for b in prefetched(iter(range(10_000))):
        if b == 3:
            break
    assert threading.active_count() <= before  # the producer thread ended with the consumer
