"""Retrieval: Recall@K both ways, repeated captions, and the sweep's records."""

import pytest
import torch
import torch.nn.functional as F

from semclip.errors import SemclipError
from semclip.tasks.retrieval import CaptionIndex


class _Texts:
    """A stand-in text tower with known embeddings: the test checks the ranking
    arithmetic, which does not depend on where the embeddings come from."""

    def __init__(self, table):
        self.table = table

    def encode_text(self, texts):
        return torch.stack([self.table[t] for t in texts])


def test_recall_counts_ranks_both_ways_with_repeated_captions():
    e = torch.eye(4)
    index = CaptionIndex(_Texts({"a": e[0], "b": e[1], "c": e[2]}), ["a", "b", "c", "a"])
    assert index.texts == ["a", "b", "c"] and index.target.tolist() == [0, 1, 2, 0]
    # image 0 -> a (right), image 1 closest to c then b, image 2 -> c, image 3 closest to b then a
    tokens = F.normalize(torch.tensor([[1, 0, 0, 0.0], [0, 0.5, 1, 0], [0, 0, 1, 0], [0.5, 1, 0, 0]]), dim=-1)
    r = index.recall(tokens, at=(1, 2))
    assert r["image-to-text"] == {"r@1": 0.5, "r@2": 1.0}
    # text a: image 0 first (hit); b: image 3 first (miss), image 1 second (hit at 2); c: image 2 first
    assert r["text-to-image"]["r@1"] == pytest.approx(2 / 3) and r["text-to-image"]["r@2"] == 1.0
    with pytest.raises(SemclipError, match="image tokens for 4 captions"):
        index.recall(tokens[:3])


def test_retrieval_sweep_degrades_with_noise(tiny_clip_dir):
    """Through a working code (the linear code fitted to the tokens), recall at 30 dB stays
    near the clean one and at -20 dB falls towards chance: the sweep sees the channel."""
    from semclip.backbones.registry import create_backbone
    from semclip.eval.retrieval import retrieval_markdown, sweep_retrieval
    from semclip.jscc.linear import LinearCode

    bb = create_backbone(f"hf-clip:{tiny_clip_dir}")
    captions = [f"{a} {b}" for a in ("red", "green", "blue", "dark", "pale") for b in ("thing", "tree", "cat", "car", "cup", "hat")]
    index = CaptionIndex(bb, captions)
    torch.manual_seed(0)
    tokens = F.normalize(index.embeddings[index.target] + 0.01 * torch.randn(len(captions), bb.dim), dim=-1)
    code = LinearCode.fitted(tokens, [8], 8)  # 16 of 24 dimensions: a real, lossy code
    recs = sweep_retrieval(code, tokens, index, ["awgn"], [-20.0, 30.0], "toy")
    r1 = {(r.method, r.snr_db): r.value for r in recs if r.view == "image-to-text" and r.metric == "r@1"}
    assert r1[("clean", None)] == 1.0
    assert r1[("semclip", 30.0)] >= 0.6 and r1[("semclip", 30.0)] > r1[("semclip", -20.0)] + 0.3
    assert {r.task for r in recs} == {"retrieval"} and {r.metric for r in recs} == {"r@1", "r@5", "r@10"}
    assert len(recs) == 6 * 3 and all(r.channel_uses_per_image == 8 for r in recs if r.method == "semclip")
    md = retrieval_markdown(recs)
    assert "### image-to-text" in md and "| semclip | awgn | r@1 |" in md


def test_token_digital_retrieval_is_error_free_at_high_snr(tiny_clip_dir):
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.quantize import TokenQuantizer
    from semclip.baselines.digital import MCS, BlockPlan
    from semclip.eval.retrieval import sweep_retrieval_digital

    bb = create_backbone(f"hf-clip:{tiny_clip_dir}")
    index = CaptionIndex(bb, ["red thing", "green thing", "blue thing", "dark thing"])
    tokens = index.embeddings[index.target]
    train = F.normalize(torch.randn(200, bb.dim), dim=-1)
    recs = sweep_retrieval_digital(tokens, TokenQuantizer(train, 2), index, ["awgn", "rayleigh:none"], [30.0], "toy")
    assert len(recs) == 6 and {r.method for r in recs} == {"token-digital"}  # rayleigh:none skipped: no CSI
    assert {r.link_adaptation for r in recs} == {"bler"}  # the MCS from random payloads' BLER, as for classification
    assert recs[0].channel_uses_per_image == BlockPlan.for_payload(2 * bb.dim, MCS.parse("64qam:2/3")).channel_uses  # 30 dB: the top MCS
    fading = sweep_retrieval_digital(tokens, TokenQuantizer(train, 2), index, ["rayleigh"], [30.0], "toy")
    assert {(r.csi, r.receiver) for r in fading} == {("mmse", "zf")}  # the chain equalises by zero forcing
    link = sweep_retrieval_digital(tokens, TokenQuantizer(train, 2), index, ["ofdm-tdl:C:ls"], [30.0], "toy")
    assert {(r.channel, r.csi, r.receiver) for r in link} == {("ofdm-tdl:C:300ns:3kmh", "ls", "mmse")}  # LMMSE detection
    assert {r.pilot_overhead for r in link} == {2 / 14} and link[0].channel_uses_per_image > recs[0].channel_uses_per_image
    q = TokenQuantizer(train, 2)
    expected = index.recall(q.decode(q.encode(tokens)))
    got = {(r.view, r.metric): r.value for r in recs}
    assert all(got[(d, m)] == v for d, ms in expected.items() for m, v in ms.items())
    assert recs[0].channel_uses_per_image > 0
