"""The hf-clip backbone, on a tiny random CLIP saved to a folder in the test."""

import pytest
import torch
from PIL import Image

from semclip.backbones.registry import create_backbone
from semclip.errors import SemclipError


@pytest.fixture(scope="module")
def clip(tiny_clip_dir):
    return create_backbone(f"hf-clip:{tiny_clip_dir}")


def test_text_from_embeddings_matches_transformers(clip):
    texts = ["a photo of a cat.", "a dog", "bag"]
    ours = clip.encode_text(texts)
    enc = clip.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = clip.model.get_text_features(**enc)
    ref = out.pooler_output if hasattr(out, "pooler_output") else out
    assert ours.shape == (3, 24)
    assert torch.allclose(ours, torch.nn.functional.normalize(ref, dim=-1), atol=1e-5)


def test_editing_token_embeddings_changes_the_text_embedding(clip):
    tok = clip.tokenize(["a photo of a cat."])
    emb = clip.embed_tokens(tok.input_ids)
    base = clip.encode_embeddings(emb, tok)
    edited = emb.clone()
    edited[:, 1] = 50 * torch.randn(edited.shape[-1])  # what a learned context vector does
    # a random tiny CLIP mixes tokens weakly, so look for any change well above float noise
    assert (base - clip.encode_embeddings(edited, tok)).abs().max() > 1e-4


def test_images_are_unit_tokens(clip):
    img = Image.new("RGB", (50, 40), (200, 10, 10))
    px = torch.stack([clip.preprocess(img), clip.preprocess(img.convert("L"))])
    assert px.shape == (2, 3, 32, 32)
    tok = clip.encode_pixels(px)
    assert tok.shape == (2, 24)
    assert torch.allclose(tok.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SemclipError, match="could not load CLIP"):
        create_backbone(f"hf-clip:{tmp_path / 'nothing-here'}")


def test_unknown_backbone():
    with pytest.raises(SemclipError, match="unknown backbone"):
        create_backbone("resnet-clip")
