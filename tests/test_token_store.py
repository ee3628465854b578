"""Token stores read on demand, and caches keyed by the backbone's weights."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from semclip.errors import SemclipError


def _cache(path, tokens, ok):
    save_file({"tokens": tokens.contiguous(), "ok": ok.to(torch.uint8)}, str(path), metadata={"errors": "{}"})
    return path


def test_a_store_reads_the_readable_rows_of_its_files(tmp_path):
    from semclip.tokens.store import TokenStore

    a, b = torch.randn(7, 5), torch.randn(4, 5)
    ok_a = torch.tensor([1, 1, 0, 1, 1, 1, 0], dtype=torch.bool)
    store = TokenStore([_cache(tmp_path / "a.safetensors", a, ok_a), _cache(tmp_path / "b.safetensors", b, torch.ones(4, dtype=torch.bool))])
    every = torch.cat([a[ok_a], b])  # what dataset_tokens returns for the same files
    assert store.shape == every.shape and len(store) == 9
    assert torch.equal(store[:], every) and torch.equal(store[2:7], every[2:7])
    idx = torch.tensor([8, 0, 5, 5, 3, -1])
    assert torch.equal(store[idx], every[idx])
    assert torch.equal(torch.cat(list(store.chunks(4))), every)
    with pytest.raises(SemclipError, match="out of range"):
        store[torch.tensor([9])]
    with pytest.raises(SemclipError, match="not a token cache"):
        save_file({"x": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
        TokenStore([tmp_path / "x.safetensors"])


def test_the_linear_code_fitted_on_a_store_equals_the_one_fitted_in_memory(tmp_path):
    from semclip.channels.awgn import AWGN
    from semclip.tokens.store import TokenStore
    from semclip.jscc.linear import LinearCode

    torch.manual_seed(0)
    # distinct variances along random axes, off-centre: every principal direction is well defined
    axes = torch.linalg.qr(torch.randn(32, 32))[0]
    tokens = torch.nn.functional.normalize((torch.randn(3000, 32) * torch.linspace(3, 0.1, 32)) @ axes + 4.0, dim=-1)
    store = TokenStore([_cache(tmp_path / "t.safetensors", tokens, torch.ones(3000, dtype=torch.bool))])
    mem, streamed = LinearCode.fitted(tokens, [2, 4], 4), LinearCode(32, [2, 4], 4)
    streamed.fit(store)
    assert torch.allclose(mem.mean, streamed.mean, atol=1e-6)
    # directions agree up to sign, and the receiver does not care about the sign
    assert torch.allclose((mem.directions * streamed.directions).sum(1).abs(), torch.ones(8), atol=1e-4)
    for k in (2, 4):
        a = mem.at(k).transmit(tokens[:50], torch.full((50, 1), 60.0), AWGN(torch.Generator().manual_seed(1)))
        b = streamed.at(k).transmit(tokens[:50], torch.full((50, 1), 60.0), AWGN(torch.Generator().manual_seed(1)))
        assert torch.allclose(a, b, atol=1e-3)


def test_training_from_a_store_equals_training_in_memory(tmp_path):
    """The store only changes where rows come from: same seed, same rows, same weights."""
    from semclip.tokens.store import TokenStore
    from semclip.jscc.model import JSCCConfig, TokenJSCC
    from semclip.jscc.train import JSCCTrainConfig, train_jscc

    tokens = torch.nn.functional.normalize(torch.randn(500, 16), dim=-1)
    store = TokenStore([_cache(tmp_path / "t.safetensors", tokens, torch.ones(500, dtype=torch.bool))])
    weights = []
    for source in (tokens, store):
        torch.manual_seed(0)
        model = TokenJSCC(JSCCConfig(dim=16, ks=[4, 8], linear_base=False))
        train_jscc(model, source, None, JSCCTrainConfig(steps=5, batch_size=32))
        weights.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_changed_weights_in_a_folder_are_never_served_stale_tokens_or_codecs(tiny_clip_dir, image_folder, tmp_path):
    """Change one weight in a saved CLIP folder (same path, same name): the fingerprint, the
    token cache and the codec check all see another backbone."""
    from semclip.backbones.registry import create_backbone
    from semclip.data.image_folder import ImageFolder
    from semclip.tokens.cache import cache_path, dataset_tokens
    from semclip.jscc.checkpoint import load_jscc, save_jscc
    from semclip.jscc.model import JSCCConfig, TokenJSCC

    folder = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, folder)
    data = ImageFolder(image_folder)
    before = create_backbone(f"hf-clip:{folder}")
    tokens_before, _ = dataset_tokens(before, data)
    codec = save_jscc(TokenJSCC(JSCCConfig(dim=before.dim, ks=[4], linear_base=False)), tmp_path / "c.safetensors", before.fingerprint)

    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    name = next(k for k in state if k.endswith("visual_projection.weight"))
    state[name][0, 0] += 0.5  # one weight
    save_file(state, str(weights), metadata={"format": "pt"})

    after = create_backbone(f"hf-clip:{folder}")
    assert after.name == before.name and after.fingerprint != before.fingerprint
    assert cache_path(after, data) != cache_path(before, data)
    tokens_after, _ = dataset_tokens(after, data)  # extracted afresh, not read from the old cache
    assert not torch.allclose(tokens_after, tokens_before)
    with pytest.raises(SemclipError, match="was trained for backbone"):
        load_jscc(codec, backbone=after.fingerprint)
    # the same weights loaded again name the same backbone, and a weight changed in memory is seen too
    assert create_backbone(f"hf-clip:{folder}").fingerprint == after.fingerprint
    with torch.no_grad():
        next(after.parameters()).add_(1.0)
    assert after.fingerprint != create_backbone(f"hf-clip:{folder}").fingerprint
