"""The prompt-learning benchmark suite (CoOp, CoCoOp, MaPLe): ImageNet and the ten
cross-dataset targets, read from the on-disk layout of CoOp's DATASETS.md, with class names
cleaned as that literature does (underscores to spaces, Caltech101's and EuroSAT's renames,
SUN397's and UCF101's names as CoOp's split files spell them). CIFAR-10/100 live in ``semclip.data.cifar``.

Each dataset is looked for in ``<root>/<folder>``, where root is ``name:split@/path`` if
given, else ``$SEMCLIP_DATA``, else ``~/semclip-data``. Splits are CoOp's
``split_zhou_*.json`` where it has one (the same train/val/test lists, so numbers compare
with published ones).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semclip.data.base import DATASETS
from semclip.data.image_folder import class_folders, class_images
from semclip.data.listed import ListedImages, spread_limit
from semclip.errors import SemclipError

COOP_DATASETS_MD = "https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md"
Items = tuple[list[Path], list[int], list[str]]  # paths, labels, class names (cleaned)


def data_root(root: str | Path | None = None) -> Path:
    """Where the benchmark folders live: the given root, $SEMCLIP_DATA, or ~/semclip-data."""
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("SEMCLIP_DATA") or Path.home() / "semclip-data").expanduser()


def clean_classname(name: str, renames: dict[str, str] | None = None) -> str:
    """CoOp's cleaning: dataset-specific renames first, then underscores become spaces."""
    name = (renames or {}).get(name, name)
    return " ".join(name.replace("_", " ").split())


@dataclass(frozen=True)
class Benchmark:
    key: str
    title: str
    folder: str  # under the data root
    image_dir: str  # under the folder
    split_file: str | None = None  # CoOp's split_zhou_*.json
    obtain: str = ""
    renames: dict[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    folder_per_class: bool = False  # images/<class>/...: a split can be drawn when the json is missing
    splits: tuple[str, ...] = ("train", "val", "test")
    hf: str | None = None  # a Hugging Face `datasets` id that holds the same data, if one is known
    reader: str = "zhou"

    def where(self, root: str | Path | None = None) -> Path:
        return data_root(root) / self.folder

    def looks_for(self) -> str:
        files = ([f"{self.image_dir}/"] if self.image_dir != "." else []) + ([self.split_file] if self.split_file else [])
        extra = {"imagenet": ["classnames.txt"], "fgvc": ["variants.txt", "images_variant_<split>.txt"]}.get(self.reader, [])
        return f"{self.folder}/{{{', '.join(files + extra)}}}"


CALTECH_RENAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}
EUROSAT_RENAMES = {
    "AnnualCrop": "Annual Crop Land", "Forest": "Forest", "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road", "Industrial": "Industrial Buildings", "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land", "Residential": "Residential Buildings", "River": "River", "SeaLake": "Sea or Lake",
}

BENCHMARKS: dict[str, Benchmark] = {
    b.key: b
    for b in [
        Benchmark("imagenet", "ImageNet-1k", "imagenet", "images", reader="imagenet", splits=("train", "test"),
                  obtain="ILSVRC2012 train and val from image-net.org, val sorted into <wnid>/ folders as train is; "
                  "classnames.txt from CoOp's DATASETS.md (semclip falls back to CLIP's cleaned names when all 1000 folders are there)"),
        Benchmark("caltech101", "Caltech101", "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json",
                  renames=CALTECH_RENAMES, ignored=("BACKGROUND_Google", "Faces_easy"), folder_per_class=True,
                  obtain="101_ObjectCategories.tar.gz from data.caltech.edu; split_zhou_Caltech101.json from CoOp's DATASETS.md"),
        Benchmark("oxford_pets", "OxfordPets", "oxford_pets", "images", "split_zhou_OxfordPets.json",
                  obtain="images.tar.gz and annotations.tar.gz from robots.ox.ac.uk/~vgg/data/pets; split_zhou_OxfordPets.json from CoOp's DATASETS.md"),
        Benchmark("stanford_cars", "StanfordCars", "stanford_cars", ".", "split_zhou_StanfordCars.json",
                  obtain="cars_train/ and cars_test/ (Stanford Cars); split_zhou_StanfordCars.json from CoOp's DATASETS.md"),
        Benchmark("oxford_flowers", "Flowers102", "oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json",
                  obtain="102flowers.tgz from robots.ox.ac.uk/~vgg/data/flowers/102; split_zhou_OxfordFlowers.json from CoOp's DATASETS.md"),
        Benchmark("food101", "Food101", "food-101", "images", "split_zhou_Food101.json", folder_per_class=True, hf="ethz/food101",
                  obtain="food-101.tar.gz from data.vision.ee.ethz.ch/cvl/datasets_extra/food-101; split_zhou_Food101.json from CoOp's DATASETS.md"),
        Benchmark("fgvc_aircraft", "FGVCAircraft", "fgvc_aircraft", "images", reader="fgvc",
                  obtain="fgvc-aircraft-2013b.tar.gz from robots.ox.ac.uk/~vgg/data/fgvc-aircraft; move data/ to fgvc_aircraft/"),
        Benchmark("sun397", "SUN397", "sun397", "SUN397", "split_zhou_SUN397.json",
                  obtain="SUN397.tar.gz from vision.princeton.edu/projects/2010/SUN; split_zhou_SUN397.json from CoOp's DATASETS.md"),
        Benchmark("dtd", "DTD", "dtd", "images", "split_zhou_DescribableTextures.json", folder_per_class=True,
                  obtain="dtd-r1.0.1.tar.gz from robots.ox.ac.uk/~vgg/data/dtd (its images/ folder); split_zhou_DescribableTextures.json from CoOp's DATASETS.md"),
        Benchmark("eurosat", "EuroSAT", "eurosat", "2750", "split_zhou_EuroSAT.json", renames=EUROSAT_RENAMES,
                  folder_per_class=True, obtain="EuroSAT.zip (RGB, folder 2750/) from github.com/phelber/eurosat; split_zhou_EuroSAT.json from CoOp's DATASETS.md"),
        Benchmark("ucf101", "UCF101", "ucf101", "UCF-101-midframes", "split_zhou_UCF101.json",
                  obtain="UCF-101-midframes.zip (the middle frame of each clip) and split_zhou_UCF101.json, both from CoOp's DATASETS.md"),
    ]
}
CROSS_DATASET_TARGETS = [k for k in BENCHMARKS if k != "imagenet"]


def _check_classes(b: Benchmark, split: str, paths: list[Path], labels: list[int], classes: list[str]) -> None:
    """A class with no images, listed or on disk (its folder missing), is an error naming
    it, not a silent hole."""
    unlisted = sorted(set(range(len(classes))) - set(labels))
    if unlisted:
        raise SemclipError(f"{b.title} {split}: classes {', '.join(classes[i] for i in unlisted[:5])} have no images in the {split} list")
    present = np.zeros(len(classes), dtype=bool)
    dirs: dict[Path, bool] = {}
    for p, y in zip(paths, labels):
        if not present[y]:
            d = p.parent
            if d not in dirs:
                dirs[d] = d.is_dir()
            present[y] = dirs[d]
    missing = [classes[c] for c in np.flatnonzero(~present)]
    if missing:
        raise SemclipError(
            f"{b.title} {split}: {len(missing)} class(es) have no image folder on disk: {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''} (looked under {paths[0].parents[1]}); the download is incomplete"
        )


def read_zhou(b: Benchmark, folder: Path, split: str) -> Items:
    """CoOp's split json: {"train"|"val"|"test": [[path under image_dir, label, class name], ...]}."""
    image_dir = folder / b.image_dir
    path = folder / b.split_file
    if not path.is_file():
        if b.folder_per_class and image_dir.is_dir():
            return _drawn_split(b, image_dir, split)
        raise SemclipError(f"{b.title}: {path} not found; get {b.split_file} (see {COOP_DATASETS_MD})")
    try:
        entries = json.loads(path.read_text())[split]
        items = [(str(p), int(y), str(c)) for p, y, c in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise SemclipError(f"{path} is not a CoOp split file with a {split!r} list ({exc})") from exc
    if not items:
        raise SemclipError(f"{path}: the {split!r} list is empty")
    n = max(y for _, y, _ in items) + 1
    names: list[str | None] = [None] * n
    for _, y, c in items:
        names[y] = names[y] or clean_classname(c, b.renames)
    if None in names:
        raise SemclipError(f"{path}: labels {[i for i, c in enumerate(names) if c is None][:5]} have no images in {split!r}")
    paths = [image_dir / p for p, _, _ in items]
    labels = [y for _, y, _ in items]
    return paths, labels, names  # type: ignore[return-value]


def _drawn_split(b: Benchmark, image_dir: Path, split: str) -> Items:
    """No split json: 50/20/30 train/val/test per class, seeded by the class name (as CoOp
    does, but its own draw: numbers will not match published ones)."""
    warnings.warn(
        f"{b.title}: {b.split_file} not found, drawing a 50/20/30 split from {image_dir}; "
        f"get CoOp's file ({COOP_DATASETS_MD}) for numbers comparable with the literature",
        stacklevel=3,
    )
    dirs = [d for d in class_folders(image_dir) if d.name not in b.ignored]
    paths, labels, names = [], [], []
    for c, d in enumerate(dirs):
        files = class_images(d, f"the {b.title} download is incomplete")
        order = np.random.default_rng(int.from_bytes(d.name.encode()[:8].ljust(8, b"\0"), "little")).permutation(len(files))
        n_train, n_val = round(0.5 * len(files)), round(0.2 * len(files))
        cut = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}[split]
        paths += [files[i] for i in sorted(cut)]
        labels += [c] * len(cut)
        names.append(clean_classname(d.name, b.renames))
    return paths, labels, names


def read_imagenet(b: Benchmark, folder: Path, split: str) -> Items:
    """images/train/<wnid>/*, images/val/<wnid>/* (the val set is the test set, as in CoOp),
    classnames.txt: "<wnid> <class name>" per line."""
    split_dir = folder / b.image_dir / ("train" if split == "train" else "val")
    if not split_dir.is_dir():
        raise SemclipError(f"ImageNet: {split_dir} not found ({b.obtain})")
    folders = class_folders(split_dir)
    names_file = folder / "classnames.txt"
    if names_file.is_file():
        table = {}
        for line in names_file.read_text().splitlines():
            wnid, _, name = line.strip().partition(" ")
            if wnid:
                table[wnid] = name.strip()
    elif len(folders) == 1000:
        from semclip.data.imagenet_names import imagenet_classes

        table = dict(zip((d.name for d in folders), imagenet_classes()))
    else:
        raise SemclipError(f"ImageNet: {names_file} not found and {split_dir} has {len(folders)} class folders, not 1000 ({b.obtain})")
    missing = sorted(set(table) - {d.name for d in folders})
    if missing:
        raise SemclipError(f"ImageNet {split}: {len(missing)} class folder(s) listed in classnames.txt are missing from {split_dir}: {', '.join(missing[:5])}")
    unknown = sorted({d.name for d in folders} - set(table))
    if unknown:
        raise SemclipError(f"ImageNet {split}: folders {', '.join(unknown[:5])} in {split_dir} are not in classnames.txt")
    paths, labels = [], []
    for c, d in enumerate(folders):
        paths += (files := class_images(d, f"ImageNet {split} class {table[d.name]!r}: the download is incomplete"))
        labels += [c] * len(files)
    return paths, labels, [clean_classname(table[d.name]) for d in folders]


def read_fgvc(b: Benchmark, folder: Path, split: str) -> Items:
    """variants.txt (one class per line) and images_variant_<split>.txt ("<image id> <variant>")."""
    variants, listing = folder / "variants.txt", folder / f"images_variant_{split}.txt"
    for f in (variants, listing):
        if not f.is_file():
            raise SemclipError(f"FGVCAircraft: {f} not found ({b.obtain})")
    classes = [line.strip() for line in variants.read_text().splitlines() if line.strip()]
    index = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for line in listing.read_text().splitlines():
        image_id, _, variant = line.strip().partition(" ")
        if not image_id:
            continue
        if variant not in index:
            raise SemclipError(f"{listing}: variant {variant!r} (image {image_id}) is not in variants.txt")
        paths.append(folder / b.image_dir / f"{image_id}.jpg")
        labels.append(index[variant])
    return paths, labels, classes


READERS: dict[str, Callable[[Benchmark, Path, str], Items]] = {"zhou": read_zhou, "imagenet": read_imagenet, "fgvc": read_fgvc}


def load_benchmark(key: str, split: str = "test", root: str | Path | None = None) -> ListedImages:
    b = BENCHMARKS[key]
    if split not in b.splits:
        raise SemclipError(f"{b.title} has splits {b.splits}, not {split!r}")
    folder = b.where(root)
    if not folder.is_dir():
        raise SemclipError(
            f"{b.title} not found at {folder}. Set $SEMCLIP_DATA (or write {key}:{split}@/path/to/data) to the folder "
            f"holding {b.folder}/. To obtain it: {b.obtain}."
        )
    paths, labels, classes = READERS[b.reader](b, folder, split)
    _check_classes(b, split, paths, labels, classes)
    return ListedImages(f"{key}-{split}", folder, paths, labels, classes)


def _register(key: str, b: Benchmark) -> None:
    def make(arg: str = "", limit: int | None = None) -> ListedImages:
        split, _, root = arg.partition("@")
        return spread_limit(load_benchmark(key, split or "test", root or None), limit)

    DATASETS.add(key, make, f"{b.title} ({'/'.join(b.splits)}), CoOp layout under $SEMCLIP_DATA", arg="split[@root]")


for _key, _b in BENCHMARKS.items():
    _register(_key, _b)
