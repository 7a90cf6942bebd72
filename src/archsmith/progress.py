"""A progress bar for long checkpoint reads and writes, shown only where someone watches.

The bar counts bytes and moves once per weight file (shard). It is drawn on stderr, and only
when stderr is a terminal and the work is large, so scripts, pipes, ``--json`` output and
tests see nothing.
"""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
MIN_BYTES = 256 * 1024**2  # below this a bar would only flash


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def track_bytes(steps: Iterable[tuple[T, int]], description: str | None) -> Iterator[T]:
    """Yield the item of each ``(item, nbytes)`` step; with a ``description``, on a terminal, a bar
    of the total bytes advances by each step's bytes once the caller is done with it."""
    steps = list(steps)
    total = sum(n for _, n in steps)
    console = _stderr_console()
    if description is None or total < MIN_BYTES or not console.is_terminal:
        yield from (item for item, _ in steps)
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=total)
        for item, nbytes in steps:
            yield item
            bar.advance(task, nbytes)
