"""The command line's progress display: a counter the run updates, drawn on stderr.

The run tells :class:`Progress` where it is (:meth:`Progress.at`) at each
object boundary; that costs an assignment and a clock read. Drawing happens
only on a terminal, at most :data:`REDRAW_INTERVAL` apart: with ``rich``
(the ``cli`` extra) when it is installed, else as one plain line redrawn
with a carriage return. Piped or redirected, nothing is drawn.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Callable, TextIO

__all__ = ("REDRAW_INTERVAL", "Progress", "format_duration")

REDRAW_INTERVAL = 0.1
"""Seconds between two redraws, at the least."""


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` for a number of seconds (rounded down)."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class _Plain:
    """One line, redrawn in place with a carriage return."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.width = 0

    def draw(self, done: int, total: int | None, rate: float, elapsed: float) -> None:
        text = f"{self.label}: {done}"
        if total is not None:
            text += f"/{total}"
        text += f" objects, {rate:.1f}/s, elapsed {format_duration(elapsed)}"
        if total is not None:
            eta = (total - done) / rate if rate > 0 else None
            shown = "-:--:--" if eta is None else format_duration(max(eta, 0))
            text += f", ETA {shown}"
        # Pad over what a longer earlier line left on the screen.
        self.stream.write("\r" + text.ljust(self.width))
        self.width = max(self.width, len(text))
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class _Rich:
    """A ``rich`` progress bar on the stream."""

    def __init__(
        self, stream: TextIO, label: str, total: int | None, rich_progress: Any
    ) -> None:
        from rich.console import Console

        columns = rich_progress
        self.progress = columns.Progress(
            columns.TextColumn("{task.description}"),
            columns.BarColumn(),
            columns.MofNCompleteColumn(),
            columns.TextColumn("{task.fields[rate]}"),
            columns.TimeElapsedColumn(),
            columns.TimeRemainingColumn(),
            console=Console(file=stream),
            auto_refresh=False,
        )
        self.task = self.progress.add_task(label, total=total, rate="")
        self.progress.start()

    def draw(self, done: int, total: int | None, rate: float, elapsed: float) -> None:
        self.progress.update(
            self.task, completed=done, total=total, rate=f"{rate:.1f}/s"
        )
        self.progress.refresh()

    def close(self) -> None:
        self.progress.stop()


def _display(stream: TextIO, label: str, total: int | None) -> _Plain | _Rich:
    try:
        import rich.progress
    except ImportError:
        return _Plain(stream, label)
    return _Rich(stream, label, total, rich.progress)


class Progress:
    """How far a run is: objects done out of the total, and how fast.

    Use it as a context manager around the run; the display (if any) is
    closed when the block ends, however it ends.

    :param stream: where to draw (standard error).
    :param label: the line's first word (the command's name).
    :param clock: the time source, in seconds.

    :ivar done: objects done (the position reached in the object list).
    :ivar total: how many objects the run has, or ``None`` when unknown.
    """

    def __init__(
        self,
        stream: TextIO,
        label: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.label = label
        self.clock = clock
        self.done = 0
        self.total: int | None = None
        self.enabled = stream.isatty()
        self._first: int | None = None
        self._started = 0.0
        self._drawn = 0.0
        self._display: _Plain | _Rich | None = None

    def begin(self, total: int | None, done: int) -> None:
        """Start counting, once: later calls (nested runs) change nothing."""
        if self._first is not None:
            return
        self.total, self.done, self._first = total, done, done
        self._started = self._drawn = self.clock()
        if self.enabled:
            self._display = _display(self.stream, self.label, total)
            self._draw(self._started)

    def at(self, done: int) -> None:
        """Record that ``done`` objects are done; redraw if it is time."""
        self.done = done
        if self._display is not None:
            now = self.clock()
            if now - self._drawn >= REDRAW_INTERVAL:
                self._draw(now)

    def _draw(self, now: float) -> None:
        if self._display is None:
            return
        self._drawn = now
        elapsed = now - self._started
        counted = self.done - (self._first or 0)
        rate = counted / elapsed if elapsed > 0 else 0.0
        self._display.draw(self.done, self.total, rate, elapsed)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        display = self._display
        if display is None:
            return
        try:
            self._draw(self.clock())
        finally:
            self._display = None
            display.close()
