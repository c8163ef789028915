"""Server CPU from /proc: utime + stime of a process tree (the uvicorn master and workers)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and every descendant alive now (uvicorn's workers are its children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def process_cpu_seconds(pids: list[int]) -> float:
    """Sum of utime + stime (fields 14 and 15 of /proc/<pid>/stat) over `pids`, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14, 15 counted from 1 incl. pid, comm
    return total / TICKS
