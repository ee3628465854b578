"""What the codec's design is chosen with: the corpus's domains (leave-one-domain-out
validation) and the ways a training batch covers the bandwidths."""

from pathlib import Path

import numpy as np
import pytest
import torch

from semclip.channels import create_channel
from semclip.errors import SemclipError
from semclip.jscc import JSCCConfig, JSCCTrainConfig, TokenJSCC, train_jscc
from semclip.jscc.train import batch_plan, recipe


@pytest.mark.skipif(not Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf").is_file(), reason="needs Debian's fonts-noto-color-emoji")
def test_the_corpus_domains_split_content_and_renderings(tmp_path):
    from PIL import Image

    from semclip.data.clipart_topics import CLASSES
    from semclip.data.corpus import TransmitterCorpus

    for i, folder in enumerate(list(CLASSES.values()) + ["computer/icons", "special"]):  # a tiny Open Clip Art tree
        (tmp_path / folder).mkdir(parents=True)
        for j in range(4):
            Image.new("RGB", (16, 16), (10 * i, 20 * j, 99)).save(tmp_path / folder / f"d{i}_{j}.png")
    corpus = TransmitterCorpus(views=3, clipart_root=tmp_path)
    domains = corpus.domains()
    content = {n: m for n, m in domains.items() if n.startswith("content:")}
    assert set(content) == {"content:clipart-icons", "content:clipart-symbols", "content:clipart-objects", "content:noto-emoji"}
    assert (sum(m.astype(int) for m in content.values()) == 1).all()  # every row in exactly one content domain
    tops = [Path(data.keys[j]).relative_to(tmp_path).parts[0] for data, j in corpus.sources if data.name == "openclipart"]
    assert content["content:clipart-icons"].sum() == 3 * tops.count("computer") == 3 * 4
    assert content["content:clipart-symbols"].sum() == 3 * sum(t in ("shapes", "signs_and_symbols", "special") for t in tops)
    assert content["content:noto-emoji"].sum() == 3 * corpus.n_emoji
    views = np.array([corpus.rows[i] % 3 for i in range(len(corpus))])
    assert (domains["render:small-grey"] == (views == 1)).all() and (domains["render:crop-jitter"] == (views == 2)).all()
    icons = [i for i in np.nonzero(content["content:clipart-icons"])[0] if corpus.rows[i] % 3 == 0]
    assert all("computer" in corpus._where(i)[0].keys[corpus._where(i)[1]] for i in icons)


def test_row_sampling_draws_what_it_always_drew():
    """The default plan consumes the generator as the trainer did before plans existed, so
    codecs trained with it (and shipped) are reproduced bit for bit."""
    cfg, ks = JSCCTrainConfig(batch_size=8), torch.tensor([4, 8, 16])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    idx, snr, k, images = batch_plan(cfg, ks, g1, 100)
    old_idx = torch.randint(100, (8,), generator=g2)
    old_snr = cfg.snr_min_db + (cfg.snr_max_db - cfg.snr_min_db) * torch.rand(8, 1, generator=g2)
    old_k = ks[torch.randint(3, (8,), generator=g2)]
    assert torch.equal(idx, old_idx) and torch.equal(snr, old_snr) and torch.equal(k, old_k) and images is idx


def test_nested_sampling_sends_every_image_at_every_k_with_one_snr():
    cfg, ks = JSCCTrainConfig(batch_size=12, k_sampling="nested"), torch.tensor([2, 4, 8])
    idx, snr, k, images = batch_plan(cfg, ks, torch.Generator().manual_seed(0), 1000)
    assert len(images) == 4 and len(idx) == 12  # batch_size // len(ks) images, each at the 3 ks
    assert torch.equal(idx.view(4, 3), images[:, None].expand(4, 3))
    assert torch.equal(k.view(4, 3), ks.expand(4, 3))
    assert (snr.view(4, 3) == snr.view(4, 3)[:, :1]).all()


def test_the_settings_name_codecs_as_before_unless_changed():
    assert "k_sampling" not in recipe(JSCCTrainConfig())
    assert recipe(JSCCTrainConfig(k_sampling="nested"))["k_sampling"] == "nested"
    with pytest.raises(SemclipError, match="k_sampling"):
        JSCCTrainConfig(k_sampling="all").validate()


def test_nested_training_serves_every_k():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(16, 16, generator=g))[0]
    tokens = torch.nn.functional.normalize(2 + torch.randn(600, 16, generator=g) @ torch.diag(torch.logspace(0, -1, 16)) @ basis, dim=-1)
    model = TokenJSCC(JSCCConfig(dim=16, ks=[2, 4], width=32))
    train_jscc(model, tokens, None, JSCCTrainConfig(steps=60, batch_size=32, k_sampling="nested", channels=["awgn"]))
    for k in (2, 4):
        rx = model.at(k).transmit(tokens[:200], torch.full((200, 1), 10.0), create_channel("awgn", generator=torch.Generator().manual_seed(1)))
        assert (rx * tokens[:200]).sum(1).mean() > 0.8


def test_the_default_codec_recipe_is_the_one_the_validation_chose():
    """The shipped recipe changes only through benchmarks/codec_lodo.py: its DEFAULT variant is
    today's JSCCTrainConfig(), and the last validation run chose it."""
    import importlib.util
    import json
    from dataclasses import asdict, replace

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("codec_lodo", root / "benchmarks" / "codec_lodo.py")
    lodo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lodo)
    # every variant names its whole schedule, so a later default leaves each validated row's recipe as it was
    assert all({"steps", "batch_size", "lr"} <= set(t) for t, _ in lodo.VARIANTS.values())
    t_over, m_over = lodo.VARIANTS[lodo.DEFAULT]
    assert not m_over
    assert asdict(replace(JSCCTrainConfig(), **t_over)) == asdict(JSCCTrainConfig())
    # and it trains on the main job's corpus: the default codec dataset's number of views
    from semclip.data.registry import create_dataset
    from semclip.jscc.zoo import CODEC_DATASET

    assert lodo.VIEWS.get(lodo.DEFAULT, lodo.SCORED_VIEWS) == create_dataset(CODEC_DATASET, limit=30).views
    assert json.loads((root / "benchmarks" / "results" / "codec_lodo.json").read_text())["summary"]["chosen"] == lodo.DEFAULT
