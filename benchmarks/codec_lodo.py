"""Leave-one-domain-out validation of the token codec: the validation that chooses the
default codec's design without any evaluation set.

The transmitter corpus is split into domains (``TransmitterCorpus.domains``): content
domains (Noto emoji; Open Clip Art's topic folders grouped into icons, symbols and
objects) and rendering domains (the small grey copies; the crops with colour jitter). For
each design variant and each domain, a codec is trained on the corpus *without* that
domain (its text bank: the ImageNet names and the captions of the training rows only) and
scored on up to ``--score-rows`` rows of the domain left out: how often the received
token's zero-shot label over the 1000 ImageNet names agrees with the clean token's, and the
mean cosine between sent and received token, at k = 4, 16, 64 and 0, 10 dB AWGN. The
variant's validation score is the mean agreement over the domains at k = 16, 0 and 10 dB.
Variants of the corpus's views (``VIEWS``) train on another corpus:N but are scored on the
same rows of the 3-view corpus; their training set leaves out the held-out domain's rows in
their own corpus.

With ``--eval`` each variant is also trained on the whole corpus and scored on Fashion-MNIST
test and clip-art test (zero-shot top-1, k = 16 at 0 and 10 dB, k = 32 at 10 dB): a check
that is never used to choose, reported as the rank correlation between the validation
score and the evaluation score over the variants. Results are written after every codec,
so an interrupted run goes on where it stopped.

    python benchmarks/codec_lodo.py [--variants a,b] [--eval] [--out benchmarks/results/codec_lodo.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from semclip._io import atomic_write_json, atomic_write_text
from semclip.job.config import CodecsConfig, DataConfig, GridConfig
from semclip.backbones.registry import create_backbone
from semclip.data.imagenet_names import imagenet_classes
from semclip.channels.registry import create_channel
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens
from semclip.results import machine_facts
from semclip.jscc.allocated import AllocatedLinearCode
from semclip.jscc.linear import LinearCode
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import train_jscc
from semclip.jscc.zoo import text_embeddings
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

# every variant states its whole recipe beside the defaults it does not vary (batch 256 at lr 1e-3, 1500 steps:
# the recipe of the first two runs), so a later change of the default leaves each row's meaning as it was
FIRST = {"steps": 1500, "batch_size": 256, "lr": 1e-3}
RECON = FIRST | {"semantic_weight": 0.0, "instance_weight": 0.0}
BOTH = FIRST | {"semantic_weight": 1.0, "instance_weight": 1.0}
BATCH1024 = BOTH | {"batch_size": 1024, "lr": 2e-3}
# (training overrides, model overrides) of each variant
VARIANTS = {
    "reconstruction only": (RECON, {}),
    "+ text + instance (1.0 each)": (BOTH, {}),
    "+ text (1.0)": (FIRST | {"semantic_weight": 1.0, "instance_weight": 0.0}, {}),
    "+ instance (1.0)": (FIRST | {"semantic_weight": 0.0, "instance_weight": 1.0}, {}),
    "+ text + instance (0.1 each)": (FIRST | {"semantic_weight": 0.1, "instance_weight": 0.1}, {}),
    "+ text + instance (3.0 each)": (FIRST | {"semantic_weight": 3.0, "instance_weight": 3.0}, {}),
    "+ text + instance (1.0 each) / 3000 steps": (BOTH | {"steps": 3000}, {}),
    "+ text + instance (1.0 each) / depth 4": (BOTH, {"depth": 4}),
    # 4x the samples in the same steps (a GPU's step takes as long at either batch), lr by the square-root rule
    "+ text + instance (1.0 each) / batch 1024 at lr 2e-3": (BATCH1024, {}),
    "reconstruction only / nested k": (RECON | {"k_sampling": "nested"}, {}),
    "+ text + instance (1.0 each) / nested k": (BOTH | {"k_sampling": "nested"}, {}),
    # the corpus's views and their mix (the default's recipe otherwise): the originals alone, or two more augmented
    # views (a second small grey copy and a second crop of each drawing, other seeds), against the earlier runs' three
    "+ text + instance (1.0 each) / batch 1024 at lr 2e-3 / corpus:1 (originals only)": (BATCH1024, {}),
    "+ text + instance (1.0 each) / batch 1024 at lr 2e-3 / corpus:5 (two more augmented views)": (BATCH1024, {}),
}
# the corpus views each variant trains on (corpus:N); every other variant trains on 3 (SCORED_VIEWS). The scored
# rows stay the 3-view corpus's, so every variant is scored on the same images; a variant's training set leaves out
# every row of the held-out domain in its own corpus (a content domain's drawings in all their views, or a whole
# rendering family: with views 1 there is none, and both rendering folds train the same codec on every original)
VIEWS = {v: int(v.split("corpus:")[1].split()[0]) for v in VARIANTS if "/ corpus:" in v}
SCORED_VIEWS = 3
REFERENCES = {"pca (mmse allocation)": AllocatedLinearCode, "pca-flat": LinearCode}
DEFAULT = "+ text + instance (1.0 each) / batch 1024 at lr 2e-3 / corpus:5 (two more augmented views)"  # the recipe of CodecsConfig().jscc on the default corpus (chosen by the fourth run)
POINTS = [(k, snr) for k in (4, 16, 64) for snr in (0.0, 10.0)]
PRIMARY = [f"k={k} {snr:g}dB" for k, snr in POINTS if k == 16]
EVAL_POINTS = [(16, 0.0), (16, 10.0), (32, 10.0)]


class Corpus(NamedTuple):
    corpus: object  # the TransmitterCorpus
    tokens: torch.Tensor  # [rows, dim] of its readable rows
    domains: dict[str, torch.Tensor]  # {domain: [rows] bool}
    captions: np.ndarray  # [rows] str


def load_corpus(bb, spec: str, limit: int | None) -> Corpus:
    """The corpus's tokens, domain masks and captions over its readable rows."""
    corpus = create_dataset(spec, limit=limit)
    tokens, _ = dataset_tokens(bb, corpus)
    kept = np.ones(len(corpus), bool)
    kept[list(corpus.skipped)] = False
    domains = {name: torch.from_numpy(mask[kept]) for name, mask in corpus.domains().items()}
    return Corpus(corpus, tokens, domains, np.array(corpus.captions())[kept])


def received(code, tokens: torch.Tensor, k: int, snr: float) -> torch.Tensor:
    ch = create_channel("awgn", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return code.at(k).transmit(tokens, torch.full((tokens.shape[0], 1), snr), ch)


def score_domain(code, tokens: torch.Tensor, names: ZeroShotClassifier) -> dict[str, list[float]]:
    """{point: [agreement with the clean token's ImageNet-name label, mean cosine]}."""
    clean = names.predict(tokens)
    out = {}
    for k, snr in POINTS:
        rx = received(code, tokens, k, snr)
        out[f"k={k} {snr:g}dB"] = [round(float((names.predict(rx) == clean).float().mean()), 4),
                                   round(float((rx * tokens).sum(1).mean()), 4)]
    return out


def score_eval(code, evalsets: dict) -> dict[str, float]:
    return {f"{name} k={k} {snr:g}dB": round(top1_accuracy(clf.predict(received(code, t, k, snr)), y), 4)
            for name, (t, y, clf) in evalsets.items() for k, snr in EVAL_POINTS}


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = (np.argsort(np.argsort(x)).astype(float) for x in (a, b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of: " + ", ".join(VARIANTS))
    ap.add_argument("--domains", default=None,
                    help="comma-separated subset of the held-out domains to train (one run per core, then --merge)")
    ap.add_argument("--score-rows", type=int, default=2000, help="rows of each held-out domain scored (evenly spaced)")
    ap.add_argument("--eval", action="store_true", help="also train each variant on the whole corpus and score the evaluation sets")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/codec_lodo.json"))
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="only merge these result files (runs made in parallel, one per core) into --out and rewrite its table")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, args.out)
        return
    torch.manual_seed(0)
    job, grid, codecs = DataConfig(), GridConfig(), CodecsConfig()  # the main job's defaults
    bb = create_backbone(job.backbone)
    corpora: dict[int, Corpus] = {}

    def corpus_of(views: int) -> Corpus:  # encoded once each (and cached on disk by dataset_tokens)
        if views not in corpora:
            corpora[views] = load_corpus(bb, f"corpus:{views}", job.train_limit)
        return corpora[views]

    corpus, tokens, domains, captions = corpus_of(SCORED_VIEWS)
    distinct = list(dict.fromkeys(captions.tolist()))
    caption_emb = text_embeddings(bb, distinct)
    caption_row = {c: i for i, c in enumerate(distinct)}
    names_emb = text_embeddings(bb, [f"a photo of a {n}." for n in imagenet_classes()])
    names = ZeroShotClassifier(bb, list(dict.fromkeys(imagenet_classes())))  # CLIP's list names two classes twice

    state = json.loads(args.out.read_text()) if args.out.exists() else {}
    state.setdefault("folds", {})
    state.setdefault("eval", {})

    def save() -> None:
        state.update({"corpus": corpus.summary(), "domains": {n: int(m.sum()) for n, m in domains.items()},
                      "score_rows": args.score_rows, "defaults": asdict(codecs.jscc), "machine": machine_facts()})
        atomic_write_json(args.out, state)

    variants = [v.strip() for v in args.variants.split(",")]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; choose from {list(VARIANTS)}")
    wanted = list(domains) if args.domains is None else [d.strip() for d in args.domains.split(",")]
    for d in wanted:
        if d not in domains:
            raise SystemExit(f"unknown domain {d!r}; choose from {list(domains)}")
    folds = {}
    for domain, mask in domains.items():
        held = torch.nonzero(mask).squeeze(1)
        folds[domain] = held[torch.linspace(0, len(held) - 1, min(args.score_rows, len(held))).long()]
        for ref, cls in REFERENCES.items():
            key = f"{ref} | {domain}"
            if key not in state["folds"]:
                state["folds"][key] = score_domain(cls.fitted(tokens[~mask], grid.ks), tokens[folds[domain]], names)
                save()

    def training_set(views: int, domain: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens, text bank, kept-row mask) of the variant's corpus without the held-out domain: its text bank is
        the ImageNet names and the captions of the kept rows only (the held-out domain's captions never reach the loss)."""
        _, t, doms, caps = corpus_of(views)
        keep = ~doms[domain] if domain in doms else torch.ones(len(t), dtype=torch.bool)
        rows = sorted({caption_row[c] for c in caps[keep.numpy()].tolist()})
        return t[keep], torch.cat([names_emb, caption_emb[rows]]), keep

    for v in variants:  # variant by variant, so each finished one has its score
        made: dict[bytes, tuple[str, TokenJSCC]] = {}  # a training set already trained (views 1: both rendering folds)
        for domain, held in folds.items():
            key = f"{v} | {domain}"
            if key in state["folds"] or domain not in wanted:
                continue
            t_over, m_over = VARIANTS[v]
            train, bank, keep = training_set(VIEWS.get(v, SCORED_VIEWS), domain)
            t0 = time.time()
            sig = np.packbits(keep.numpy()).tobytes()
            if sig in made:
                first, model = made[sig]
                extra = {"same codec as": first}
            else:
                torch.manual_seed(0)
                model = TokenJSCC(JSCCConfig(dim=tokens.shape[1], ks=grid.ks, **m_over))
                train_jscc(model, train, bank, replace(codecs.jscc, **t_over))
                made[sig], extra = (domain, model), {}
            state["folds"][key] = score_domain(model, tokens[held], names) | {"seconds": round(time.time() - t0, 1)} | extra
            print(key, state["folds"][key], flush=True)
            save()
    if args.eval:
        evalsets = {}
        for spec in ("fashion-mnist:test", "clipart:test"):
            data = create_dataset(spec)
            t, y = dataset_tokens(bb, data)
            evalsets[data.name] = (t, y, ZeroShotClassifier(bb, data.classes))
        for ref, cls in REFERENCES.items():
            if ref not in state["eval"]:  # (a resumed run scores each code once)
                state["eval"][ref] = score_eval(cls.fitted(tokens, grid.ks), evalsets)
        for v in variants:
            if v in state["eval"]:
                continue
            t_over, m_over = VARIANTS[v]
            train, bank, _ = training_set(VIEWS.get(v, SCORED_VIEWS), None)
            torch.manual_seed(0)
            model = TokenJSCC(JSCCConfig(dim=tokens.shape[1], ks=grid.ks, **m_over))
            train_jscc(model, train, bank, replace(codecs.jscc, **t_over))
            state["eval"][v] = score_eval(model, evalsets)
            print(v, state["eval"][v], flush=True)
            save()
    state["summary"] = summarise(state, list(domains))
    save()
    md = markdown(state, list(domains))
    atomic_write_text(args.out.with_suffix(".md"), md)
    print(md)


def merge(files: list[Path], out: Path) -> None:
    """One result file from several runs of this script: the union of their folds and
    evaluation scores (a key in two files must hold the same scores), the summary redone."""
    state: dict = {}
    for f in files:
        part = json.loads(f.read_text())
        for section in ("folds", "eval"):
            mine = state.setdefault(section, {})
            for key, value in part.get(section, {}).items():
                same = {k: v for k, v in value.items() if k != "seconds"}
                if key in mine and {k: v for k, v in mine[key].items() if k != "seconds"} != same:
                    raise SystemExit(f"{f} scores {key!r} differently from another file: not the same run")
                mine.setdefault(key, value)
        state |= {k: v for k, v in part.items() if k not in ("folds", "eval", "summary")}
    domains = list(state["domains"])
    state["summary"] = summarise(state, domains)
    atomic_write_json(out, state)
    md = markdown(state, domains)
    atomic_write_text(out.with_suffix(".md"), md)
    print(md)


def validation_score(state: dict, name: str, domains: list[str], points: list[str] = PRIMARY) -> float | None:
    """The mean of ``domain_scores`` (None until every domain has been left out)."""
    if any(f"{name} | {d}" not in state["folds"] for d in domains):
        return None
    return round(float(domain_scores(state, name, domains, points).mean()), 4)


def domain_scores(state: dict, name: str, domains: list[str], points: list[str] = PRIMARY) -> np.ndarray:
    """[domains] the variant's agreement at the primary points, per domain left out."""
    return np.array([np.mean([state["folds"][f"{name} | {d}"][p][0] for p in points]) for d in domains])


def versus_default(state: dict, name: str, domains: list[str]) -> list[float]:
    """[mean, lo, hi]: the variant's validation score minus the default's, with a 95 % t
    interval over the domains left out (each domain one paired difference)."""
    from scipy import stats

    diff = domain_scores(state, name, domains) - domain_scores(state, DEFAULT, domains)
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    return [round(float(diff.mean()), 4), round(float(diff.mean() - half), 4), round(float(diff.mean() + half), 4)]


def summarise(state: dict, domains: list[str]) -> dict:
    """The validation table and the choice, by the rule set before the first run: the
    highest validation score. Beside it, each variant against today's default with its
    interval over the domains: whether the validation resolves the margin (information; it
    does not choose)."""
    names = list(REFERENCES) + [v for v in VARIANTS if validation_score(state, v, domains) is not None]
    scores = {n: validation_score(state, n, domains) for n in names}
    learned = [n for n in names if n in VARIANTS]
    against = {n: versus_default(state, n, domains) for n in names if n != DEFAULT and scores.get(DEFAULT) is not None}
    out = {"validation": scores, "versus_default": against, "chosen": max(learned, key=lambda n: scores[n]) if learned else None,
           "rule": "the highest validation score (set before the first run)"}
    ranked = [n for n in names if n in state["eval"] and scores[n] is not None]
    if len(ranked) >= 3:
        cols = list(next(iter(state["eval"].values())))
        out["rank_correlation"] = {c: round(spearman([scores[n] for n in ranked], [state["eval"][n][c] for n in ranked]), 3)
                                   for c in cols}
        out["rank_correlation_over"] = ranked
    return out


def markdown(state: dict, domains: list[str]) -> str:
    s = state["summary"]
    cols = [f"k={k} {snr:g}dB" for k, snr in POINTS]
    md = [f"Leave-one-domain-out validation of the token codec (`python benchmarks/codec_lodo.py`): {state['corpus']}.",
          "Each domain left out in turn; a codec trained on the rest; agreement of the received token's ImageNet-name "
          f"label with the clean token's, mean over the {len(domains)} domains ({', '.join(domains)}); validation score: "
          "the mean at k = 16, 0 and 10 dB. Rule: "
          f"{s.get('rule', 'the highest validation score')}. Against the default: the difference with its 95 % interval over "
          "the domains (paired, t): whether six domains resolve the margin (information, not the rule).",
          "Every variant is scored on the rows of this corpus; a `corpus:N` variant trains on N views of each drawing "
          "(without the held-out domain's rows in them) and the others on 3.", "",
          "| variant | validation score | against the default | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
    for name, score in s["validation"].items():
        per = [np.mean([state["folds"][f"{name} | {d}"][c][0] for d in domains]) for c in cols]
        mark = " (chosen)" if name == s["chosen"] else ""
        vs = s.get("versus_default", {}).get(name)
        vs = f"{vs[0]:+.3f} [{vs[1]:+.3f}, {vs[2]:+.3f}]" if vs else ""
        md.append(f"| {name}{mark} | {score:.3f} | {vs} | " + " | ".join(f"{x:.3f}" for x in per) + " |")
    md += ["", "Per domain, k = 16 (agreement at 0 dB / 10 dB):", "",
           "| variant | " + " | ".join(domains) + " |", "|---|" + "---|" * len(domains)]
    for name in s["validation"]:
        md.append(f"| {name} | " + " | ".join(
            f"{state['folds'][f'{name} | {d}']['k=16 0dB'][0]:.3f} / {state['folds'][f'{name} | {d}']['k=16 10dB'][0]:.3f}"
            for d in domains) + " |")
    if state["eval"]:
        cols = list(next(iter(state["eval"].values())))
        md += ["", "Never used to choose: zero-shot top-1 on the evaluation sets of each variant trained on the whole corpus "
               "(one seed, one noise draw).", "", "| variant | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for name, row in state["eval"].items():
            md.append(f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")
        if "rank_correlation" in s:
            md += ["", f"Spearman rank correlation between the validation score and each evaluation column, over "
                   f"{len(s['rank_correlation_over'])} codes: "
                   + ", ".join(f"{c}: {r:+.2f}" for c, r in s["rank_correlation"].items()) + "."]
    return "\n".join(md) + "\n"


if __name__ == "__main__":
    main()
