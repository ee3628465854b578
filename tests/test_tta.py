"""Test-time prompt tuning at the receiver: it lowers the entropy it minimises, leaves the
learner as it found it, is reproducible, starts the hand-crafted receiver from TPT's
template, runs as its own method in the protocols, and refuses a missing SNR or settings
out of range."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from semclip.errors import SemclipError
from semclip.eval.protocols import ProtocolConfig, Split, run_base2novel
from semclip.prompts import PromptConfig, PromptTrainConfig, create_learner
from semclip.prompts.tta import TestTimePrompts, TTAConfig, split_name

CLASSES = ["red thing", "green thing", "blue thing", "grey thing"]


def received(clip, n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    text = clip.encode_text([f"a photo of a {c}." for c in CLASSES])
    labels = torch.arange(n) % len(CLASSES)
    return F.normalize(text[labels] + 0.5 * torch.randn(n, clip.dim, generator=g), dim=-1), labels


def objective(tta: TestTimePrompts, views: torch.Tensor, snr: torch.Tensor) -> float:
    """The entropy TTA minimises, on fixed views [V, b, d]."""
    v, b = views.shape[:2]
    with torch.no_grad():
        logp = tta.learner(views.reshape(v * b, -1), snr.repeat(v, 1), CLASSES).view(v, b, -1).log_softmax(-1)
    top = max(1, round(tta.cfg.keep * v))
    chosen = (-(logp.exp() * logp).sum(-1)).topk(top, dim=0, largest=False).indices
    mean = logp.gather(0, chosen.unsqueeze(-1).expand(-1, -1, logp.shape[-1])).logsumexp(0) - math.log(top)
    return float(-(mean.exp() * mean).sum(-1).mean())


def test_adaptation_lowers_the_selected_views_entropy_and_resets(clip, jscc):
    learner = create_learner("coop", clip, PromptConfig(ctx_init="a photo of a"))
    start = learner.ctx.detach().clone()
    tta = TestTimePrompts(learner, jscc, "awgn", TTAConfig(views=8, keep=0.5, lr=1e-2, steps=3, chunk=6), seed=0)
    tokens, _ = received(clip, 6)
    snr = torch.full((6, 1), 0.0)
    views = tta.views(tokens, snr, torch.Generator().manual_seed(1))
    assert views.shape == (8, 6, clip.dim) and torch.equal(views[0], tokens)  # the token itself, then fresh draws
    before = objective(tta, views, snr)
    gen = torch.Generator().manual_seed(1)  # the same views again
    tta.adapt(tokens, snr, CLASSES, gen)
    assert not torch.equal(learner.ctx, start)
    assert objective(tta, views, snr) < before
    learner.ctx.data.copy_(start)
    tokens, _ = received(clip, 12, seed=2)
    first = tta.predict(tokens, torch.full((12, 1), 5.0), CLASSES)
    assert first.shape == (12,) and torch.equal(learner.ctx, start)  # left as it came
    again = TestTimePrompts(learner, jscc, "awgn", tta.cfg, seed=0).predict(tokens, torch.full((12, 1), 5.0), CLASSES)
    assert torch.equal(first, again)  # the views come from the seed: reproducible


def test_the_hand_crafted_receiver_adapts_tpts_template_and_stays_untouched(clip, jscc):
    hand = create_learner("handcrafted", clip)
    tta = TestTimePrompts(hand, jscc, "awgn", TTAConfig(views=2, chunk=4))
    assert tta.learner is not hand and tta.learner.name == "coop"
    with torch.no_grad():
        got = tta.learner.class_embeddings(CLASSES, torch.zeros(1, clip.dim), torch.zeros(1, 1))[0][0]
    torch.testing.assert_close(got, clip.encode_text([f"a photo of a {c}." for c in CLASSES]), atol=1e-5, rtol=1e-4)
    assert not list(hand.parameters())


def test_a_missing_snr_and_settings_out_of_range_are_refused(clip, jscc):
    tta = TestTimePrompts(create_learner("coop", clip), jscc, "awgn", TTAConfig(views=2))
    tokens, _ = received(clip, 4)
    with pytest.raises(SemclipError, match="needs the SNR"):
        tta.predict(tokens, None, CLASSES)
    with pytest.raises(SemclipError, match="finite SNR"):
        tta.predict(tokens, torch.full((4, 1), float("nan")), CLASSES)
    for bad in ({"keep": 0.0}, {"keep": 1.5}, {"lr": float("nan")}, {"views": 0}, {"chunk": 0}):
        with pytest.raises(SemclipError, match="test-time adaptation"):
            TTAConfig(**bad)
    with pytest.raises(SemclipError, match="unknown channel"):
        TestTimePrompts(create_learner("coop", clip), jscc, "nochannel")


def test_protocols_report_test_time_tuning_as_its_own_method(clip, jscc):
    assert split_name("coop+tta") == ("coop", True) and split_name("tapl:plain") == ("tapl:plain", False)
    tokens, labels = received(clip, 24)
    test_tokens, test_labels = received(clip, 24, seed=1)
    train = Split("toy-train", tokens, labels, CLASSES, "toy-train")
    test = Split("toy-test", test_tokens, test_labels, CLASSES, "toy-test")
    cfg = ProtocolConfig(learners=["handcrafted+tta", "coop", "coop+tta"], seeds=[0], snrs_db=[0.0],
                         train=PromptTrainConfig(shots=3, steps=2, batch_size=4), tta=TTAConfig(views=4, chunk=4))
    logged = []
    recs = run_base2novel(clip, jscc, "toy-codec", train, test, cfg, log=logged.append).records
    assert {r.method for r in recs if r.channel == "awgn"} == {"semclip+tpt", "semclip+coop", "semclip+coop+tta"}
    assert sum("trained coop" in str(m) for m in logged) == 1  # coop+tta reuses coop's prompts
    with pytest.raises(SemclipError, match=r"unknown prompt learner 'nope\+tta'"):
        ProtocolConfig(learners=["nope+tta"]).validate()
