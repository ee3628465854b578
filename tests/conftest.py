"""Shared fixtures: a tiny random CLIP saved to a folder (no download anywhere) and loaded
(``clip``), a tiny codec for it (``jscc``), an isolated cache folder, and tiny image
folders made on the fly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCLIP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def eager_tower(monkeypatch):
    """Library calls run the image tower in eager PyTorch unless a test chooses otherwise:
    converting it to OpenVINO takes seconds per fresh cache. The commands select the engine
    themselves (``--engine auto``), so CLI tests run the default path; tests/test_engine.py
    checks OpenVINO against eager."""
    from semclip import device

    monkeypatch.setattr(device, "_engine", "eager")


def _write_tiny_tokenizer(folder: Path) -> None:
    """A tiny byte-level BPE CLIP tokenizer (vocab of single characters)."""
    chars = "abcdefghijklmnopqrstuvwxyz.,- "
    vocab = {}
    for c in chars.replace(" ", ""):
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A randomly initialised CLIPModel + tokenizer saved with save_pretrained."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tiny-clip")
    _write_tiny_tokenizer(folder)
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    cfg = CLIPConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=40,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, patch_size=8,
        ),
        projection_dim=24,
    )
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """root/<class>/<img>.png with 3 classes x 4 coloured images."""
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for c, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        d = root / ["red_thing", "green_thing", "blue_thing"][c]
        d.mkdir(parents=True)
        for i in range(4):
            arr = np.clip(np.array(colour) + rng.integers(-30, 30, (20, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(d / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def clip(tiny_clip_dir):
    """The tiny CLIP, frozen (the receiver's tests)."""
    from semclip.backbones.hf_clip import HFCLIP

    return HFCLIP.from_pretrained(str(tiny_clip_dir)).eval().requires_grad_(False)


@pytest.fixture
def jscc(clip):
    """A tiny untrained codec for ``clip``'s tokens at k = 4."""
    import torch

    from semclip.jscc.model import JSCCConfig, TokenJSCC

    torch.manual_seed(0)
    return TokenJSCC(JSCCConfig(dim=clip.dim, ks=[4], width=32, depth=1, linear_base=False))


@pytest.fixture
def killed_after_save(monkeypatch):
    """``killed_after_save(n)``: the training loop's n-th partial save is its last act (a
    KeyboardInterrupt right after it, as a kill); returns the list the saved steps go to."""
    from semclip import resume, training

    def arm(n: int) -> list[int]:
        saves: list[int] = []

        def save_then_die(*args, **kwargs):
            resume.save_partial(*args, **kwargs)
            saves.append(args[3])
            if len(saves) == n:
                raise KeyboardInterrupt

        monkeypatch.setattr(training, "save_partial", save_then_die)
        return saves

    return arm
