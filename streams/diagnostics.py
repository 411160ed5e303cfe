"""Diagnostics for a process that seems stuck: where every asyncio task is waiting."""

from __future__ import annotations

import asyncio
import io
import sys
from typing import Any


def _await_chain(task: asyncio.Task) -> list[str]:
    """Where a task waits: each coroutine in its await chain, innermost last."""
    frames: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            frames.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return frames


def dump_tasks(stream=None) -> None:
    """Write every asyncio task and its await chain (a worker does this on SIGUSR1)."""
    out = io.StringIO()
    tasks = asyncio.all_tasks()
    out.write(f"--- {len(tasks)} asyncio tasks ---\n")
    for task in tasks:
        out.write(f"{task.get_name()}\n" + "\n".join(_await_chain(task)) + "\n")
    (stream or sys.stderr).write(out.getvalue())
    (stream or sys.stderr).flush()
