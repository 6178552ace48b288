"""Children that end with their command, however it ends: a small watcher process follows the
command (its parent) and, when the command is gone (an exit, a crash, a `kill -9`), stops what the
command had started and left running: the temporary Prefect server, the process pools and their
forkserver.

The watcher learns the command's descendants every half second (one pass over /proc), each by its pid *and*
start time, so it never signals a process that merely reuses a pid; and only those in the command's
own session, so a server that `digits server start` detached (a session of its own) is never touched.
A child started in the last half second before a kill can be missed: the next command reaps a
temporary server left that way (`prefect_env.reap_orphaned_temporary_servers`). Linux only (/proc);
elsewhere `start` does nothing.
"""
from __future__ import annotations

import os
import subprocess
import sys

# The watcher runs as `python -I -S -c WATCHER <command pid>`: isolated, no site packages, quick to start.
WATCHER = r'''
import os, signal, sys, time

def stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[3]), int(fields[19])  # parent, session, start ticks
    except (OSError, ValueError, IndexError):
        return None

def descendants(root, session, me):
    """{pid: start ticks} of root's descendants in `session` (one pass over /proc)."""
    by_parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = stat(int(name))
            if info and info[1] == session and int(name) != me:
                by_parent.setdefault(info[0], []).append((int(name), info[2]))
    seen, todo = {}, [root]
    while todo:
        for child, ticks in by_parent.get(todo.pop(), ()):
            if child not in seen:
                seen[child] = ticks
                todo.append(child)
    return seen

def still(pid, ticks):
    info = stat(pid)
    return info is not None and info[2] == ticks

def main(parent):
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)  # a Ctrl-C of the terminal is for the command; we tidy after it
    own = stat(parent)
    if own is None:
        return
    me, known = os.getpid(), {}
    try:
        watch = os.pidfd_open(parent)
    except (AttributeError, OSError):
        watch = None
    import select
    while os.getppid() == parent and still(parent, own[2]):
        known = descendants(parent, own[1], me)
        if watch is not None:
            select.select([watch], [], [], 0.5)
        else:
            time.sleep(0.5)
    left = {pid: ticks for pid, ticks in known.items() if still(pid, ticks)}
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {pid: ticks for pid, ticks in left.items() if still(pid, ticks)}
    for pid, ticks in left.items():
        if still(pid, ticks):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

main(int(sys.argv[1]))
'''


def start() -> subprocess.Popen | None:
    """Start the watcher of this process (once per process); None where there is no /proc."""
    global _watcher
    if _watcher is not None or not os.path.isdir("/proc/self/task"):
        return _watcher
    _watcher = subprocess.Popen([sys.executable, "-I", "-S", "-c", WATCHER, str(os.getpid())],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                close_fds=True)
    return _watcher


_watcher: subprocess.Popen | None = None
