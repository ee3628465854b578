"""Trained parts come from the cache, the package (shipped) or training, in that order, and
a run says which; the shipped files are intact and serve the default main job."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from semclip import artefacts


@pytest.fixture
def shipped_dir(tmp_path, monkeypatch):
    folder = tmp_path / "shipped"
    monkeypatch.setattr(artefacts, "SHIPPED", folder)
    artefacts.reset()
    yield folder
    artefacts.use_shipped(True)
    artefacts.reset()


def _maker(made: list):
    def make(path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("new")
        made.append(path)
        return "new"
    return make


def test_cache_then_shipped_then_trained(shipped_dir, isolated_cache):
    name = artefacts.name("jscc", "toy", ["backbone-x", "data-y", {"steps": 3}])
    assert name == artefacts.name("jscc", "toy", ["backbone-x", "data-y", {"steps": 3}]) != artefacts.name("jscc", "toy", ["backbone-x", "data-y", {"steps": 4}])
    made: list = []
    read = lambda p: p.read_text()  # noqa: E731
    # nothing anywhere: trained, written to the cache
    got, path = artefacts.obtain(name, "toy part", read, _maker(made), log=lambda *a: None)
    assert got == "new" and path == isolated_cache / name and made == [path]
    assert artefacts.used() == [{"what": "toy part", "name": name, "origin": "trained", "path": str(path)}]
    # shipped and cached: the cache wins (a user's own training overrides the package)
    (shipped_dir / name).parent.mkdir(parents=True)
    (shipped_dir / name).write_text("shipped")
    artefacts.reset()
    assert artefacts.obtain(name, "toy part", read, _maker(made), log=lambda *a: None)[0] == "new"
    assert artefacts.used()[0]["origin"] == "cached"
    # shipped only
    path.unlink()
    artefacts.reset()
    logged: list = []
    assert artefacts.obtain(name, "toy part", read, _maker(made), log=logged.append)[0] == "shipped"
    assert artefacts.used()[0]["origin"] == "shipped" and logged and "toy part: shipped" in logged[0]
    # the first use in a run says where it came from, later ones do not overwrite it
    assert artefacts.obtain(name, "toy part", read, _maker(made), log=lambda *a: None)[0] == "shipped"
    assert len(artefacts.used()) == 1 and len(made) == 1
    # shipped parts off (how they are regenerated): trained again
    artefacts.use_shipped(False)
    artefacts.reset()
    assert artefacts.obtain(name, "toy part", read, _maker(made), log=lambda *a: None)[0] == "new"
    assert artefacts.used()[0]["origin"] == "trained" and len(made) == 2


def _tiny_demo(tiny_clip_dir, image_folder, tmp_path, **kw):
    from semclip.app.demo import DemoConfig
    from semclip.baselines.common import BaselineConfig
    from semclip.job.config import CodecsConfig, DataConfig, GridConfig, PromptStageConfig, RetrievalConfig
    from semclip.jscc.train import JSCCTrainConfig
    from semclip.prompts.train import PromptTrainConfig

    from PIL import Image

    train = tmp_path / "train"  # other images of the same classes
    if not train.exists():
        (image_folder / "grey_thing").mkdir()  # a fourth class: two base, two novel
        for i in range(4):
            Image.new("RGB", (20, 24), (128 + 10 * i,) * 3).save(image_folder / "grey_thing" / f"{i}.png")
        shutil.copytree(image_folder, train)
        for f in train.rglob("*.png"):
            Image.eval(Image.open(f).convert("RGB"), lambda v: min(255, v + 7)).save(f)
    return DemoConfig(
        data=DataConfig(backbone=f"hf-clip:{tiny_clip_dir}", dataset=f"folder:{image_folder}", transfer_dataset=None,
                        train_dataset=f"folder:{train}"),
        codecs=CodecsConfig(jscc=JSCCTrainConfig(steps=30), reference_dataset=None, adapt_dataset=None),
        prompts=PromptStageConfig(learners=["coop"], shots_dataset=f"folder:{train}", shots_limit=None,
                                  train=PromptTrainConfig(shots=2, steps=3)),
        grid=GridConfig(ks=[2, 4], k=4, snrs_db=[0.0, 20.0]), baselines=BaselineConfig(methods=["token-digital"], limit=4, token_bits=[1]),
        retrieval=RetrievalConfig(dataset=None), **kw)


@pytest.mark.long
def test_a_run_with_shipped_parts_trains_nothing_and_encodes_no_training_image(
        tiny_clip_dir, image_folder, tmp_path, isolated_cache, shipped_dir, monkeypatch):
    from semclip.app.demo import run_demo

    cfg = _tiny_demo(tiny_clip_dir, image_folder, tmp_path)
    first = run_demo(cfg, tmp_path / "a", log=lambda *a: None)
    used = first.model_extra["artefacts"]
    assert {u["origin"] for u in used} == {"trained"}
    assert sorted(u["name"].split("/")[0] for u in used) == ["jscc", "jscc", "jscc", "prompts", "prompts", "quantizers"], used  # codec, pca, pca-flat, handcrafted + coop, quantiser
    for u in used:  # ship what the first run trained
        (shipped_dir / u["name"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(u["path"], shipped_dir / u["name"])
    fresh = tmp_path / "fresh-cache"
    monkeypatch.setenv("SEMCLIP_CACHE", str(fresh))
    second = run_demo(cfg, tmp_path / "b", log=lambda *a: None)
    assert [(u["name"], u["origin"]) for u in second.model_extra["artefacts"]] == [(u["name"], "shipped") for u in used]
    assert second.records == first.records  # the same parts give the same results
    encoded = [p.name for p in (fresh / "tokens").iterdir()]
    assert any(n.startswith("folder-imgs") for n in encoded) and not any(n.startswith("folder-train") for n in encoded)
    assert "| semclip+coop prompts (folder-train, base classes, seed 0) | shipped |" in (tmp_path / "b" / "results.md").read_text()
    # --no-shipped: everything trained again in a fresh cache
    monkeypatch.setenv("SEMCLIP_CACHE", str(tmp_path / "third-cache"))
    third = run_demo(_tiny_demo(tiny_clip_dir, image_folder, tmp_path, shipped=False), tmp_path / "c", log=lambda *a: None)
    assert {u["origin"] for u in third.model_extra["artefacts"]} == {"trained"}


MANIFEST = Path(artefacts.SHIPPED) / "MANIFEST.json"


@pytest.mark.skipif(not MANIFEST.exists(), reason="no shipped parts in this checkout")
def test_shipped_files_are_the_ones_the_manifest_describes():
    manifest = json.loads(MANIFEST.read_text())
    listed = {p["name"]: p for p in manifest["parts"]}
    on_disk = {str(p.relative_to(MANIFEST.parent)) for p in MANIFEST.parent.rglob("*.safetensors")}
    assert on_disk == set(listed)
    for name, part in listed.items():
        assert hashlib.sha256((MANIFEST.parent / name).read_bytes()).hexdigest() == part["sha256"], name


@pytest.mark.slow
@pytest.mark.skipif(not MANIFEST.exists(), reason="no shipped parts in this checkout")
def test_the_default_main_job_finds_every_part_shipped():
    """The names the default job asks for (backbone fingerprint, data ids, default settings)
    are the shipped ones: a changed default that would silently retrain on every cold run
    fails here."""
    from dataclasses import replace

    from semclip.app.demo import DemoConfig
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.image_jscc import auto_config
    from semclip.baselines.quantize import quantizer_name
    from semclip.baselines.methods.image_jscc import image_jscc_name
    from semclip.data.registry import create_dataset
    from semclip.eval.protocols import prompts_name
    from semclip.jscc.zoo import adapted_name, codec_configs, codec_name, codec_recipe, linear_name
    from semclip.prompts.base import PromptConfig
    from semclip.prompts.splits import base_novel

    cfg = DemoConfig()
    data, grid, codecs, prompts = cfg.data, cfg.grid, cfg.codecs, cfg.prompts
    bb = create_backbone(data.backbone, device="cpu")
    train, ref = create_dataset(data.train_dataset), create_dataset(codecs.reference_dataset)
    pool, test = create_dataset(prompts.shots_dataset, limit=prompts.shots_limit), create_dataset(data.dataset)
    codec = codec_name(bb, train, *codec_configs(bb, *codec_recipe("awgn"), grid.ks, codecs.jscc))
    want = {codec, codec_name(bb, ref, *codec_configs(bb, *codec_recipe("awgn"), grid.ks, codecs.jscc)), linear_name(bb, train, grid.ks)}
    want.add(adapted_name(codec, create_dataset(codecs.adapt_dataset), codecs.adapt))
    want |= {quantizer_name(bb, train, b) for b in {1, *cfg.baselines.token_bits}}
    want.add(image_jscc_name(cfg.baselines, auto_config(test.image(0)), create_dataset(prompts.shots_dataset)))
    base, _ = base_novel(test.classes)
    tcfg = replace(prompts.train, channels=list(grid.channels), seed=grid.seed)
    want |= {prompts_name(n, bb, Path(codec).stem, pool.cache_id, base, PromptConfig(), tcfg) for n in ["handcrafted", *prompts.learners]}
    shipped = {p["name"] for p in json.loads(MANIFEST.read_text())["parts"]}
    assert want <= shipped, sorted(want - shipped)
