"""Progress for people: lines off a terminal, and reports that cost something kept rare."""
from __future__ import annotations

import io
import time

from nnmodel.progress import Progress, at_most_every


def test_at_most_every_lets_one_report_through_per_interval():
    due = at_most_every(0.05)
    assert not due()                       # nothing since it was made
    time.sleep(0.06)
    assert due() and not due()             # one through, the next waits again
    time.sleep(0.06)
    assert due()


def test_progress_off_a_terminal_writes_about_every_tenth():
    stream = io.StringIO()
    progress = Progress(100, "files", stream=stream)
    for done in range(1, 101):
        progress.update(done)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert 5 <= len(lines) <= 12 and lines[-1].startswith("  files 100/100")
