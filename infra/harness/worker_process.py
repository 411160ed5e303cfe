"""Run a hub worker as a child process (for the demo and the integration tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from streams.settings import ENV_PREFIX, HubSettings


class WorkerProcess:
    """``lienthong worker`` with ``settings`` in a child process, its output in ``log_path``."""

    def __init__(self, settings: HubSettings, log_path: Path) -> None:
        # Exactly these settings: nothing inherited from this process's LIENTHONG_* variables.
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and k != "KAFKA_BOOTSTRAP_SERVERS"
        }
        self.settings = settings
        self._env = inherited | settings.to_env()
        self.log_path = log_path
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "worker"],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The exit code once the worker has exited (None while it runs or before it started)."""
        return None if self._proc is None else self._proc.poll()

    def stop(self, timeout_s: float = 30) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        return self._proc.returncode

    def kill(self) -> None:
        """SIGKILL: the worker dies wherever it is, without committing or leaving its group."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def dump_tasks(self) -> None:
        """Ask the worker to write every asyncio task's stack to its log (SIGUSR1)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGUSR1)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no worker log)"
