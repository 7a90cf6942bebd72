"""A progress bar for long checkpoint reads and writes, shown only where someone watches.

The bar counts bytes and moves once per weight file (shard). It is drawn on stderr, and only
when stderr is a terminal and the work is large, so scripts, pipes, ``--json`` output and
tests see nothing.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

MIN_BYTES = 256 * 1024**2  # below this a bar would only flash


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@contextlib.contextmanager
def byte_progress(description: str | None, total: int) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(nbytes)``. With a ``description``, on a terminal and for ``total`` bytes above
    MIN_BYTES, it moves a bar, which the end of the block (an error included) takes down."""
    console = _stderr_console()
    if description is None or total < MIN_BYTES or not console.is_terminal:
        yield lambda nbytes: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=total)
        yield lambda nbytes: bar.advance(task, nbytes)


@contextlib.contextmanager
def working(description: str | None, total: int) -> Iterator[None]:
    """A spinner with the step's name for long work that has no natural unit to count (building and
    initialising a large random model); shown under the same conditions as :func:`byte_progress`."""
    console = _stderr_console()
    if description is None or total < MIN_BYTES or not console.is_terminal:
        yield
        return
    with console.status(description):
        yield
