"""The image tower through OpenVINO: tokens match eager PyTorch, a damaged or foreign
converted model is converted again (never used), a missing engine falls back with one line,
and tokens of the two engines are cached apart."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semclip import device as devices
from semclip.backbones import engine
from semclip.backbones.registry import create_backbone
from semclip.data.image_folder import ImageFolder
from semclip.backbones.stream import encode_images
from semclip.tokens.cache import cache_path
from semclip.errors import SemclipError


@pytest.fixture
def tiny(tiny_clip_dir):
    return create_backbone(f"hf-clip:{tiny_clip_dir}", device="cpu")


def _vision_weight(bb) -> torch.Tensor:
    return dict(bb.named_parameters())["model.visual_projection.weight"]


def test_openvino_tokens_match_eager_on_real_images(tiny, image_folder):
    ds = ImageFolder(image_folder)
    fast = encode_images(tiny, ds.image, range(len(ds)), fn=engine.image_encoder(tiny, "openvino"))
    eager = encode_images(tiny, ds.image, range(len(ds)), fn=engine.image_encoder(tiny, "eager"))
    assert engine.image_encoder(tiny, "openvino").engine == "openvino"
    assert F.cosine_similarity(fast, eager).min() >= engine.MATCH_COSINE
    assert engine.model_path(tiny).exists() and engine.model_path(tiny).with_suffix(".bin").exists()


def test_damaged_model_is_converted_again(tiny, capsys):
    path = engine.model_path(tiny)
    engine.image_encoder(tiny, "openvino")
    tiny.__dict__.pop("_openvino_tower")  # a new process: nothing memoised
    path.write_text("<not a model")
    enc = engine.image_encoder(tiny, "openvino")
    assert enc.engine == "openvino" and engine.agreement(tiny, enc) >= engine.MATCH_COSINE
    assert path.read_text().startswith("<?xml")


def test_foreign_model_at_the_path_is_never_used(tiny, tiny_clip_dir, tmp_path):
    """A converted tower of other weights under this backbone's name (a copied cache) fails
    the agreement check and is replaced by a conversion of these weights."""
    other = create_backbone(f"hf-clip:{tiny_clip_dir}", device="cpu")
    with torch.no_grad():
        _vision_weight(other).add_(torch.randn(_vision_weight(other).shape, generator=torch.Generator().manual_seed(1)))
    engine.image_encoder(other, "openvino")
    foreign = engine.model_path(other)
    mine = engine.model_path(tiny)
    assert foreign != mine  # weights are in the key
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.with_suffix(".bin").write_bytes(foreign.with_suffix(".bin").read_bytes())
    mine.write_bytes(foreign.read_bytes())
    assert engine.agreement(tiny, engine._compile(mine)) < engine.MATCH_COSINE  # the copy really differs
    enc = engine.image_encoder(tiny, "openvino")
    assert enc.engine == "openvino" and engine.agreement(tiny, enc) >= engine.MATCH_COSINE


def test_weights_changed_in_place_get_a_new_conversion(tiny):
    first = engine.image_encoder(tiny, "openvino")
    with torch.no_grad():
        _vision_weight(tiny).add_(torch.randn(_vision_weight(tiny).shape, generator=torch.Generator().manual_seed(2)))
    second = engine.image_encoder(tiny, "openvino")
    assert second is not first and engine.agreement(tiny, second) >= engine.MATCH_COSINE


def test_missing_openvino_falls_back_with_one_line(tiny, monkeypatch, capsys):
    monkeypatch.setattr(engine, "_openvino", lambda: None)
    monkeypatch.setattr(engine, "_said", set())
    assert engine.image_encoder(tiny, "auto").engine == "eager"
    assert engine.image_encoder(tiny, "auto").engine == "eager"
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "OpenVINO is not installed" in lines[0]
    with pytest.raises(SemclipError, match="pip install openvino"):
        engine.image_encoder(tiny, "openvino")


def test_a_tower_that_never_matches_falls_back_to_eager(tiny, monkeypatch, capsys):
    monkeypatch.setattr(engine, "_said", set())
    monkeypatch.setattr(engine, "agreement", lambda bb, enc: 0.5)
    assert engine.image_encoder(tiny, "openvino").engine == "eager"
    assert "cosine 0.500000 < 0.9999 against eager PyTorch" in capsys.readouterr().err


def test_a_tower_openvino_cannot_convert_falls_back_to_eager(tiny, monkeypatch, capsys):
    monkeypatch.setattr(engine, "_said", set())

    def fail(backbone, path):
        raise RuntimeError("unsupported operation aten::weird")

    monkeypatch.setattr(engine, "_convert", fail)
    assert engine.image_encoder(tiny, "auto").engine == "eager"
    err = capsys.readouterr().err
    assert "could not be used" in err and "aten::weird" in err


def test_bad_engine_names_and_gpu_only_settings(tiny):
    with pytest.raises(SemclipError, match="unknown engine 'tensorrt'"):
        engine.image_encoder(tiny, "tensorrt")
    with pytest.raises(SemclipError, match="unknown engine"):
        devices.select("cpu", engine="onnx")
    tiny.precision = "bf16"
    assert engine.image_encoder(tiny, "auto").engine == "eager"  # reduced precision: the GPU path
    with pytest.raises(SemclipError, match="fp32 image tower on the CPU"):
        engine.image_encoder(tiny, "openvino")


def test_tokens_of_the_two_engines_are_cached_apart(tiny, image_folder, monkeypatch):
    ds = ImageFolder(image_folder)
    monkeypatch.setattr(devices, "_engine", "eager")
    eager = cache_path(tiny, ds)
    monkeypatch.setattr(devices, "_engine", "openvino")
    assert cache_path(tiny, ds) != eager
