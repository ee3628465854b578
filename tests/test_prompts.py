"""Prompt learners at the receiver: context insertion is exact on both backbones, every
learner trains through the backbone interface, training resumes after an interruption, and
bad checkpoints, names and shot counts are refused with a clear message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semclip.channels.registry import create_channel
from semclip.errors import SemclipError
from semclip.eval.protocols import ProtocolConfig, Split, harmonic_records, run_base2novel
from semclip.eval.summary import paired_markdown
from semclip.prompts import PromptConfig, PromptTrainConfig, create_learner, few_shot, load_prompts, train_prompts
from semclip.prompts import train as train_mod
from semclip.prompts.centering import LEVELS_DB, ReceivedMean, measure
from semclip.prompts.train import PromptEnsemble, regularisers

CLASSES = ["red thing", "green thing", "blue thing", "grey thing"]


def tokens_for(clip, n_per_class=6, seed=0):
    """Synthetic tokens near each class's text embedding, so there is something to learn."""
    g = torch.Generator().manual_seed(seed)
    text = clip.encode_text([f"a photo of a {c}." for c in CLASSES])
    labels = torch.arange(len(CLASSES)).repeat_interleave(n_per_class)
    tokens = F.normalize(text[labels] + 0.3 * torch.randn(len(labels), clip.dim, generator=g), dim=-1)
    return tokens, labels


def assert_context_is_exact(backbone):
    """CoOp initialised from "a photo of a" must equal encoding "a photo of a <class>." —
    positions, attention mask and pooling all shifted right."""
    learner = create_learner("coop", backbone, PromptConfig(ctx_init="a photo of a"))
    names = ["red thing", "blue thing"]
    with torch.no_grad():
        got = learner.class_embeddings(names, torch.zeros(1, backbone.dim), torch.zeros(1, 1))[0][0]
        want = backbone.encode_text([f"a photo of a {c}." for c in names])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_insert_context_is_exact_on_clip(clip):
    assert_context_is_exact(clip)


@pytest.mark.slow
def test_insert_context_is_exact_on_pocketclip():
    from semclip.backbones.registry import create_backbone

    assert_context_is_exact(create_backbone("pocketclip"))


def test_insert_context_shapes_and_errors(clip):
    tok = clip.tokenize(["red thing."])
    emb = clip.embed_tokens(tok.input_ids)
    out, text = clip.insert_context(emb, tok, torch.zeros(3, emb.shape[2]))
    assert out.shape == (1, emb.shape[1] + 3, emb.shape[2])
    assert int(text.pool_index) == int(tok.pool_index) + 3 and text.attention_mask.shape[1] == emb.shape[1] + 3
    with pytest.raises(SemclipError, match="exceed"):
        clip.insert_context(emb, tok, torch.zeros(60, emb.shape[2]))
    with pytest.raises(SemclipError, match="does not fit"):
        clip.insert_context(emb, tok, torch.zeros(3, emb.shape[2] + 1))


@pytest.mark.parametrize("name", ["handcrafted", "coop", "cocoop", "tapl", "tapl:no-snr", "tapl:text-only", "tapl:visual-only"])
def test_every_learner_scores_and_trains(clip, name):
    torch.manual_seed(0)
    learner = create_learner(name, clip, k=4)
    z, snr = F.normalize(torch.randn(5, clip.dim), dim=-1), torch.tensor([[-10.0], [0.0], [0.0], [20.0], [3.3]])
    logits = learner(z, snr, CLASSES)
    assert logits.shape == (5, len(CLASSES)) and torch.isfinite(logits).all()
    params = [p for p in learner.parameters() if p.requires_grad]
    if name == "handcrafted":
        assert not params
        return
    F.cross_entropy(logits, torch.tensor([0, 1, 2, 3, 0])).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_tapl_prompts_depend_on_snr_unless_ablated(clip):
    for name, should_differ in (("tapl", True), ("tapl:no-snr", False)):
        torch.manual_seed(0)
        learner = create_learner(name, clip, k=4)
        torch.nn.init.normal_(learner.ctx_shift.weight, std=0.5)  # as after training
        snr = torch.tensor([[-10.0], [-10.2], [20.0]])
        text, index = learner.class_embeddings(CLASSES, torch.zeros(3, clip.dim), snr)
        if should_differ:  # -10 and -10.2 round to the same SNR group; 20 dB is another
            assert text.shape[0] == 2 and index.tolist() == [0, 0, 1]
            assert (text[0] - text[1]).abs().max() > 1e-4
        else:
            assert text.shape[0] == 1


def test_evaluation_encodes_each_snr_level_prompts_once(clip, monkeypatch):
    """Under no_grad the class embeddings of a context set are kept: a sweep's batches ask
    only for SNR levels not seen before; training (with gradients) always encodes anew."""
    torch.manual_seed(0)
    learner = create_learner("tapl", clip, k=4)
    torch.nn.init.normal_(learner.ctx_shift.weight, std=0.5)
    tokens, _ = tokens_for(clip)
    encoded = []
    real = clip.encode_embeddings
    monkeypatch.setattr(clip, "encode_embeddings", lambda full, text: encoded.append(full.shape[0]) or real(full, text))
    first = torch.tensor([[-10.0], [0.0], [20.0]]).repeat(8, 1)[: len(tokens)]
    with torch.no_grad():
        a = learner(tokens, first, CLASSES)
        assert encoded == [3 * len(CLASSES)]  # three SNR levels, each class once
        b = learner(tokens, first.flip(0), CLASSES)  # the same levels, in another order: nothing encoded
        assert encoded == [3 * len(CLASSES)]
        learner(tokens, torch.full_like(first, 5.0).index_fill_(0, torch.tensor([0]), 20.0), CLASSES)
        assert encoded[-1] == len(CLASSES)  # 5 dB is new, 20 dB is kept
    torch.testing.assert_close(b, learner(tokens, first.flip(0), CLASSES).detach(), atol=1e-4, rtol=1e-4)  # as encoded anew (logits x100)
    assert encoded[-1] == 3 * len(CLASSES)  # with gradients: encoded anew
    assert not torch.equal(a, b)  # the SNR levels moved between the tokens, and the prompts with them


def test_bad_learner_inputs(clip):
    with pytest.raises(SemclipError, match="unknown prompt learner"):
        create_learner("maple++", clip)
    learner = create_learner("coop", clip)
    with pytest.raises(SemclipError, match="duplicate"):
        learner(torch.zeros(2, clip.dim), torch.zeros(2, 1), ["cat", "Cat"])
    with pytest.raises(SemclipError, match="empty"):
        learner(torch.zeros(2, clip.dim), torch.zeros(2, 1), ["cat", " "])
    with pytest.raises(SemclipError, match="expected tokens"):
        learner(torch.zeros(2, clip.dim + 1), torch.zeros(2, 1), CLASSES)
    with pytest.raises(SemclipError, match="snr_db"):
        learner(torch.zeros(2, clip.dim), torch.zeros(2), CLASSES)


def test_few_shot_is_reproducible_cached_and_checked(isolated_cache):
    labels = torch.tensor([0] * 10 + [1] * 5 + [2] * 8)
    a = few_shot(labels, [0, 1], 3, seed=0, dataset_id="toy")
    assert a.tolist() == few_shot(labels, [0, 1], 3, seed=0, dataset_id="toy").tolist()
    assert a.tolist() != few_shot(labels, [0, 1], 3, seed=1, dataset_id="toy").tolist()
    assert labels[a].tolist() == [0, 0, 0, 1, 1, 1]
    assert list((isolated_cache / "splits").glob("toy-*.json"))
    with pytest.raises(SemclipError, match="only 5 training examples"):
        few_shot(labels, [0, 1], 6, seed=0, dataset_id="toy")


REGULARISED = PromptConfig(agreement=1.0, image_anchor=1.0, ensemble=0.3, centering=1.0, centering_learned=True)


@pytest.mark.parametrize("prompt", [PromptConfig(), REGULARISED], ids=["plain", "regularised"])
def test_training_learns_and_resumes_after_interruption(clip, jscc, tmp_path, monkeypatch, prompt):
    tokens, labels = tokens_for(clip)
    cfg = PromptTrainConfig(steps=8, batch_size=8, save_every=2, lr=5e-2)
    table = measure(jscc, tokens, 4, n=len(tokens))

    def fresh():
        torch.manual_seed(0)
        learner = create_learner("tapl", clip, PromptConfig(**vars(prompt)), k=4)
        if learner.received_mean is not None:
            learner.received_mean.fill(table)
        return learner

    def loss(learner) -> float:  # cross-entropy on the training tokens received at 20 dB, a fixed draw
        with torch.no_grad():
            decoded, rx = jscc(tokens, torch.full((len(tokens), 1), 20.0), create_channel("awgn", torch.Generator().manual_seed(9)))
            return F.cross_entropy(learner.eval()(F.normalize(decoded, dim=-1), rx.rx_snr_db, CLASSES), labels).item()

    reference = fresh()
    untrained = loss(reference)
    train_prompts(reference, jscc, tokens, labels, CLASSES, cfg, tmp_path / "ref.safetensors")
    # it learned, not merely moved (less far when held near the frozen receiver and averaged along the way)
    assert loss(reference) < (0.8 if prompt == PromptConfig() else 0.9) * untrained

    calls = {"n": 0}
    real = train_mod.create_channel

    def dies_at_step_5(name, generator=None):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real(name, generator=generator)

    monkeypatch.setattr(train_mod, "create_channel", dies_at_step_5)
    out = tmp_path / "run.safetensors"
    with pytest.raises(KeyboardInterrupt):
        train_prompts(fresh(), jscc, tokens, labels, CLASSES, cfg, out)
    assert not out.exists() and (tmp_path / "run.partial.safetensors").exists()
    monkeypatch.setattr(train_mod, "create_channel", real)
    resumed = fresh()
    r = train_prompts(resumed, jscc, tokens, labels, CLASSES, cfg, out)
    assert r["resumed_from"] == 4 and not (tmp_path / "run.partial.safetensors").exists()
    for k, v in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v)
    loaded, meta = load_prompts(out, clip, k=4, classes=CLASSES)
    assert meta["learner"] == "tapl" and meta["classes"] == CLASSES
    z, snr = tokens[:3], torch.zeros(3, 1)
    torch.testing.assert_close(loaded(z, snr, CLASSES), resumed.eval()(z, snr, CLASSES))


def test_checkpoints_from_elsewhere_are_refused(clip, jscc, tmp_path):
    tokens, labels = tokens_for(clip)
    path = tmp_path / "p.safetensors"
    train_prompts(create_learner("coop", clip, k=4), jscc, tokens, labels, CLASSES, PromptTrainConfig(steps=1), path)
    with pytest.raises(SemclipError, match="k = 4, not k = 8"):
        load_prompts(path, clip, k=8)
    with pytest.raises(SemclipError, match="trained on 4 classes, but 2"):
        load_prompts(path, clip, classes=CLASSES[:2])
    mine = tmp_path / "mine.safetensors"
    train_prompts(create_learner("coop", clip, k=4), jscc, tokens, labels, CLASSES, PromptTrainConfig(steps=1), mine,
                  extra={"jscc": "codec-a"})
    assert load_prompts(mine, clip, k=4, codec="codec-a")[1]["extra"]["jscc"] == "codec-a"
    with pytest.raises(SemclipError, match="trained for codec codec-a, not codec-b"):
        load_prompts(mine, clip, k=4, codec="codec-b")
    object.__setattr__(clip, "name", "hf-clip:another")
    try:
        with pytest.raises(SemclipError, match="trained for backbone"):
            load_prompts(path, clip)
    finally:
        object.__setattr__(clip, "name", f"hf-clip:{clip.source}")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(SemclipError, match="not a safetensors file"):
        load_prompts(tmp_path / "junk.safetensors", clip)
    with pytest.raises(SemclipError, match="no prompt checkpoint"):
        load_prompts(tmp_path / "missing.safetensors", clip)


def test_base_to_novel_protocol(clip, jscc):
    tokens, labels = tokens_for(clip)
    test_tokens, test_labels = tokens_for(clip, seed=1)
    train = Split("toy-train", tokens, labels, CLASSES, "toy-train")
    test = Split("toy-test", test_tokens, test_labels, CLASSES, "toy-test")
    cfg = ProtocolConfig(learners=["handcrafted", "coop"], seeds=[0, 1], snrs_db=[0.0, 20.0],
                         train=PromptTrainConfig(shots=3, steps=2, batch_size=4))
    recs = run_base2novel(clip, jscc, "toy-codec", train, test, cfg, log=lambda *a: None).records
    keys = {(r.method, r.split, r.seed) for r in recs if r.channel == "awgn"}
    assert keys == {(m, s, seed) for m in ("semclip", "semclip+coop") for s in ("base", "novel") for seed in (0, 1)}
    assert {(r.method, r.split) for r in recs if r.channel == "none"} == {("clean", "base"), ("clean", "novel")}
    hm = harmonic_records(recs)
    b = next(r.value for r in recs if (r.method, r.split, r.seed, r.snr_db) == ("semclip+coop", "base", 1, 0.0))
    n = next(r.value for r in recs if (r.method, r.split, r.seed, r.snr_db) == ("semclip+coop", "novel", 1, 0.0))
    h = next(r.value for r in hm if (r.method, r.seed, r.snr_db) == ("semclip+coop", 1, 0.0))
    assert h == pytest.approx(2 * b * n / (b + n) if b + n else 0.0)
    paired = paired_markdown(recs)  # learners against hand-crafted on the same images and noise, over both seeds
    assert "base: difference to semclip" in paired and "novel: difference to semclip" in paired
    assert sum(line.startswith("| semclip+coop | awgn |") for line in paired.splitlines()) == 2
    with pytest.raises(SemclipError, match="only 6 training examples"):
        run_base2novel(clip, jscc, "toy-codec", train, test, ProtocolConfig(train=PromptTrainConfig(shots=7)))


def test_harmonic_mean_over_seeds_is_taken_from_the_mean_base_and_novel_accuracies():
    from semclip.results import Record
    from semclip.eval.summary import summarize

    recs = [Record(method="m", split=s, channel="awgn", snr_db=0.0, value=v, channel_uses_per_image=4, seed=seed)
            for s, seed, v in (("base", 0, 0.9), ("base", 1, 0.7), ("novel", 0, 0.1), ("novel", 1, 0.5))]
    hm = next(r for r in summarize(recs + harmonic_records(recs)) if r["split"] == "hm")
    # by hand: mean base 0.8, mean novel 0.3, HM = 2 * 0.24 / 1.1 = 0.43636...; the mean of the per-seed
    # HMs (0.18, 0.58333) would be 0.38167
    assert hm["mean"] == pytest.approx(0.436364, abs=1e-6)


def test_scores_are_deterministic_and_equal_the_indexed_form():
    """Scoring against a few class-embedding sets picked per row: the same values as
    indexing the sets, and a backward that is the same on every run (indexing's backward is
    a scatter-add whose sums land in a thread-dependent order: 5e-6 apart here)."""
    from semclip.prompts.base import scores

    torch.manual_seed(0)
    z, text0, index = torch.randn(2048, 256), torch.randn(4, 50, 256), torch.randint(0, 4, (2048,))
    assert torch.allclose(scores(z, text0, index), torch.einsum("bd,bcd->bc", z, text0[index]), atol=1e-4)
    grads = []
    for _ in range(4):
        t = text0.clone().requires_grad_(True)
        scores(z, t, index).logsumexp(-1).sum().backward()
        grads.append(t.grad)
    assert all(torch.equal(g, grads[0]) for g in grads)
    per_row = torch.randn(6, 3, 8)  # one set per row (CoCoOp) and a single set
    zz = torch.randn(6, 8)
    assert torch.allclose(scores(zz, per_row, torch.arange(6)), torch.einsum("bd,bcd->bc", zz, per_row))
    assert torch.allclose(scores(zz, per_row[:1], torch.zeros(6, dtype=torch.long)), zz @ per_row[0].t())


def test_centering_removes_the_mean_received_token_at_each_snr(clip, jscc, tmp_path):
    tokens, labels = tokens_for(clip, n_per_class=250)
    table = measure(jscc, tokens, 4, channels=("awgn",), n=len(tokens))
    assert table.shape == (LEVELS_DB[1] - LEVELS_DB[0] + 1, clip.dim) and torch.isfinite(table).all()
    mean = ReceivedMean(clip.dim)
    with pytest.raises(SemclipError, match="never measured"):
        mean(torch.zeros(1, 1))
    mean.fill(table)
    row = lambda db: table[int(db) - LEVELS_DB[0]]  # noqa: E731
    torch.testing.assert_close(mean(torch.tensor([[-10.0], [99.0]])), torch.stack([row(-10), row(LEVELS_DB[1])]))
    torch.testing.assert_close(mean(torch.tensor([[0.5]])), (row(0) + row(1)).unsqueeze(0) / 2)
    # what the table says is what the codec delivers: centred received tokens average to ~0 at that SNR
    with torch.no_grad():
        decoded, rx = jscc(tokens, torch.full((len(tokens), 1), -10.0), create_channel("awgn", torch.Generator().manual_seed(5)))
    received = F.normalize(decoded, dim=-1)
    assert (received.mean(0) - mean(rx.rx_snr_db).mean(0)).norm() < 0.25 * row(-10).norm()  # two draws of 1000
    learner = create_learner("handcrafted", clip, PromptConfig(centering=1.0), k=4)
    learner.received_mean.fill(table)
    centred = learner.received(received, rx.rx_snr_db)
    assert centred.mean(0).norm() < 0.3 * received.mean(0).norm()
    path = tmp_path / "h.safetensors"  # the table travels with the learner
    train_prompts(learner, jscc, tokens, labels, CLASSES, PromptTrainConfig(steps=1), path)
    loaded, _ = load_prompts(path, clip, k=4)
    torch.testing.assert_close(loaded.received(received, rx.rx_snr_db), centred)


def test_prompt_settings_out_of_range_are_refused():
    for bad in ({"anchor": -1.0}, {"agreement": float("nan")}, {"image_anchor": 1e6}, {"ensemble": 1.5}, {"centering": -0.1},
                {"centering": float("inf")}, {"blend": 2.0}):
        with pytest.raises(SemclipError, match=f"{next(iter(bad))} = .* out of range"):
            PromptConfig(**bad)


def test_prompt_ensemble_is_the_gaussian_weighted_mean_along_training():
    p = torch.nn.Parameter(torch.zeros(2))
    ens = PromptEnsemble([p], steps=4, width=0.25)
    values = [1.0, 2.0, 3.0, 4.0]
    for step, v in enumerate(values):
        p.data.fill_(v)
        ens.add(step)
    w = torch.tensor([torch.exp(torch.tensor(-0.5 * (((s + 1) / 4 - 0.75) / 0.25) ** 2)).item() for s in range(4)])
    ens.apply()
    torch.testing.assert_close(p.data, torch.full((2,), float((w * torch.tensor(values)).sum() / w.sum())))


def test_agreement_and_image_anchor_pull_towards_the_frozen_receiver(clip):
    torch.manual_seed(0)
    learner = create_learner("tapl", clip, PromptConfig(agreement=1.0, image_anchor=1.0), k=4)
    torch.nn.init.normal_(learner.up.weight, std=0.5)  # an adapter that moves the token
    torch.nn.init.normal_(learner.ctx_shift.weight, std=0.5)
    z, snr = F.normalize(torch.randn(6, clip.dim), dim=-1), torch.full((6, 1), 0.0)
    logits, text, image = learner.score_parts(z, snr, CLASSES)
    moved = regularisers(learner, z, snr, CLASSES, logits, text, image)
    off = create_learner("tapl", clip, PromptConfig(agreement=0.0, image_anchor=0.0, anchor=0.0), k=4)
    assert regularisers(off, z, snr, CLASSES, logits, text, image).item() == 0.0
    frozen_logits = clip.logit_scale * z @ learner.reference(CLASSES).t()
    still = regularisers(learner, z, snr, CLASSES, frozen_logits, learner.reference(CLASSES)[None], z)
    assert still.item() == pytest.approx(0.0, abs=1e-5) and moved.item() > 1e-3


def test_blend_mixes_the_frozen_receivers_scores_in(clip):
    torch.manual_seed(0)
    z, snr = F.normalize(torch.randn(6, clip.dim), dim=-1), torch.full((6, 1), 0.0)
    frozen = clip.logit_scale * z @ create_learner("handcrafted", clip).reference(CLASSES).t()
    plain = create_learner("tapl", clip, PromptConfig(blend=0.0), k=4)
    torch.nn.init.normal_(plain.ctx_shift.weight, std=0.5)  # prompts away from the hand-crafted ones
    for b in (0.0, 0.3, 1.0):
        mixed = create_learner("tapl", clip, PromptConfig(blend=b), k=4)
        mixed.load_state_dict(plain.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(mixed(z, snr, CLASSES), (1 - b) * plain(z, snr, CLASSES) + b * frozen, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(plain(z, snr, CLASSES), frozen, atol=1e-2)
    at_test = create_learner("tapl", clip, PromptConfig(blend=0.5, blend_train=False), k=4)
    at_test.load_state_dict(plain.state_dict())
    with torch.no_grad():  # trains alone, mixes at test (WiSE-FT's output ensemble)
        torch.testing.assert_close(at_test.train()(z, snr, CLASSES), plain(z, snr, CLASSES))
        torch.testing.assert_close(at_test.eval()(z, snr, CLASSES), 0.5 * plain(z, snr, CLASSES) + 0.5 * frozen, atol=1e-4, rtol=1e-4)


def test_prompts_are_named_by_the_bandwidth_they_serve(clip):
    from semclip.eval.protocols import prompts_name

    args = ("tapl", clip, "codec", "toy-train", [0, 1], PromptConfig(), PromptTrainConfig())
    names = {k: prompts_name(*args, k=k) for k in (4, 8, 16)}
    assert len(set(names.values())) == 3  # one codec file serves every k: its prompts must not be shared
    assert prompts_name(*args) == names[16]


def test_a_centring_learner_gets_its_codec_table_as_an_artefact_with_provenance(clip, jscc, image_folder, isolated_cache,
                                                                                  monkeypatch):
    from semclip.eval import protocols

    monkeypatch.setattr(protocols, "CODEC_DATASET", f"folder:{image_folder}")  # the corpus, in small
    tokens, labels = tokens_for(clip)
    train = Split("toy-train", tokens, labels, CLASSES, "toy-train")
    cfg = ProtocolConfig(learners=["handcrafted:centred"], seeds=[0], train=PromptTrainConfig(shots=3, steps=1))
    learner, prov = protocols.get_learner("handcrafted:centred", clip, jscc, "toy-codec", train, [0, 1], cfg, 0, log=lambda *a: None)
    assert bool(learner.received_mean.fitted)
    assert any(d.name.startswith("folder") for d in prov.datasets) and any("no class names" in n for n in prov.notes)
    assert len(list((isolated_cache / "centering").glob("toy-codec-k4-*.safetensors"))) == 1
    again, _ = protocols.get_learner("handcrafted:centred", clip, jscc, "toy-codec", train, [0, 1], cfg, 0, log=lambda *a: None)
    torch.testing.assert_close(again.received_mean.means, learner.received_mean.means)  # the saved learner carries it
