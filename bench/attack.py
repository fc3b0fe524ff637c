"""Attack replay: the security review's reproducers (../shared/reviews/security.md) and more, against a fresh
`framedex serve` on loopback.

    PYTHONPATH=src HF_HUB_OFFLINE=1 .venv/bin/python bench/attack.py [--quick]

Starts the server as a subprocess on a temp data dir, then replays crafted media, oversized and malformed
bodies, deep JSON, NaN, rebinding-style URLs, a slow-drip URL server, slowloris sockets and a request flood.
Each case must end in a 4xx in the `{"code","message"}` envelope, or in a task that failed with a reason.
Afterwards a normal request must be answered within 5 s. Prints a Markdown table, the server's RSS before,
at peak and after, and exits 1 if any case failed.

The slow-drip server listens on 127.0.0.2, which a `sitecustomize` inside the server treats as a public
address (private addresses stay refused), so the drip reaches the download code as a public host would.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the media generators live in tests/

SITECUSTOMIZE = '''
import framedex.ingest.fetch as _fetch, framedex.ingest.safe_http as _safe
_real = _safe.is_public_address
def _public(text):  # the attack's stand-in for a public host
    return text == "127.0.0.2" or _real(text)
_safe.is_public_address = _fetch.is_public_address = _public
'''


@dataclass
class Result:
    case: str
    expected: str
    outcome: str
    seconds: float
    ok: bool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of the server, KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


@contextmanager
def drip_server() -> Iterator[int]:
    """Answers 200 with a 100 MB Content-Length, then one byte every 2 s (review #8)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.2", 0))
    listener.listen()
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 100000000\r\n\r\n")
                while not stop.is_set():
                    conn.sendall(b"\0")
                    stop.wait(2)
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()


def make_media(tmp: Path) -> dict[str, Path]:
    from tests.ingest.test_hostile_media import bilevel_png, lying_audio, video_with_stamps

    hours5 = 5 * 3600 * 1000
    media = {
        "bigpts.mkv (first frame at 1e12 s)": video_with_stamps(tmp / "bigpts.mkv",
                                                                [10**15 + i * 1000 for i in range(5)]),
        "leap.mkv (hours-long pts leap)": video_with_stamps(tmp / "leap.mkv", [0, 1000, hours5, hours5 + 1000]),
        "backwards.mkv (non-monotonic pts)": video_with_stamps(tmp / "back.mkv",
                                                               [0, 1000, 2000, 500, 3000, 4000, 5000, 6000]),
        "lying.mkv (1 h audio, 10 s header)": lying_audio(tmp / "lying.mkv", 3600, with_video=True),
    }
    (tmp / "random.mp4").write_bytes(os.urandom(100_000))
    media["random bytes as .mp4"] = tmp / "random.mp4"
    (tmp / "empty.mp4").write_bytes(b"")
    media["empty file"] = tmp / "empty.mp4"
    (tmp / "bomb.png").write_bytes(bilevel_png(20000, 20000))
    media["400 MP PNG as a video"] = tmp / "bomb.png"
    return media


def envelope(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return f"{r.status_code} (not JSON)"
    if not isinstance(body, dict) or not {"code", "message"} <= set(body):
        return f"{r.status_code} (no envelope)"
    return f"{r.status_code} {body['code']}"


def is_4xx(r: httpx.Response) -> bool:
    try:
        body = r.json()
    except ValueError:
        return False
    return 400 <= r.status_code < 500 and isinstance(body, dict) and {"code", "message"} <= set(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the slow-drip and slowloris cases")
    parser.add_argument("--slowloris", type=int, default=400, help="half-open connections")
    parser.add_argument("--flood", type=int, default=600, help="requests in the flood")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="framedex-attack-"))
    data, site = tmp / "data", tmp / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "src")]), "HF_HUB_OFFLINE": "1",
           "FRAMEDEX_URL_DOWNLOAD_DEADLINE_SECONDS": "20", "FRAMEDEX_URL_DOWNLOAD_TIMEOUT_SECONDS": "10"}
    exe = [sys.executable, "-m", "framedex.cli.main"]
    key = subprocess.run([*exe, "keys", "create", "--name", "attacker", "--data-dir", str(data)], env=env,
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    port = free_port()
    log = (tmp / "server.log").open("wb")
    server = subprocess.Popen([*exe, "serve", "--data-dir", str(data), "--port", str(port), "--workers", "1",
                               "--no-playground", "--log-level", "warning"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}/v1.3"
    headers = {"x-api-key": key}
    c = httpx.Client(base_url=base, headers=headers, timeout=60)
    results: list[Result] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start; see {tmp / 'server.log'}")
            time.sleep(0.5)
        rss_before = rss_kib(server.pid)[0]

        def case(name: str, expected: str, run: Callable[[], tuple[str, bool]]) -> None:
            started = time.monotonic()
            try:
                outcome, ok = run()
            except Exception as exc:  # a transport failure is a failed case, not a crash of the script
                outcome, ok = f"{type(exc).__name__}: {exc}"[:120], False
            results.append(Result(name, expected, outcome, time.monotonic() - started, ok))
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {outcome}", flush=True)

        def req(method: str, path: str, **kw: Any) -> Callable[[], tuple[str, bool]]:
            def run() -> tuple[str, bool]:
                r = c.request(method, path, **kw)
                return envelope(r), is_4xx(r)
            return run

        index = c.post("/indexes", json={"index_name": "attack", "models": [
            {"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]}).json()["_id"]

        # --- bodies (#3, #7, #9, #10, #11) ---------------------------------------------------------------
        def keyless_big() -> tuple[str, bool]:
            def chunks() -> Iterator[bytes]:
                for _ in range(256):
                    yield b" " * (1 << 20)
            r = httpx.post(f"{base}/indexes", content=chunks(), headers={"content-type": "application/json"},
                           timeout=60)
            return envelope(r), is_4xx(r)

        case("keyless 256 MiB streamed JSON body", "401 before the body", keyless_big)
        case("64 MiB JSON body with a key", "413", req("POST", "/indexes", content=b"{" + b" " * (64 << 20) + b"}",
                                                         headers={"content-type": "application/json"}))
        case("malformed JSON", "400", req("POST", "/indexes", content=b'{"index_name": ',
                                           headers={"content-type": "application/json"}))
        deep = "[" * 100_000 + "]" * 100_000
        case("100,000-deep JSON filter", "400", req("POST", "/search", data={
            "index_id": index, "query_text": "x", "search_options": "visual", "filter": deep}))
        case("NaN in JSON", "400", req("POST", "/indexes", content=b'{"index_name": NaN, "models": []}',
                                        headers={"content-type": "application/json"}))
        case("page_limit=Infinity", "400", req("GET", "/indexes", params={"page_limit": "Infinity"}))
        case("page=10^20", "400", req("GET", "/indexes", params={"page": str(10**20)}))
        case("audio_start_offset_sec=nan", "400", req("POST", "/embed", data={
            "model_name": "marengo3.0", "audio_url": "http://example.com/a.wav", "audio_start_offset_sec": "nan"}))
        case("query_media_url x100", "400 before downloading", req("POST", "/search", data={
            "index_id": index, "search_options": "visual", "query_media_type": "image",
            "query_media_url": [f"http://127.0.0.2:1/{i}.png" for i in range(100)]}))
        case("response_format minLength 3e8", "400", req("POST", "/analyze", json={
            "video_id": "0123456789abcdef01234567", "prompt": "x", "response_format": {
                "type": "json_schema", "json_schema": {"type": "string", "minLength": 300_000_000}}}))
        case("20 MB user_metadata", "413/400", req("PUT", f"/indexes/{index}/videos/0123456789abcdef01234567",
                                                   json={"user_metadata": {"k": "x" * (20 << 20)}}))

        # --- URLs (#5, #11, #17) ---------------------------------------------------------------------------
        for label, url in [("port 99999", "http://example.com:99999/a.mp4"),
                           ("64-char host label", f"http://{'a' * 64}.example.com/a.mp4"),
                           ("localhost (a name resolving to loopback)", f"http://localhost:{port}/v1.3/indexes"),
                           ("IPv4-mapped IPv6 loopback", f"http://[::ffff:127.0.0.1]:{port}/"),
                           ("NAT64 loopback 64:ff9b::7f00:1", f"http://[64:ff9b::7f00:1]:{port}/"),
                           ("decimal IP 2130706433", f"http://2130706433:{port}/"),
                           ("file:// scheme", "file:///etc/passwd")]:
            case(f"URL upload: {label}", "400", req("POST", "/tasks", data={"index_id": index, "video_url": url}))

        # --- crafted media (#1, #2, #14) -------------------------------------------------------------------
        media = make_media(tmp)
        tasks: dict[str, str] = {}
        for name, path in media.items():
            with path.open("rb") as f:
                r = c.post("/tasks", data={"index_id": index}, files={"video_file": (path.name, f, "video/mp4")})
            if r.status_code < 300:
                tasks[name] = r.json()["_id"]
            else:
                results.append(Result(f"upload {name}", "4xx or failed task", envelope(r), 0, is_4xx(r)))
        with media["400 MP PNG as a video"].open("rb") as f:
            r = c.post("/search", data={"index_id": index, "search_options": "visual", "query_media_type": "image"},
                       files={"query_media_file": ("bomb.png", f, "image/png")})
        results.append(Result("400 MP PNG as a search image", "400", envelope(r), 0, is_4xx(r)))

        # --- slow drip (#8) --------------------------------------------------------------------------------
        drip_task: str | None = None
        drip_ctx = drip_server() if not args.quick else None
        if drip_ctx is not None:
            drip_port = drip_ctx.__enter__()
            r = c.post("/tasks", data={"index_id": index, "video_url": f"http://127.0.0.2:{drip_port}/slow.mp4"})
            drip_task = r.json().get("_id") if r.status_code < 300 else None
            if drip_task is None:
                results.append(Result("slow-drip URL upload", "failed task", envelope(r), 0, is_4xx(r)))

        # --- slowloris (#15) while the tasks run -------------------------------------------------------------
        if not args.quick:
            def slowloris() -> tuple[str, bool]:
                socks: list[socket.socket] = []
                for _ in range(args.slowloris):
                    try:
                        s = socket.create_connection(("127.0.0.1", port), timeout=2)
                        s.sendall(b"GET /v1.3/indexes HTTP/1.1\r\nHost: x\r\n")
                        socks.append(s)
                    except OSError:
                        break
                time.sleep(1)
                t = time.monotonic()
                r = httpx.get(f"{base}/indexes", headers=headers, timeout=10)
                served = time.monotonic() - t
                for s in socks:
                    s.close()
                return f"{len(socks)} half-open; GET /indexes {r.status_code} in {served:.2f} s", \
                    r.status_code == 200 and served < 5
            case(f"slowloris ({args.slowloris} sockets)", "others served < 5 s", slowloris)

        # --- flood --------------------------------------------------------------------------------------------
        def flood() -> tuple[str, bool]:
            with httpx.Client(base_url=base, headers=headers, timeout=30,
                              limits=httpx.Limits(max_connections=64)) as fc, ThreadPoolExecutor(64) as pool:
                codes = list(pool.map(lambda _: fc.get("/indexes").status_code, range(args.flood)))
            counts = {k: codes.count(k) for k in sorted(set(codes))}
            return f"{counts}", all(code in (200, 429) for code in codes)
        case(f"flood: {args.flood} GET /indexes, 64 at a time", "200 or 429", flood)

        # --- wait for the crafted media and the drip to end ----------------------------------------------------
        if drip_task is not None:
            tasks["slow-drip URL (1 B / 2 s)"] = drip_task
        waited = time.monotonic()
        for name, task_id in tasks.items():
            while True:
                t = c.get(f"/tasks/{task_id}").json()
                if t.get("status") in ("ready", "failed") or time.monotonic() - waited > 300:
                    break
                time.sleep(1)
            reason = json.dumps(t.get("error") or t.get("failure_reason") or t.get("message") or "")[:90]
            ok = t.get("status") == "failed" and reason not in ('""', "null")
            # A real short video, and a real 1 h one behind a 10 s header (under the 2 h limit): ending is
            # what matters, ready (at the real length) or failed; memory is checked by the RSS line.
            if name.startswith(("backwards", "lying")):
                ok = t.get("status") in ("ready", "failed")
            results.append(Result(f"task: {name}", "failed with a reason", f"{t.get('status')} {reason}",
                                  time.monotonic() - waited, ok))
        if drip_ctx is not None:
            drip_ctx.__exit__(None, None, None)

        # --- afterwards ----------------------------------------------------------------------------------------
        t0 = time.monotonic()
        r = httpx.get(f"{base}/indexes", headers=headers, timeout=5)
        after = time.monotonic() - t0
        results.append(Result("normal request afterwards", "200 within 5 s", f"{r.status_code} in {after:.2f} s",
                              after, r.status_code == 200 and after < 5))
        banner = r.headers.get("server")
        results.append(Result("no Server banner", "absent", banner or "absent", 0, banner is None))
        rss_after, rss_peak = rss_kib(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    print("\n| case | expected | outcome | s | ok |\n|---|---|---|---|---|")
    for res in results:
        print(f"| {res.case} | {res.expected} | {res.outcome.replace('|', '/')} | {res.seconds:.1f} | "
              f"{'yes' if res.ok else '**no**'} |")
    print(f"\nserver RSS: before {rss_before / 1024:.0f} MiB, peak {rss_peak / 1024:.0f} MiB, "
          f"after {rss_after / 1024:.0f} MiB; {sum(r.ok for r in results)}/{len(results)} cases ok")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
