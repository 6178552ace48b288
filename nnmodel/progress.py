"""Progress of long work for people, on stderr (stdout stays clean for machine-readable output).

On a terminal one line is rewritten in place; otherwise (logs, CI) a line is written about every
tenth of the way. Shared by training (iterations) and batch prediction (files).
"""
from __future__ import annotations

import sys
import time

COSTLY_REPORT_SECONDS = 1.0   # progress that costs something (an API call) is reported at most this often


def say(message: str) -> None:
    """One line for people, on stderr."""
    print(message, file=sys.stderr, flush=True)


def at_most_every(seconds: float):
    """A check that is True when `seconds` have passed since it last was (or since it was made): for
    progress whose every report costs something, such as an API call."""
    last = [time.monotonic()]

    def due() -> bool:
        if time.monotonic() - last[0] < seconds:
            return False
        last[0] = time.monotonic()
        return True
    return due


class Progress:
    """`update(done, detail)` reports `done` of `total` units; `close()` ends the line."""

    def __init__(self, total: int, unit: str, stream=None):
        self.total, self.unit = max(int(total), 0), unit
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.next_line_at = 0.0
        self.open = False

    def update(self, done: int, detail: str = "", force: bool = False) -> None:
        """Show `done`/total with `detail`; off a terminal only every ~10% (or when `force`)."""
        line = f"  {self.unit} {done:,}/{self.total:,}" + (f"  {detail}" if detail else "")
        if self.live:
            self.stream.write("\r" + line + "\033[K")
            self.open = True
        elif force or done >= self.next_line_at or done >= self.total:
            self.stream.write(line + "\n")
            self.next_line_at = done + max(1.0, self.total / 10)
        self.stream.flush()

    def close(self) -> None:
        if self.live and self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


class TrainingProgress:
    """A `Network.fit` progress callback: a line per iteration (when `show`), and each validation
    check passed to `log` (e.g. a run logger)."""

    def __init__(self, show: bool = True, log=None):
        self.show, self.log, self.bar = show, log, None

    def __call__(self, info: dict) -> None:
        detail = (f"loss {info['loss']:.4f}"
                  + (f"  validation {info['val_accuracy']:.2%}" if "val_accuracy" in info else "")
                  + f"  {info['seconds']:.0f} s, ~{info['eta_seconds']:.0f} s left")
        if self.show:
            if self.bar is None:
                self.bar = Progress(info["max_iter"], "iteration")
            self.bar.update(info["iteration"], detail, force="val_accuracy" in info)
        if self.log and "val_accuracy" in info:
            self.log(f"iteration {info['iteration']}/{info['max_iter']}  {detail}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class BatchProgress:
    """Progress of a batch over files: `add(rows)` after each chunk, with the rate so far."""

    def __init__(self, total: int, already_done: int = 0, show: bool = True):
        self.done, self.skipped = already_done, already_done
        self.bar = Progress(total, "classified") if show else None
        self.started = time.perf_counter()

    def add(self, rows: int) -> None:
        self.done += rows
        if self.bar is not None:
            rate = (self.done - self.skipped) / max(time.perf_counter() - self.started, 1e-9)
            self.bar.update(self.done, f"files ({rate:,.0f} images/s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
