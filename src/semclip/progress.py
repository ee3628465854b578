"""Progress bars for long steps (rich), and ``say`` for notes that must not be lost in them."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_err = Console(stderr=True)


def progress(disable: bool = False) -> Progress:
    """``disable``: no bar (e.g. on the non-main processes of a distributed run)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
        disable=disable,
    )


def say(message: str) -> None:
    """A warning or note on stderr (rich markup allowed)."""
    _err.print(message, highlight=False, soft_wrap=True)
