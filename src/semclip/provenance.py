"""What a trained artefact saw, recorded in its checkpoint and checked by the protocols.

Zero-shot means that no image of an evaluation split and no evaluation class list reaches
what the transmitter learns (the token codec), and that receiver prompts see only their
base classes. Every trained artefact stores a ``Provenance`` in its safetensors metadata:

- ``datasets``: the image sets it trained on (name, content id, size, and what was left out
  of them, e.g. the corpus drops every copy of the clip-art test images);
- ``class_lists``: class lists its loss classified against, each with where it came from
  (a labelled data set's classes, a prompt learner's base classes);
- ``adapted_on``: unlabelled images of the sender's own domain a trained codec was later
  adapted on (``semclip.jscc.adapt``): spec, content id, count, mode, and that no label and
  no class name was used; checked like ``datasets``;
- ``vocabularies``: text banks fixed by the training corpus (the 1000 ImageNet names, the
  corpus captions), recorded by name, size and digest. Free text may mention any word, as
  web captions do; an evaluation class that happens to be a word of one is reported as an
  overlap, not refused, but a vocabulary that holds *every* evaluated class (the ImageNet
  names when evaluating on ImageNet) is that class list, and refused like one.

``check`` raises when an evaluation split's images reached the artefact, or when an
evaluation class stands in one of its class lists. ``allow_leak`` turns the error into a
note that the caller writes into every record of the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from semclip.errors import SemclipError
from semclip.digest import text_digest

META_KEY = "provenance"


@dataclass
class DatasetSeen:
    name: str  # the split's name, e.g. "fashion-mnist-train", "corpus-v3", "clipart-train"
    cache_id: str  # content id (changes when the images change)
    n: int
    excludes: list[str] = field(default_factory=list)  # evaluation splits whose images were removed


@dataclass
class ClassList:
    source: str  # where the list came from, e.g. "fashion-mnist-train (all classes)"
    classes: list[str]


@dataclass
class AdaptedOn:
    spec: str  # as given, e.g. "fashion-mnist:train#1000"
    name: str  # the split's name, e.g. "fashion-mnist-train-n1000"
    cache_id: str
    n: int
    mode: str  # "transmitter" or "both" (semclip.jscc.adapt)
    used: str = "images only: no labels, no class names"


EVALUATION_SPLITS = ("test", "val", "validation", "eval")


def is_evaluation_split(name: str) -> bool:
    """Whether a split's name (``fashion-mnist-test``, ``imagenet-val-n500``) or spec
    (``clipart:test#100``) names a split that results are reported on."""
    name = _base(name.partition("#")[0].partition("@")[0])
    return any(name.endswith(sep + s) for s in EVALUATION_SPLITS for sep in ("-", ":"))


@dataclass
class Vocabulary:
    name: str
    n: int
    sha1: str
    words: list[str] = field(default_factory=list)  # kept for short lists (ImageNet names), empty for captions

    @classmethod
    def of(cls, name: str, texts: Sequence[str], keep_words: bool = False) -> "Vocabulary":
        digest = text_digest("\n".join(texts), 12)
        return cls(name, len(texts), digest, list(texts) if keep_words else [])


@dataclass
class Provenance:
    component: str  # "token-codec", "prompts", "image-codec", "pocketclip-heads"
    datasets: list[DatasetSeen] = field(default_factory=list)
    class_lists: list[ClassList] = field(default_factory=list)
    vocabularies: list[Vocabulary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    adapted_on: list[AdaptedOn] = field(default_factory=list)

    def to_json(self) -> str:
        out = asdict(self)
        if not out["adapted_on"]:  # records of codecs never adapted read as they always did
            del out["adapted_on"]
        return json.dumps(out, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "Provenance":
        try:
            return cls(
                component=d["component"],
                datasets=[DatasetSeen(**x) for x in d.get("datasets", [])],
                class_lists=[ClassList(**x) for x in d.get("class_lists", [])],
                vocabularies=[Vocabulary(**x) for x in d.get("vocabularies", [])],
                notes=list(d.get("notes", [])),
                adapted_on=[AdaptedOn(**x) for x in d.get("adapted_on", [])],
            )
        except (KeyError, TypeError) as exc:
            raise SemclipError(f"malformed provenance record: {exc}") from exc

    @classmethod
    def from_meta(cls, meta: dict[str, str], what: str) -> "Provenance":
        """From a checkpoint's metadata; a checkpoint without one cannot be checked."""
        if META_KEY not in meta:
            raise SemclipError(
                f"{what} records no provenance (made by an older semclip?): retrain it, so the protocols can "
                "check what it saw"
            )
        try:
            return cls.from_dict(json.loads(meta[META_KEY]))
        except json.JSONDecodeError as exc:
            raise SemclipError(f"{what}: unreadable provenance record: {exc}") from exc

    # -- checks ------------------------------------------------------------------------
    def leaks(self, split: str, classes: Sequence[str], split_id: str | None = None) -> list[str]:
        """Why evaluating on images of ``split`` (content id ``split_id``, when known) against
        ``classes`` is not zero-shot for this artefact (empty when it is)."""
        out = [f"the {self.component} trained on images of {split} ({d.cache_id})" for d in self.datasets
               if _base(d.name) == _base(split) or (split_id is not None and _same_content(d.cache_id, split_id))]
        out += [f"the {self.component} was adapted (without labels) on images of {split} ({a.cache_id})" for a in self.adapted_on
                if _base(a.name) == _base(split) or (split_id is not None and _same_content(a.cache_id, split_id))]
        wanted = {c.strip().lower() for c in classes}
        for v in self.vocabularies:  # a vocabulary that holds the whole evaluated class list is that list
            if v.words and wanted <= {w.strip().lower() for w in v.words}:
                out.append(f"the loss of the {self.component} used the vocabulary {v.name}, which holds every evaluated class")
        for cl in self.class_lists:
            hit = [c for c in cl.classes if c.strip().lower() in wanted]
            if hit:
                out.append(f"the loss of the {self.component} classified against {', '.join(sorted(set(hit)))} (class list of {cl.source})")
        return out

    def overlaps(self, classes: Sequence[str]) -> dict[str, list[str]]:
        """Evaluation class names that are entries of a recorded vocabulary (reported only)."""
        wanted = {c.strip().lower() for c in classes}
        return {v.name: sorted({w for w in v.words if w.strip().lower() in wanted}) for v in self.vocabularies
                if any(w.strip().lower() in wanted for w in v.words)}


def _same_content(a: str, b: str) -> bool:
    """Two content ids ending in the same file-list digest (a copy of a folder under another
    name has the same one); ids without a digest never match this way."""
    ha, hb = a.rpartition("-")[2], b.rpartition("-")[2]
    return len(ha) >= 10 and ha == hb and all(c in "0123456789abcdef" for c in ha)


def _base(name: str) -> str:
    """'fashion-mnist-test-n500' style limits and subsets name the same split."""
    for sep in ("-n", "-sub"):
        head, found, tail = name.partition(sep)
        if found and tail[:1].isdigit():
            name = head
    return name


def leak_note(leaks: Sequence[str]) -> str:
    """The mark every record of a run allowed to leak carries (and results.md shows)."""
    return "NOT ZERO-SHOT (--allow-leak): " + "; ".join(dict.fromkeys(leaks))


def prompts_provenance(split: str, split_id: str, n_shots: int, classes: Sequence[str], which: str, codec_id: str) -> Provenance:
    """What a prompt learner saw: ``n_shots`` images of ``split`` and the class list of its loss."""
    return Provenance("prompts", datasets=[DatasetSeen(split, split_id, n_shots)],
                      class_lists=[ClassList(f"{split} ({which} classes)", list(classes))], notes=[f"trained through codec {codec_id}"])


def check(prov: Provenance, split: str, classes: Sequence[str], allow_leak: bool, log=print, split_id: str | None = None) -> list[str]:
    """Raise a SemclipError naming the component and the class (or split) that leaked,
    unless ``allow_leak``: then warn and return the reasons, which the caller records."""
    why = prov.leaks(split, classes, split_id)
    if why and not allow_leak:
        raise SemclipError(
            f"not zero-shot on {split}: " + "; ".join(why)
            + ". Use a codec/prompts that never saw them, or pass --allow-leak to run anyway (every record then says so)"
        )
    for w in why:
        log(f"[yellow]leak allowed:[/] {w}")
    return why
