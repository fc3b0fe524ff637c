"""`framedex serve` as a child process on loopback, for the tests and benchmarks that need a real server
process: one they can SIGKILL and restart on the same data directory, or measure from outside.

Imports nothing from pytest, so `bench/` scripts use it too (with the repository root on `sys.path`). The
child inherits this process's environment (PYTHONPATH, HF_HUB_OFFLINE) plus ``env``. Its output goes to
``log`` when given, else to an anonymous temporary file: either way the end of it is in the error when the
server does not come up, and nothing can fill a pipe and stall the child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

__all__ = ["ServeProcess", "free_port", "start_serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServeProcess:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    output: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/v1.3"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output_tail(self, limit: int = 4000) -> str:
        """The end of what the server wrote (pread: the child shares the file offset, which must not move)."""
        fd = self.output.fileno()
        size = os.fstat(fd).st_size
        return os.pread(fd, limit, max(0, size - limit)).decode("utf-8", "replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` (SIGTERM: a graceful stop; SIGKILL: a crash) and wait for the exit; a process still
        running after ``timeout`` seconds is killed. Returns the exit status."""
        if self.alive():
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.output.close()
        return code


def start_serve(data_dir: Path, *, port: int | None = None, workers: int | None = None, no_auth: bool = True,
                log_level: str = "warning", env: Mapping[str, str] | None = None, args: Sequence[str] = (),
                log: Path | None = None, timeout: float = 120) -> ServeProcess:
    """Start ``framedex serve --data-dir data_dir`` and return once ``/health`` answers 200. ``port`` defaults
    to a free one (pass the old one to restart in place); ``args`` are further `serve` options. When the
    server exits or does not answer within ``timeout`` seconds it is killed and RuntimeError carries the end
    of its output."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "framedex.cli.main", "serve", "--data-dir", str(data_dir), "--port", str(port),
           "--log-level", log_level, *(["--no-auth"] if no_auth else []),
           *(["--workers", str(workers)] if workers is not None else []), *args]
    # Open for the life of the child, closed by `stop`.
    output: IO[bytes] = log.open("w+b") if log is not None else tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, stdout=output,
                            stderr=subprocess.STDOUT)
    server = ServeProcess(proc, port, data_dir, output)
    deadline = time.monotonic() + timeout
    while server.alive() and time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        time.sleep(0.2)
    exited = not server.alive()
    tail = server.output_tail()
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"framedex serve {'exited' if exited else f'did not answer within {timeout:g} s'}:\n{tail}")

