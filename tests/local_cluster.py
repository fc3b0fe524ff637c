"""A local framedex cluster on loopback, for trying the scale-out stack and for its end-to-end tests.

``up`` starts the servers of `tests.servers` (PostgreSQL 16 + pgvector, Redis, SeaweedFS S3), creates an API
key, then `api_count` ``framedex serve --workers 0`` processes on their own ports and `worker_count`
``framedex worker`` processes, every one configured only by ``FRAMEDEX_*_URL`` settings and each with a data
dir of its own (caches only: model packs, downloaded media, saved LLM states). It returns once every process
answers: an API process's ``/ready``, a worker's "running" line. ``status`` lists the processes; ``down``
stops exactly what ``up`` started (framedex processes first, with SIGTERM so workers hand their jobs back).

State lives in one directory: ``servers.json`` (role, pid, url, log of every process, written as each starts
so that ``down`` also stops a half-started cluster) and ``cluster.json`` (the settings and the API key,
mode 0600). ``scripts/cluster.sh`` runs ``python -m tests.local_cluster up|status|down STATE_DIR``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.servers import STARTERS, Server, free_port, stop

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "framedex"
BUCKET = "framedex"


@dataclass
class Cluster:
    state_dir: Path
    servers: list[Server]
    api_key: str
    env: dict[str, str] = field(default_factory=dict)  # the FRAMEDEX_* settings every process runs with

    def of(self, role: str) -> list[Server]:
        return [s for s in self.servers if s.role == role]

    @property
    def api_urls(self) -> list[str]:
        return [s.url for s in self.of("api")]


def _save(state_dir: Path, servers: list[Server]) -> None:
    (state_dir / "servers.json").write_text(json.dumps([asdict(s) for s in servers], indent=1))


def _load(state_dir: Path) -> list[Server]:
    path = state_dir / "servers.json"
    return [Server(**s) for s in json.loads(path.read_text())] if path.exists() else []


def alive(pid: int) -> bool:
    """Whether the process group still runs; a child of this process that exited is reaped first (a zombie
    still counts as a group member)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _framedex(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "framedex.cli.main", *args]
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=ROOT, start_new_session=True)


def process_env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMEDEX_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return {**env, **settings}


def _wait_for(check: object, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-3000:]}")
        with contextlib.suppress(Exception):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer in {timeout:.0f}s: {log.read_text()[-3000:]}")


def start_api(state_dir: Path, n: int, env: dict[str, str], timeout: float = 120) -> Server:
    port = free_port()
    log = state_dir / f"api-{n}.log"
    proc = _framedex(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "0",
                      "--data-dir", str(state_dir / f"api-{n}")], env, log)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/ready", timeout=2) as reply:
            return bool(reply.status == 200)

    _wait_for(ready, proc, f"api-{n}", log, timeout)
    return Server("api", proc.pid, url, str(log))


def start_worker(state_dir: Path, n: int, env: dict[str, str], timeout: float = 120) -> Server:
    log = state_dir / f"worker-{n}.log"
    proc = _framedex(["worker", "--concurrency", "1", "--data-dir", str(state_dir / f"worker-{n}")], env, log)
    _wait_for(lambda: "worker(s) running" in log.read_text(), proc, f"worker-{n}", log, timeout)
    return Server("worker", proc.pid, "", str(log))


def _create_database(postgres: Server) -> str:
    import psycopg

    admin = postgres.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return postgres.url.rsplit("/", 1)[0] + "/" + DATABASE


def _create_key(env: dict[str, str], state_dir: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "framedex.cli.main", "keys", "create", "--name", "cluster",
                           "--data-dir", str(state_dir / "admin")], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"framedex keys create failed: {done.stdout}{done.stderr}")
    return done.stdout.strip().splitlines()[-1].strip()


def up(state_dir: Path, *, api_count: int = 2, worker_count: int = 2, extra_env: dict[str, str] | None = None
       ) -> Cluster:
    """Start whatever of the cluster is not running yet (a second `up` only reports)."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    servers = [s for s in _load(state_dir) if alive(s.pid)]
    config = state_dir / "cluster.json"
    try:
        for role, start in STARTERS.items():
            if not any(s.role == role for s in servers):
                servers.append(start(state_dir / role))
                _save(state_dir, servers)
        if config.exists():
            saved = json.loads(config.read_text())
            settings, key = saved["env"], saved["api_key"]
        else:
            by_role = {s.role: s for s in servers}
            database = _create_database(by_role["postgres"])
            settings = {"FRAMEDEX_DATABASE_URL": database, "FRAMEDEX_VECTOR_URL": database,
                        "FRAMEDEX_QUEUE_URL": by_role["redis"].url,
                        "FRAMEDEX_BLOB_URL": f"{by_role['s3'].url}/{BUCKET}", **(extra_env or {})}
            key = _create_key(process_env(settings), state_dir)
            config.touch(mode=0o600)
            config.write_text(json.dumps({"env": settings, "api_key": key}, indent=1))
        env = process_env(settings)
        for n in range(len([s for s in servers if s.role == "api"]), api_count):
            servers.append(start_api(state_dir, n + 1, env))
            _save(state_dir, servers)
        for n in range(len([s for s in servers if s.role == "worker"]), worker_count):
            servers.append(start_worker(state_dir, n + 1, env))
            _save(state_dir, servers)
    except BaseException:
        _save(state_dir, servers)  # `down` stops what did start
        raise
    return Cluster(state_dir, servers, key, settings)


def status(state_dir: Path) -> list[tuple[Server, bool]]:
    return [(s, alive(s.pid)) for s in _load(state_dir.resolve())]


def stop_process(server: Server, timeout: float = 30) -> None:
    """SIGTERM the process group (a worker hands its job back and exits), SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(server.pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(server.pid, 0)


def down(state_dir: Path) -> None:
    state_dir = state_dir.resolve()
    servers = _load(state_dir)
    for server in servers:  # framedex processes first: they still talk to the servers while stopping
        if server.role in ("api", "worker"):
            stop_process(server)
    for server in servers:
        if server.role not in ("api", "worker"):
            stop(server)
    (state_dir / "servers.json").unlink(missing_ok=True)
    (state_dir / "cluster.json").unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "status", "down"):
        print("usage: python -m tests.local_cluster up|status|down STATE_DIR", file=sys.stderr)
        return 2
    command, state_dir = argv[0], Path(argv[1])
    if command == "up":
        cluster = up(state_dir)
        for url in cluster.api_urls:
            print(f"FRAMEDEX_URL={url}/v1.3")
        print(f"FRAMEDEX_API_KEY={cluster.api_key}")
    elif command == "status":
        for server, running in status(state_dir):
            print(f"{server.pid}\t{server.role}\t{'running' if running else 'dead'}\t{server.url or '-'}")
    else:
        down(state_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
