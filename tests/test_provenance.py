"""Zero-shot discipline: what trained parts saw is recorded, and evaluation on what they saw
is refused (or, when allowed, marked); the transmitter corpus holds no evaluation image."""

from pathlib import Path

import pytest
import torch

from semclip.data.captioned import CLIPART_DIR
from semclip.errors import SemclipError
from semclip.provenance import ClassList, DatasetSeen, Provenance, Vocabulary, check

needs_clipart = pytest.mark.skipif(not CLIPART_DIR.is_dir(), reason="needs Debian's openclipart-png (scripts/setup.sh)")


def codec(**kw) -> Provenance:
    return Provenance("token-codec", datasets=[DatasetSeen("corpus-v3", "corpus-v3-n9-abc", 9, ["clipart-test"])], **kw)


def test_unseen_split_and_classes_pass():
    prov = codec(vocabularies=[Vocabulary.of("imagenet-1k names", ["sandal", "tabby cat"], keep_words=True)])
    assert check(prov, "fashion-mnist-test", ["T-shirt", "sandal"], allow_leak=False) == []
    assert prov.overlaps(["T-shirt", "Sandal"]) == {"imagenet-1k names": ["sandal"]}  # reported, not refused


def test_a_vocabulary_holding_every_evaluated_class_is_that_class_list():
    prov = codec(vocabularies=[Vocabulary.of("imagenet-1k names", ["tabby cat", "goldfish", "sandal"], keep_words=True)])
    with pytest.raises(SemclipError, match="vocabulary imagenet-1k names, which holds every evaluated class"):
        check(prov, "imagenet-test", ["Goldfish", "tabby cat"], allow_leak=False)


def test_images_of_the_evaluated_split_are_a_leak_limits_included():
    prov = Provenance("token-codec", datasets=[DatasetSeen("fashion-mnist-test-n500", "x", 500)])
    with pytest.raises(SemclipError, match="not zero-shot on fashion-mnist-test: the token-codec trained on images of"):
        check(prov, "fashion-mnist-test", ["bag"], allow_leak=False)
    assert check(Provenance("token-codec", datasets=[DatasetSeen("fashion-mnist-train", "y", 9)]), "fashion-mnist-test", ["bag"], False) == []


def test_an_evaluation_class_in_a_class_list_is_named():
    prov = Provenance("prompts", class_lists=[ClassList("fashion-mnist-train (base classes)", ["T-shirt", "trouser"])])
    with pytest.raises(SemclipError, match=r"loss of the prompts classified against trouser \(class list of fashion-mnist-train"):
        check(prov, "fashion-mnist-test", ["Trouser ", "bag"], allow_leak=False)
    logged = []
    why = check(prov, "fashion-mnist-test", ["trouser"], allow_leak=True, log=logged.append)
    assert len(why) == 1 and "trouser" in why[0] and "leak allowed" in logged[0]


def test_provenance_round_trips_and_old_artefacts_are_refused():
    prov = codec(class_lists=[ClassList("a", ["x"])], vocabularies=[Vocabulary.of("caps", ["a b", "c"])], notes=["n"])
    import json

    assert Provenance.from_dict(json.loads(prov.to_json())) == prov
    with pytest.raises(SemclipError, match="records no provenance"):
        Provenance.from_meta({"kind": "semclip-token-jscc"}, "codec c.safetensors")


def test_protocol_refuses_a_codec_that_saw_the_novel_classes(tiny_clip_dir):
    from semclip.backbones.registry import create_backbone
    from semclip.eval.protocols import ProtocolConfig, Split, run_base2novel
    from semclip.jscc.model import JSCCConfig, TokenJSCC
    from semclip.prompts.train import PromptTrainConfig

    clip = create_backbone(f"hf-clip:{tiny_clip_dir}")
    classes = ["red", "green", "blue", "cyan"]
    g = torch.Generator().manual_seed(0)
    split = lambda name: Split(name, torch.nn.functional.normalize(torch.randn(40, clip.dim, generator=g), dim=-1),  # noqa: E731
                               torch.arange(40) % 4, classes, f"{name}-n40")
    train, test = split("toy-train"), split("toy-test")
    jscc = TokenJSCC(JSCCConfig(dim=clip.dim, ks=[4], width=16, depth=1, linear_base=False))
    leaky = Provenance("token-codec", class_lists=[ClassList("toy-train (all classes)", classes)])
    cfg = ProtocolConfig(learners=["handcrafted"], seeds=[0], snrs_db=[10.0], train=PromptTrainConfig(shots=2, steps=1))
    with pytest.raises(SemclipError, match="loss of the token-codec classified against"):
        run_base2novel(clip, jscc, "toy", train, test, cfg, log=lambda *a: None, codec=leaky)
    run = run_base2novel(clip, jscc, "toy", train, test, cfg, log=lambda *a: None, codec=leaky, allow_leak=True)
    assert run.leaks and "blue" in run.leaks[0]
    clean = run_base2novel(clip, jscc, "toy", train, test, cfg, log=lambda *a: None, codec=Provenance("token-codec"))
    assert clean.leaks == [] and clean.provenance["semclip seed 0"]["class_lists"][0]["classes"] == ["red", "green"]


@needs_clipart
def test_the_transmitter_corpus_holds_no_copy_of_a_clipart_test_image():
    from semclip.data.clipart_topics import build
    from semclip.data.clipart_topics import content_sha1
    from semclip.data.corpus import TransmitterCorpus
    from semclip.data.registry import create_dataset

    test = build(str(CLIPART_DIR))["test"]
    stems, shas = {Path(f).stem for f, _, _ in test}, {s for _, _, s in test}
    corpus = TransmitterCorpus(views=1)
    drawings = [data.keys[j] for data, j in corpus.sources if data.name == "openclipart"]
    assert corpus.excluded >= len(test) and len(drawings) > 5000 and corpus.n_emoji > 1000
    assert not any(Path(f).stem in stems or content_sha1(Path(f)) in shas for f in drawings)
    assert corpus.classes == ["(unlabelled corpus image)"] and set(corpus.labels.tolist()) == {0}
    small = create_dataset("corpus:3#12")  # views, and a limit spread over the corpus
    assert len(small) == 12 and small.cache_id != create_dataset("corpus:3#13").cache_id
    img_a, img_b = small.image(1), small.image(1)
    assert img_a.tobytes() == img_b.tobytes()  # augmentations are deterministic
    assert len(small.captions()) == 12


def test_corpus_and_limit_specs_are_checked():
    from semclip.data.registry import create_dataset

    with pytest.raises(SemclipError, match="number of views"):
        create_dataset("corpus:many")
    with pytest.raises(SemclipError, match="positive integer"):
        create_dataset("fashion-mnist:train#ten")


@pytest.mark.skipif(not Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf").is_file(), reason="needs Debian's fonts-noto-color-emoji")
def test_corpus_skips_counts_and_names_unreadable_drawings(tmp_path):
    from PIL import Image

    from semclip.data.clipart_topics import CLASSES
    from semclip.data.corpus import TransmitterCorpus

    for i, folder in enumerate(CLASSES.values()):  # a tiny Open Clip Art tree: 4 drawings per topic
        (tmp_path / folder).mkdir(parents=True)
        for j in range(4):
            Image.new("RGB", (16, 16), (10 * i, 20 * j, 99)).save(tmp_path / folder / f"d{i}_{j}.png")
    from semclip.data.clipart_topics import build

    test_name = Path(build(str(tmp_path))["test"][0][0]).name
    (tmp_path / "extra").mkdir()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(tmp_path / "extra" / test_name)  # same name as a test image, other bytes
    (tmp_path / "extra" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.new("RGB", (16, 16), (7, 7, 7)).save(tmp_path / "extra" / "fine.png")
    said = []
    corpus = TransmitterCorpus(views=2, clipart_root=tmp_path, log=said.append)
    names = [Path(data.keys[j]).name for data, j in corpus.sources if data.name == "openclipart"]
    assert "broken.png" not in names and "fine.png" in names and corpus.skipped_files == [str(tmp_path / "extra" / "broken.png")]
    assert "skipped 1 unreadable" in said[0] and "broken.png" in said[0]
    assert corpus.excluded == 18 * 2 + 1 and test_name not in names  # the test halves, and the re-encoded copy
    assert len(corpus) == 2 * (18 * 2 + 1 + corpus.n_emoji)
