"""The benchmark-suite adapters read tiny fake copies of each on-disk layout (CoOp's
DATASETS.md, CIFAR's binary release, a saved Hugging Face dataset) through the real code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semclip.data.benchmarks import BENCHMARKS, CROSS_DATASET_TARGETS
from semclip.data.registry import catalog, create_dataset
from semclip.errors import SemclipError

# the raw class names each CoOp split file spells, and what the prompt learners must see
ZHOU_NAMES = {
    "caltech101": (["accordion", "yin_yang"], ["accordion", "yin yang"]),
    "oxford_pets": (["abyssinian", "american_bulldog"], ["abyssinian", "american bulldog"]),
    "stanford_cars": (["2000 AM General Hummer SUV", "2012 Acura RL Sedan"], ["2000 AM General Hummer SUV", "2012 Acura RL Sedan"]),
    "oxford_flowers": (["pink primrose", "hard-leaved pocket orchid"], ["pink primrose", "hard-leaved pocket orchid"]),
    "food101": (["apple_pie", "baby_back_ribs"], ["apple pie", "baby back ribs"]),
    "sun397": (["abbey", "outdoor apartment_building"], ["abbey", "outdoor apartment building"]),
    "dtd": (["banded", "blotchy"], ["banded", "blotchy"]),
    "eurosat": (["Annual Crop Land", "Sea or Lake"], ["Annual Crop Land", "Sea or Lake"]),
    "ucf101": (["Apply_Eye_Makeup", "Band_Marching"], ["Apply Eye Makeup", "Band Marching"]),
}


def png(path: Path, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 10), (value, 255 - value, 40)).save(path)


def fake_zhou(root: Path, key: str, names: list[str] | None = None, per_split: int = 1) -> None:
    """Two classes (or ``names``), ``per_split`` images per class in each of train/val/test,
    listed in split_zhou_*.json."""
    b = BENCHMARKS[key]
    raw = names or ZHOU_NAMES[key][0]
    split = {"train": [], "val": [], "test": []}
    for y, name in enumerate(raw):
        folder = f"c{y}_{name.replace(' ', '_')}"
        for i in range(3 * per_split):
            part = ("train", "val", "test")[i // per_split]
            rel = f"{folder}/{i}.png"
            png(root / b.folder / b.image_dir / rel, (60 * y + 17 * i) % 256)
            split[part].append([rel, y, name])
    (root / b.folder / b.split_file).write_text(json.dumps(split))


def fake_imagenet(root: Path) -> None:
    for split in ("train", "val"):
        for y, wnid in enumerate(("n01440764", "n01443537")):
            for i in range(2):
                png(root / "imagenet/images" / split / wnid / f"{wnid}_{i}.JPEG", 50 * y + i)
    (root / "imagenet/classnames.txt").write_text("n01440764 tench\nn01443537 goldfish\n")


def fake_fgvc(root: Path) -> None:
    d = root / "fgvc_aircraft"
    for i in range(4):
        png(d / "images" / f"{1000 + i}.jpg", 40 * i)
    (d / "variants.txt").write_text("707-320\nF-16A/B\n")
    (d / "images_variant_test.txt").write_text("1000 707-320\n1001 F-16A/B\n1002 707-320\n1003 F-16A/B\n")


def fake_cifar(root: Path, key: str) -> None:
    rng = np.random.default_rng(0)
    if key == "cifar10":
        d, label_bytes, files, names = root / "cifar-10-batches-bin", 1, ["test_batch.bin"], ["airplane", "automobile"]
        (d / "batches.meta.txt").parent.mkdir(parents=True)
        (d / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    else:
        d, label_bytes, files, names = root / "cifar-100-binary", 2, ["test.bin"], ["apple", "aquarium_fish"]
        d.mkdir(parents=True)
        (d / "fine_label_names.txt").write_text("\n".join(names) + "\n")
    labels = np.array([0, 1, 1, 0], dtype=np.uint8)
    records = np.concatenate([np.repeat(labels[:, None], label_bytes, 1), rng.integers(0, 255, (4, 3072), dtype=np.uint8)], 1)
    for f in files:
        records.astype(np.uint8).tofile(d / f)


@pytest.mark.parametrize("key", sorted(ZHOU_NAMES))
def test_coop_split_layouts_read_with_clean_names(tmp_path, key):
    fake_zhou(tmp_path, key)
    for split in ("train", "val", "test"):
        ds = create_dataset(f"{key}:{split}@{tmp_path}")
        assert ds.classes == ZHOU_NAMES[key][1]
        assert len(ds) == 2 and ds.labels.tolist() == [0, 1]
        assert ds.image(1).size == (12, 10)


def test_imagenet_and_fgvc_layouts(tmp_path, monkeypatch):
    fake_imagenet(tmp_path)
    fake_fgvc(tmp_path)
    monkeypatch.setenv("SEMCLIP_DATA", str(tmp_path))
    train, test = create_dataset("imagenet:train"), create_dataset("imagenet")
    assert train.classes == test.classes == ["tench", "goldfish"]
    assert len(train) == len(test) == 4 and test.labels.tolist() == [0, 0, 1, 1]
    air = create_dataset("fgvc_aircraft:test")
    assert air.classes == ["707-320", "F-16A/B"] and air.labels.tolist() == [0, 1, 0, 1]
    assert air.image(3).mode == "RGB"


def test_drawn_split_applies_coop_renames_and_ignores(tmp_path):
    """Without CoOp's json, folder-per-class sets draw their own split, with CoOp's renames."""
    for name in ("airplanes", "Faces", "BACKGROUND_Google", "yin_yang"):
        for i in range(10):
            png(tmp_path / "caltech-101/101_ObjectCategories" / name / f"{i}.jpg", i)
    with pytest.warns(UserWarning, match="split_zhou_Caltech101.json not found"):
        parts = {s: create_dataset(f"caltech101:{s}@{tmp_path}") for s in ("train", "val", "test")}
    assert parts["test"].classes == ["face", "airplane", "yin yang"]  # sorted folders: Faces, airplanes, yin_yang
    assert [len(parts[s]) for s in ("train", "val", "test")] == [15, 6, 9]
    seen = [p for s in parts.values() for p in s.paths]
    assert len(set(seen)) == 30  # the three splits are disjoint and cover every image


@pytest.mark.parametrize("key", ["cifar10", "cifar100"])
def test_cifar_binary_release(tmp_path, key):
    fake_cifar(tmp_path, key)
    ds = create_dataset(f"{key}:test@{tmp_path}")
    assert ds.classes == (["airplane", "automobile"] if key == "cifar10" else ["apple", "aquarium fish"])
    assert len(ds) == 4 and ds.labels.tolist() == [0, 1, 1, 0]
    assert ds.image(0).size == (32, 32)
    with pytest.raises(SemclipError, match="train.bin is missing|data_batch_1.bin is missing"):
        create_dataset(f"{key}:train@{tmp_path}")


def test_hugging_face_dataset_from_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    feats = datasets.Features({"img": datasets.Image(), "fine_label": datasets.ClassLabel(names=["maple_tree", "ray"])})
    images = [Image.new("RGB", (16, 16), (i * 40, 0, 0)) for i in range(4)]
    split = datasets.Dataset.from_dict({"img": images, "fine_label": [0, 1, 1, 0]}, features=feats)
    datasets.DatasetDict({"train": split, "test": split.select([0, 1])}).save_to_disk(str(tmp_path / "tiny"))
    ds = create_dataset(f"hf:{tmp_path / 'tiny'}:train")
    assert ds.classes == ["maple tree", "ray"] and ds.labels.tolist() == [0, 1, 1, 0]
    assert ds.image(2).size == (16, 16)
    assert len(create_dataset(f"hf:{tmp_path / 'tiny'}:test")) == 2
    with pytest.raises(SemclipError, match="has splits"):
        create_dataset(f"hf:{tmp_path / 'tiny'}:validation")


def test_missing_class_folder_is_named(tmp_path):
    fake_zhou(tmp_path, "food101")
    import shutil

    shutil.rmtree(tmp_path / "food-101/images/c1_baby_back_ribs")
    with pytest.raises(SemclipError, match="baby back ribs"):
        create_dataset(f"food101:test@{tmp_path}")
    fake_imagenet(tmp_path)
    shutil.rmtree(tmp_path / "imagenet/images/val/n01443537")
    with pytest.raises(SemclipError, match="n01443537"):
        create_dataset(f"imagenet:test@{tmp_path}")


def test_class_without_listed_images_is_named(tmp_path):
    fake_fgvc(tmp_path)
    (tmp_path / "fgvc_aircraft/variants.txt").write_text("707-320\nF-16A/B\nA380\n")
    with pytest.raises(SemclipError, match="A380 have no images in the test list"):
        create_dataset(f"fgvc_aircraft:test@{tmp_path}")


def test_absent_dataset_says_where_and_how(tmp_path):
    with pytest.raises(SemclipError, match=r"not found at .*oxford_pets.*To obtain it"):
        create_dataset(f"oxford_pets:test@{tmp_path}")
    (tmp_path / "oxford_pets/images").mkdir(parents=True)
    with pytest.raises(SemclipError, match="split_zhou_OxfordPets.json.*DATASETS.md"):
        create_dataset(f"oxford_pets:test@{tmp_path}")
    with pytest.raises(SemclipError, match="splits"):
        create_dataset(f"imagenet:val@{tmp_path}")


def test_catalog_lists_the_whole_suite(tmp_path):
    fake_zhou(tmp_path, "dtd")
    rows = {r.name: r for r in catalog(tmp_path)}
    assert set(CROSS_DATASET_TARGETS) | {"imagenet", "cifar10", "cifar100"} <= set(rows)
    assert len(CROSS_DATASET_TARGETS) == 10
    assert rows["dtd"].found and not rows["eurosat"].found
    assert str(tmp_path) in rows["eurosat"].looks_for and "eurosat" in rows["eurosat"].obtain.lower()


def test_unreadable_images_are_skipped_counted_and_reported(tiny_clip_dir, tmp_path):
    from semclip.backbones.registry import create_backbone
    from semclip.tokens.cache import dataset_tokens

    for c in ("cat", "dog"):
        for i in range(3):
            png(tmp_path / "imgs" / c / f"{i}.png", 30 * i)
    (tmp_path / "imgs/dog/1.png").write_bytes(b"not a png at all")
    ds = create_dataset(f"folder:{tmp_path / 'imgs'}")
    notes: list[str] = []
    tokens, labels = dataset_tokens(create_backbone(f"hf-clip:{tiny_clip_dir}"), ds, log=notes.append)
    assert tokens.shape[0] == 5 and labels.tolist() == [0, 0, 0, 1, 1]
    assert ds.skipped == [4]
    assert len(notes) == 1 and "skipped 1 unreadable image(s) of 6" in notes[0] and "dog/1.png" in notes[0]
    # from the cache: the same rows and the same report
    notes.clear()
    again, _ = dataset_tokens(create_backbone(f"hf-clip:{tiny_clip_dir}"), create_dataset(f"folder:{tmp_path / 'imgs'}"), log=notes.append)
    assert again.shape[0] == 5 and "dog/1.png" in notes[0]


def test_datasets_command(tmp_path):
    import subprocess
    import sys

    fake_zhou(tmp_path, "eurosat")
    r = subprocess.run([sys.executable, "-m", "semclip.app.cli", "datasets", "--root", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = {line.split("│")[1].strip(): line for line in r.stdout.splitlines() if line.count("│") > 3 and line.split("│")[1].strip()}
    assert {"imagenet", "caltech101", "ucf101", "cifar100", "fashion-mnist"} <= set(rows)
    assert "yes" in rows["eurosat"] and "no" in rows["dtd"]


@pytest.mark.long
def test_recipe_path_train_then_eval_on_benchmark_layouts(tmp_path, tiny_clip_dir):
    """The paper-style path on fake layouts: codec on one benchmark's train split, then
    base-to-novel and cross-dataset protocols to another benchmark, through the CLI."""
    import os
    import subprocess
    import sys

    data = tmp_path / "data"
    fake_zhou(data, "dtd", ["banded", "blotchy", "braided", "bubbly"], per_split=3)
    fake_zhou(data, "eurosat", ["Forest", "Highway or Road", "River", "Sea or Lake"], per_split=2)
    env = {**os.environ, "SEMCLIP_CACHE": str(tmp_path / "cache"), "SEMCLIP_DATA": str(data)}
    bb = f"hf-clip:{tiny_clip_dir}"

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "semclip.app.cli", *args], capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        return r

    cli("train", "--stage", "jscc", "--backbone", bb, "--jscc-dataset", "dtd", "--ks", "2,4", "--k", "4", "--jscc-steps", "5",
        "--out", str(tmp_path / "run"))
    cli("eval", "--protocol", "all", "--backbone", bb, "--dataset", "dtd", "--targets", "eurosat", "--learners", "handcrafted,coop",
        "--seeds", "0", "--shots", "2", "--steps", "2", "--snrs", "0,20", "--jscc", str(tmp_path / "run/jscc-k2_4.safetensors"),
        "--k", "4", "--out", str(tmp_path / "eval"))
    from semclip.results import Results

    records = Results.read(tmp_path / "eval/results.json").records
    assert {r.dataset for r in records if r.split == "target"} == {"eurosat-test"}
    assert {r.split for r in records} >= {"base", "novel", "source", "target"}
    assert all(r.k == 4 for r in records if r.channel != "none")
    prov = Results.read(tmp_path / "eval/results.json").provenance
    assert prov["token-codec"]["datasets"][0]["name"] == "dtd-train" and prov["leaks"] == []
