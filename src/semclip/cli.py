"""The ``semclip`` command. User errors (SemclipError) print one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from semclip.errors import SemclipError

app = typer.Typer(
    help="SemCLIP: zero-shot semantic communication with multimodal foundation models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
pocket_app = typer.Typer(help="Train or check the embedded PocketCLIP backbone.", no_args_is_help=True)
app.add_typer(pocket_app, name="pocketclip")
# a pipe or CI log is not 80 columns wide: keep the results table readable there
console = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True)


def parse_floats(text: str, what: str) -> list[float]:
    """"-10,-5,0" -> [-10.0, -5.0, 0.0], with an error naming the bad item."""
    out = []
    for item in text.split(","):
        item = item.strip()
        try:
            out.append(float(item))
        except ValueError:
            raise SemclipError(f"{what}: {item!r} is not a number (give a comma-separated list like -10,0,10)") from None
    return out


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for results.json, results.md, accuracy_vs_snr.png.")] = Path("semclip-demo"),
    backbone: Annotated[str, typer.Option(help="pocketclip, or hf-clip:<hub id or folder>.")] = "pocketclip",
    dataset: Annotated[str, typer.Option(help="Evaluation set: fashion-mnist[:test] or folder:/path.")] = "fashion-mnist:test",
    train_dataset: Annotated[str, typer.Option(help="Images whose tokens train the codec.")] = "fashion-mnist:train",
    k: Annotated[int, typer.Option(help="Complex channel uses per image (token JSCC bandwidth).")] = 16,
    snrs: Annotated[str, typer.Option(help="Comma-separated SNRs in dB.")] = "-10,-5,0,5,10,15,20",
    channels: Annotated[str, typer.Option(help="Comma-separated channels: awgn, rayleigh[:mmse|zf|decoder|none].")] = "awgn,rayleigh",
    test_limit: Annotated[Optional[int], typer.Option(help="Use only the first N test images.")] = None,
    train_limit: Annotated[int, typer.Option(help="Use only the first N training images for the codec.")] = 10000,
    steps: Annotated[int, typer.Option(help="Codec training steps.")] = 1500,
    seed: Annotated[int, typer.Option(help="Seed for training and channel noise.")] = 0,
) -> None:
    """Run SemCLIP end to end on the embedded default and write results, a table and a plot."""
    from semclip.demo import DemoConfig, run_demo
    from semclip.eval.table import rich_table
    from semclip.jscc.train import JSCCTrainConfig

    cfg = DemoConfig(
        backbone=backbone,
        dataset=dataset,
        train_dataset=train_dataset,
        test_limit=test_limit,
        train_limit=train_limit,
        k=k,
        channels=[c.strip() for c in channels.split(",") if c.strip()],
        snrs_db=parse_floats(snrs, "--snrs"),
        jscc=JSCCTrainConfig(steps=steps, seed=seed),
        seed=seed,
    )
    results = run_demo(cfg, out, log=console.print)
    console.print(rich_table(results, title=f"zero-shot top-1, {results.dataset}, {results.backbone}"))
    console.print(f"wrote {out}/results.json, results.md, accuracy_vs_snr.png in {results.seconds['total']:.0f} s")


@app.command("list")
def list_(what: Annotated[str, typer.Argument(help="backbones, channels or datasets")] = "all") -> None:
    """List the registered backbones, channels and datasets."""
    from semclip.backbones.base import list_backbones
    from semclip.channels.registry import list_channels
    from semclip.data.registry import list_datasets

    tables = {"backbones": list_backbones(), "channels": list_channels(), "datasets": list(list_datasets())}
    if what != "all" and what not in tables:
        raise SemclipError(f"unknown list {what!r}; choose backbones, channels, datasets or all")
    for name, items in tables.items():
        if what in ("all", name):
            console.print(f"[bold]{name}[/]: " + ", ".join(items))


@pocket_app.command("train")
def pocket_train(
    out: Annotated[Path, typer.Option(help="Where to write the heads (safetensors).")] = Path(
        "src/semclip/backbones/assets/pocketclip_heads.safetensors"
    ),
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 2000,
    fashion_per_class: Annotated[int, typer.Option(help="Fashion-MNIST *training* images per class (0: none).")] = 1200,
    seed: int = 0,
) -> None:
    """Train PocketCLIP's projection heads on offline data (no evaluation split)."""
    from semclip.train.pocketclip import HeadTrainConfig, train_heads

    r = train_heads(HeadTrainConfig(steps=steps, fashion_per_class=fashion_per_class, seed=seed), out)
    console.print(f"wrote {r['out']} (sha {r['sha']}), trained on {r['sizes']}, final loss {r['final_loss']:.3f}")


@pocket_app.command("eval")
def pocket_eval(
    heads: Annotated[Optional[Path], typer.Option(help="Heads file (default: the packaged one).")] = None,
    dataset: Annotated[str, typer.Option(help="Labelled evaluation set.")] = "fashion-mnist:test",
    limit: Annotated[Optional[int], typer.Option(help="First N images only.")] = None,
) -> None:
    """Noiseless zero-shot top-1 of PocketCLIP with the hand-crafted templates."""
    from semclip.backbones.base import create_backbone
    from semclip.data.registry import create_dataset
    from semclip.data.token_cache import dataset_tokens
    from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

    bb = create_backbone(f"pocketclip:{heads}" if heads else "pocketclip")
    data = create_dataset(dataset, limit=limit)
    tokens, labels = dataset_tokens(bb, data)
    acc = top1_accuracy(ZeroShotClassifier(bb, data.classes).predict(tokens), labels)
    console.print(f"{data.name}: zero-shot top-1 {acc:.4f} over {len(data)} images ({bb.fingerprint})")


def main() -> None:
    try:
        app()
    except SemclipError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted: finished steps are cached; run the same command again to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
