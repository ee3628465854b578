"""The ``semclip`` command. User errors (SemclipError) print one line and exit 2."""

from __future__ import annotations

import inspect
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from semclip.app.config import COMMANDS, configurable
from semclip.app.demo import DemoConfig, run_demo
from semclip.app.evaluate import EvalConfig
from semclip.app.train import TrainConfig
from semclip.app.options import build, options, parameters, parse_list
from semclip.backbones.registry import BACKBONE_HELP, DEFAULT_BACKBONE
from semclip.device import WORKERS_HELP
from semclip.errors import SemclipError

app = typer.Typer(
    help="SemCLIP: zero-shot semantic communication with multimodal foundation models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
pocket_app = typer.Typer(help="Train or check the embedded PocketCLIP backbone.", no_args_is_help=True)
app.add_typer(pocket_app, name="pocketclip")
config_app = typer.Typer(help="Experiment files (YAML/TOML): show what a run would use.", no_args_is_help=True)
app.add_typer(config_app, name="config")
# a pipe or CI log is not 80 columns wide: keep the results table readable there
console = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True)


BackboneOption = Annotated[str, typer.Option(help=BACKBONE_HELP)]
CodecPathOption = Annotated[Optional[Path], typer.Option(help="Codec checkpoint (default: the demo's cached codec, trained on first use).")]
KOption = Annotated[int, typer.Option(help="Complex channel uses for the token (one the codec serves: 4, 8, 16, 32, 64 by default).")]
DeviceOption = Annotated[str, typer.Option(help="Where the run computes: auto (a GPU when there is one), cpu, cuda or cuda:N.")]
EngineOption = Annotated[str, typer.Option(help="What runs the image tower on the CPU: auto (OpenVINO when installed), openvino or eager (PyTorch).")]
PrecisionOption = Annotated[str, typer.Option(help="Image tower precision: fp32, or bf16 (autocast on a GPU; tokens cached apart).")]
WorkersOption = Annotated[Optional[int], typer.Option(help=WORKERS_HELP[0].upper() + WORKERS_HELP[1:] + ". The tokens do not depend on it.",
                                                      show_default=False)]


# --quick: the demo's sizes, each an upper bound (a smaller value given with --quick is kept)
# --quick evaluates fewer images with the same trained parts (so the shipped ones serve it)
QUICK = {"test_limit": 300, "baseline_limit": 100, "view_limit": 100}


def demo_defaults() -> dict:
    return {name: p.default for name, p in inspect.signature(COMMANDS["demo"]).parameters.items()}


def quick_sizes(given: dict, defaults: dict) -> dict:
    """--quick's sizes; a size set otherwise (not its default) and larger than --quick's
    contradicts it: a one-line error saying which."""
    out = {}
    for name, cap in QUICK.items():
        value = given[name]
        if value != defaults[name] and (value is None or value > cap):
            flag = "--" + name.replace("_", "-")
            raise SemclipError(f"--quick runs {flag} {cap} at most, but {flag} is {value}: drop --quick for the full size, or drop {flag}")
        out[name] = cap if value == defaults[name] else value
    return out


def with_options(opts: list, before: list[inspect.Parameter], after: list[inspect.Parameter]):
    """Give a command the generated options of a config (``semclip.app.options``) between its
    own parameters; it receives them all as keywords."""

    def wrap(fn):
        params = [*before, *parameters(opts), *after]
        fn.__signature__ = inspect.Signature(params)
        fn.__annotations__ = {p.name: p.annotation for p in params}
        return fn

    return wrap


def _keyword(name: str, annotation, default) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def generated(command: str, opts: list, out: inspect.Parameter, after: list | None = None):
    """A command named ``command`` whose options are generated from a config (``opts``),
    after ``out`` and before ``after`` (default: where the run computes), with --config."""

    def wrap(fn):
        return app.command(command)(configurable(command)(with_options(opts, [out], RUN_OPTIONS if after is None else after)(fn)))

    return wrap


# where a run computes: the last options of every command that runs one
RUN_OPTIONS = [_keyword("device", DeviceOption, "auto"), _keyword("precision", PrecisionOption, "fp32"), _keyword("engine", EngineOption, "auto"),
               _keyword("workers", WorkersOption, None)]


def computes(fn):
    """A hand-written command that runs the models: its own options, then ``RUN_OPTIONS``
    (which ``configurable`` applies before the command starts, so it takes them as ``**_``)."""
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    return with_options([], own, RUN_OPTIONS)(fn)


DEMO_OPTIONS = options(DemoConfig)


@generated(
    "demo", DEMO_OPTIONS,
    _keyword("out", Annotated[Path, typer.Option(help="Folder for results.json, results.md, accuracy_vs_snr.png.")], Path("semclip-demo")),
    after=[
        _keyword("quick", Annotated[bool, typer.Option(help=(
            "The same job, with the same trained parts, evaluated on a few hundred images (about a minute cold with the "
            "shipped parts): " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items()) + "."))], False),
        *RUN_OPTIONS,
    ],
)
def demo(out: Path, quick: bool, device: str, precision: str, engine: str, workers: int | None, **settings) -> None:
    """Run SemCLIP end to end on the embedded default and write results, tables and plots."""
    if quick:
        settings |= quick_sizes(settings, demo_defaults())
    from semclip.eval.table import rich_table

    cfg = build(DemoConfig, DEMO_OPTIONS, settings)
    k = cfg.grid.k
    results = run_demo(cfg, out, log=console.print)
    main = results.model_copy(update={"records": [r for r in results.records if r.dataset in (None, results.dataset)]})
    console.print(rich_table(main, title=f"zero-shot top-1, {results.dataset}, {results.backbone}, k = {k}"))
    md = (out / "results.md").read_text()
    for section in ("## Accuracy against bandwidth", "## Retrieval", "## Base-to-novel", "## semclip against the best image baseline"):
        if section in md:
            console.print(section + md.split(section, 1)[1].split("\n## ", 1)[0])
    from semclip.baselines.probe_store import TABLE

    used = results.model_extra.get("artefacts", [])
    origins = Counter(u["origin"] for u in used if u["name"] != TABLE)  # the probe table is no trained part
    table = next((u["origin"] for u in used if u["name"] == TABLE), None)
    console.print("trained parts: " + ", ".join(f"{n} {o}" for o, n in origins.items())
                  + (f"; link-adaptation probe table: {table}" if table else "") + " (listed in results.md)")
    console.print(f"wrote {out}/results.json, results.md and plots in {results.seconds['total']:.0f} s")


TRAIN_OPTIONS = options(TrainConfig)


@generated("train", TRAIN_OPTIONS, _keyword("out", Annotated[Path, typer.Option(help="Folder for the checkpoints.")], Path("semclip-train")))
def train(out: Path, device: str, precision: str, engine: str, workers: int | None, **settings) -> None:
    """Train the token codec (stage 1) and/or a receiver prompt learner (stage 2).
    Runs as it is on one CPU, or data-parallel under `accelerate launch`.

    With --adapt-on, stage jscc adapts a trained codec to the sender's own unlabelled images
    instead (no labels, no class names; recorded in the codec's provenance).

    Interrupted prompt training resumes from its last partial checkpoint when rerun."""
    from semclip.app.train import train_stages

    paths = train_stages(build(TrainConfig, TRAIN_OPTIONS, settings), out, log=console.print)
    from semclip.distributed import dist

    if dist().is_main:  # every launched process ran the same stages; one reports
        for what, path in paths.items():
            console.print(f"wrote {what}: {path}")


EVAL_OPTIONS = options(EvalConfig)


@generated("eval", EVAL_OPTIONS, _keyword("out", Annotated[Path, typer.Option(help="Folder for results.json, summary.md, protocols.png.")],
                                          Path("semclip-eval")))
def eval_(out: Path, device: str, precision: str, engine: str, workers: int | None, **settings) -> None:
    """Zero-shot protocols for receiver prompts: train on few shots, test on unseen classes or datasets."""
    from dataclasses import replace

    from semclip.app.evaluate import run_eval

    cfg = build(EvalConfig, EVAL_OPTIONS, settings)
    pc = cfg.protocol_cfg  # the prompts train on the channels they are tested on
    cfg.protocol_cfg = replace(pc, train=replace(pc.train, channels=list(pc.channels)))
    results = run_eval(cfg, out, log=console.print)
    console.print((out / "summary.md").read_text())
    console.print(f"wrote {out}/results.json, summary.md, protocols.png in {results.seconds:.0f} s")


@app.command()
@configurable("transmit")
@computes
def transmit(
    image: Annotated[Optional[Path], typer.Argument(help="The image file to send (or `image` in a config file).")] = None,
    snr: Annotated[float, typer.Option(help="Channel SNR in dB.")] = 5.0,
    channel: Annotated[str, typer.Option(help="awgn, rayleigh[:mmse|zf|decoder|none].")] = "awgn",
    classes: Annotated[str, typer.Option(help="Comma-separated class names (default: Fashion-MNIST's and the clip-art topics').")] = "",
    backbone: BackboneOption = DEFAULT_BACKBONE,
    jscc: CodecPathOption = None,
    k: KOption = 16,
    seed: Annotated[int, typer.Option(help="Seed of the channel noise and fading.")] = 0,
    **_,
) -> None:
    """Send one image's token over the channel; print the top-5 zero-shot labels after
    transmission beside the noiseless backbone's, and the channel uses."""
    from rich.table import Table

    from semclip.app.transmit import transmit_image

    if image is None:
        raise SemclipError("give the image to send: semclip transmit photo.jpg")
    t = transmit_image(image, snr, channel, parse_list(classes, str, "--classes") or None, backbone, jscc, seed, log=console.print, k=k)
    table = Table(title=f"{image.name}: {t.channel} at {t.snr_db:g} dB, {t.channel_uses:g} complex channel uses, {len(t.classes)} classes")
    for col in ("rank", "noiseless backbone", "p", "after the channel", "p "):
        table.add_column(col, justify="right" if col.startswith("p") or col == "rank" else "left")
    for i, ((a, pa), (b, pb)) in enumerate(zip(t.clean, t.received), 1):
        table.add_row(str(i), a, f"{pa:.3f}", b, f"{pb:.3f}")
    console.print(table)
    console.print(f"cosine(sent token, received token) = {t.cosine:.3f}; codec {t.codec}")


@app.command()
@configurable("report")
def report(
    runs: Annotated[Optional[list[Path]], typer.Argument(help="Result folders written by `semclip demo` or `semclip eval` (several overlay).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for report.html and its PNGs.")] = Path("semclip-report"),
) -> None:
    """One self-contained HTML page over result folders: accuracy vs SNR and vs channel uses,
    bandwidth, retrieval, each run's tables, configuration and software versions."""
    from semclip.app.report import write_report

    if not runs:
        raise SemclipError("give one or more result folders: semclip report semclip-demo (and more folders to overlay)")
    page = write_report(runs, out)
    console.print(f"wrote {page} (and its PNGs)")


@app.command()
@configurable("serve")
@computes
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (local only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    backbone: BackboneOption = DEFAULT_BACKBONE,
    jscc: CodecPathOption = None,
    k: KOption = 16,
    **_,
) -> None:
    """A local web page: upload an image or pick a sample, set SNR, channel and bandwidth,
    and compare semclip's prediction with the image-transmission baseline's."""
    from semclip.app.serve import serve as run_server

    console.print(f"serving on http://{host}:{port}/ (Ctrl-C stops it); the models load in the background, and a channel "
                  "whose codec is not built yet answers 503 'warming up' (a codec not cached or shipped trains once: minutes)")
    run_server(host, port, backbone, str(jscc) if jscc else None, k)


@app.command()
@configurable("extract")
@computes
def extract(
    dataset: Annotated[str, typer.Option(help="Images to encode: any dataset spec (see `semclip datasets`).")] = "fashion-mnist:train",
    backbone: BackboneOption = DEFAULT_BACKBONE,
    limit: Annotated[Optional[int], typer.Option(help="Use only N images (spread over the classes for on-disk sets).")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 64,
    world_size: Annotated[Optional[int], typer.Option(help="Processes this run expects (checked against `accelerate launch`).")] = None,
    **_,
) -> None:
    """Encode a dataset's images into the token cache once (streaming, resumable; under
    `accelerate launch` every process encodes its share of the shards)."""
    from semclip.backbones.registry import create_backbone
    from semclip.data.registry import create_dataset
    from semclip.tokens.cache import cache_path, dataset_tokens
    from semclip.distributed import dist

    if batch_size <= 0:
        raise SemclipError(f"--batch-size must be positive, not {batch_size}")
    d = dist(world_size)
    bb = create_backbone(backbone)
    data = create_dataset(dataset, limit=limit)
    tokens, _ = dataset_tokens(bb, data, batch_size=batch_size)
    if d.is_main:
        console.print(
            f"{data.name}: {tokens.shape[0]} tokens of size {tokens.shape[1]} ({len(data.skipped)} unreadable image(s) skipped) "
            f"in {cache_path(bb, data)}" + (f", {d.world} processes" if d.world > 1 else "")
        )


@app.command()
def datasets(
    root: Annotated[Optional[Path], typer.Option(help="Data root to check (default: $SEMCLIP_DATA, else ~/semclip-data).")] = None,
) -> None:
    """The datasets semclip reads: where it looks for each, whether it is there, how to get it."""
    from rich.markup import escape
    from rich.table import Table

    from semclip.data.base import DATASETS
    from semclip.data.registry import SYNTAX, catalog

    table = Table(title=escape("datasets: name[:split][@root]; hf:<id or folder>[:split] and folder:/path read any other"))
    for col in ("name", "dataset", "splits", "looks for", "found", "how to obtain"):
        table.add_column(col, overflow="fold")
    for r in catalog(root):
        table.add_row(r.name, r.title, r.splits, escape(r.looks_for), "[green]yes[/]" if r.found else "[red]no[/]", escape(r.obtain))
    console.print(table)
    for name in ("hf", "folder"):
        entry, _ = DATASETS.entry(name)
        console.print(f"[bold]{escape(entry.usage)}[/]: {entry.doc}")
    for usage, doc in SYNTAX.items():
        console.print(f"[bold]{usage}[/]: {doc}")


@config_app.command("show")
def config_show(
    file: Annotated[Optional[Path], typer.Argument(help="YAML or TOML experiment file (none: the defaults).")] = None,
    command: Annotated[Optional[list[str]], typer.Option(help="Only this command's section (repeatable).")] = None,
) -> None:
    """Print the resolved settings (defaults filled in) as YAML that --config reads back;
    an unknown section or key is an error."""
    from semclip.app.config import show

    sys.stdout.write(show(file, command or []))


@app.command("list")
def list_(what: Annotated[str, typer.Argument(help="backbones, channels, datasets, learners, baselines or mcs")] = "all") -> None:
    """List the registered backbones, channels, datasets, prompt learners and baselines, one
    line each (as written, then what it is), and the MCS table."""
    from rich.markup import escape

    from semclip.backbones.base import BACKBONES
    from semclip.baselines.common import BASELINES
    from semclip.baselines.digital import DEFAULT_MCS
    from semclip.channels.base import CHANNELS
    from semclip.data.registry import list_datasets
    from semclip.prompts.base import LEARNERS

    docs = {"backbones": BACKBONES.docs(), "channels": CHANNELS.docs(), "datasets": list_datasets(), "learners": LEARNERS.docs(),
            "baselines": BASELINES.docs()}
    if what != "all" and what not in (*docs, "mcs"):
        raise SemclipError(f"unknown list {what!r}; choose one of {sorted((*docs, 'mcs'))} or all")
    for name, entries in docs.items():
        if what in ("all", name):
            console.print(f"[bold]{name}[/]")
            width = max(map(len, entries))
            for usage, doc in entries.items():
                console.print(f"  {escape(usage.ljust(width))}  {escape(doc)}", highlight=False)
    if what in ("all", "mcs"):
        console.print("[bold]mcs[/]: " + ", ".join(DEFAULT_MCS))


@pocket_app.command("train")
def pocket_train(
    out: Annotated[Path, typer.Option(help="Where to write the heads (safetensors).")] = Path(
        "src/semclip/backbones/assets/pocketclip_heads.safetensors"
    ),
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 2000,
    fashion_per_class: Annotated[int, typer.Option(help="Fashion-MNIST *training* images per class (0: none).")] = 1200,
    seed: int = 0,
    device: DeviceOption = "auto",
    workers: WorkersOption = None,
) -> None:
    """Train PocketCLIP's projection heads on offline data (no evaluation split)."""
    from semclip.device import select
    from semclip.backbones.pocketclip_train import HeadTrainConfig, train_heads

    select(device, workers=workers)

    r = train_heads(HeadTrainConfig(steps=steps, fashion_per_class=fashion_per_class, seed=seed), out)
    console.print(f"wrote {r['out']} (sha {r['sha']}), trained on {r['sizes']}, final loss {r['final_loss']:.3f}")


@pocket_app.command("eval")
def pocket_eval(
    heads: Annotated[Optional[Path], typer.Option(help="Heads file (default: the packaged one).")] = None,
    dataset: Annotated[str, typer.Option(help="Labelled evaluation set.")] = "fashion-mnist:test",
    limit: Annotated[Optional[int], typer.Option(help="First N images only.")] = None,
    device: DeviceOption = "auto",
    workers: WorkersOption = None,
) -> None:
    """Noiseless zero-shot top-1 of PocketCLIP with the hand-crafted templates."""
    from semclip.backbones.registry import create_backbone
    from semclip.data.registry import create_dataset
    from semclip.tokens.cache import dataset_tokens
    from semclip.device import select
    from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

    select(device, workers=workers)
    bb = create_backbone(f"pocketclip:{heads}" if heads else "pocketclip")
    data = create_dataset(dataset, limit=limit)
    tokens, labels = dataset_tokens(bb, data)
    acc = top1_accuracy(ZeroShotClassifier(bb, data.classes).predict(tokens), labels)
    console.print(f"{data.name}: zero-shot top-1 {acc:.4f} over {len(data)} images ({bb.fingerprint})")


def main() -> None:
    try:
        code = app(standalone_mode=False, prog_name="semclip")  # the command line's own errors come here, to be said in one line
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except typer.TyperException as exc:  # click's usage errors (typer's copy): an option, value or argument refused
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command group: its help
            print(ctx.get_help(), file=sys.stderr)
        else:
            where = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
            err.print(f"error: {' '.join(exc.format_message().split())}{where}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except SemclipError as exc:
        from rich.markup import escape

        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # messages hold [shapes] and [sections]
        sys.exit(2)
    if code == 130:  # Ctrl-C: typer returns 130 when it does not exit itself
        err.print("interrupted: finished steps are cached; run the same command again to resume")
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
