"""Real gunicorn for the tests that talk HTTP: started on a free port over a given index, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
REFRESH_INTERVAL = 0.2  # the servers' SEARCHSVC_REFRESH_INTERVAL


def wait_for_refresh(since: float, interval: float = REFRESH_INTERVAL) -> None:
    """Sleep until every worker has looked for a newer commit after `since` (a time.time()): each looks at most
    refresh_interval after its last look, so from then on every worker answers from the index as it was then.
    Fresh answers in a row do not show it: they may all come from the workers that were not busy writing."""
    time.sleep(max(0.0, since + interval + 0.1 - time.time()))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, base: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base = base
        self.process = process
        self.log = log

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.base + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@contextmanager
def run_gunicorn(index_dir: Path, log: Path, workers: int = 2, **settings: str) -> Iterator[Server]:
    """gunicorn with searchsvc/gunicorn_conf.py, as `searchsvc serve` starts it; `settings` are SEARCHSVC_* values."""
    port = free_port()
    env = {
        **os.environ,
        "SEARCHSVC_INDEX_DIR": str(index_dir),
        "SEARCHSVC_HOST": "127.0.0.1",
        "SEARCHSVC_PORT": str(port),
        "SEARCHSVC_WORKERS": str(workers),
        "SEARCHSVC_REFRESH_INTERVAL": str(REFRESH_INTERVAL),
        "SEARCHSVC_SEARCH_KEY": "",
        "PYTHONPATH": str(ROOT),
        **{f"SEARCHSVC_{k.upper()}": v for k, v in settings.items()},
    }
    conf = str(ROOT / "searchsvc" / "gunicorn_conf.py")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", conf, "searchsvc.wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_tail()}")
            try:
                if server.get("/health").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /health:\n{server.log_tail()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def worker_pids(master: int) -> set[int]:
    """Live (not zombie) children of gunicorn's master: its workers."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        state, ppid = stat[stat.rfind(")") + 2 :].split()[:2]  # the name in parentheses may hold spaces
        if int(ppid) == master and state != "Z":
            found.add(int(entry))
    return found


def _dead(pid: int) -> bool:
    """Gone, or a zombie: a zombie holds no file, lock or socket any more; only its exit status waits for init."""
    try:
        stat = Path("/proc", str(pid), "stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :].split()[0] == "Z"


def wait_until_dead(pids: set[int], timeout: float = 60) -> None:
    """Wait (a generous deadline, for a loaded machine) until every process in `pids` has exited."""
    deadline = time.monotonic() + timeout
    while not all(_dead(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {sorted(p for p in pids if not _dead(p))}"
        time.sleep(0.02)
