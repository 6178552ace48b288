"""Processes the command line starts, stops or reaps, known by more than their pid: a pid is reused by
the system once its process ends, so what we record of a process is its pid *and* its start time
(and command line), and we signal only a process that still matches. Linux (/proc); elsewhere the
identity is the pid alone.
"""
from __future__ import annotations

import os
from pathlib import Path


def start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (/proc/<pid>/stat field 22); None when
    there is no such process (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").rstrip("\0").split("\0")
    except OSError:
        return []


def identity(pid: int) -> dict:
    """What to record of a process we started: {"pid", "pid_started" (start ticks), "command"}."""
    return {"pid": pid, "pid_started": start_ticks(pid), "command": command_line(pid)[:8]}


def still_ours(record: dict) -> bool:
    """Whether the process a record names is still the one it names (same pid and start time; a
    record without a start time, from an older version: same pid and a command line naming the same
    program)."""
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 1:
        return False
    started = start_ticks(pid)
    if started is None:
        return False
    if record.get("pid_started") is not None:
        return started == record["pid_started"]
    recorded = record.get("command") or ["prefect", "server"]
    return all(word in " ".join(command_line(pid)) for word in recorded[-2:])


def port_holder(port: int) -> str | None:
    """Which process listens on 127.0.0.1 (or any address) at `port`: "pid 123: nc -l 4200", "a process
    of another user" when it cannot be named, None when none listens (Linux: /proc/net/tcp{,6})."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                if os.readlink(fd.path) in inodes:
                    return f"pid {entry.name}: {' '.join(command_line(int(entry.name)))[:80]}"
        except OSError:
            continue
    return "a process of another user"
