"""Stopping signals as one exception: SIGINT (Ctrl-C), SIGTERM (`kill`, a service manager) and
SIGHUP (the terminal closed) all raise KeyboardInterrupt in the main thread, so that every command's
`finally` blocks run (temporary files removed, a schedule's deployment paused) however it is
stopped; `received` names the signal, `status()` is the exit status a shell expects (128 + number).
"""
from __future__ import annotations

import signal

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
received: signal.Signals = signal.SIGINT
_deferred: list | None = None  # inside `deferred()`: the signals received, raised at its end


def _stop(signum, frame) -> None:
    global received
    received = signal.Signals(signum)
    if _deferred is not None:
        _deferred.append(signum)
        return
    raise KeyboardInterrupt


def hold() -> None:
    """From now until `release()`, a stopping signal is remembered, not raised (the first steps of a
    command, before it knows what to tidy on the way out)."""
    global _deferred
    _deferred = []


def release(quietly: bool = False) -> None:
    """Stop holding signals; KeyboardInterrupt now if one came while they were held (unless `quietly`:
    the command is ending anyway)."""
    global _deferred
    caught, _deferred = _deferred, None
    if caught and not quietly:
        raise KeyboardInterrupt


def install(held: bool = False) -> None:
    """From now on, a stopping signal raises KeyboardInterrupt (call from the main thread); `held`:
    not before `release()`."""
    if held:
        hold()
    for sig in STOPPING:
        signal.signal(sig, _stop)


def tidying() -> None:
    """The command is stopping and tidying up (removing temporary files, pausing a deployment): a
    further stopping signal, or a library's own handler re-sending one, is noted but no longer
    interrupts, so the tidying finishes and the exit status says what stopped it."""
    def note(signum, frame) -> None:
        pass

    for sig in STOPPING:
        signal.signal(sig, note)


def describe() -> str:
    return "Ctrl-C" if received == signal.SIGINT else received.name


def status() -> int:
    return 128 + int(received)
