"""The container image, built and run with a real Docker engine: `make docker-test` (not part of `make test`).

tests/test_docker.py checks the Dockerfile without an engine; this file builds the image and runs it:

1. `docker build` passes (timed; the figures of what makes up the image are printed).
2. A container answers /ready within seconds and finds the seed document, runs as uid 10001, and Docker's
   health status becomes `healthy` (the probe interval shortened at `docker run`; the image's are checked).
3. A document written with the admin key is kept in a named volume: a second container on the same volume
   finds it. `docker stop` ends each container within the grace period, with exit code 0.

Containers and builds use `--network host` (this machine's daemon runs without a bridge). Before anything,
docker/test-setup.sh installs docker.io and debootstrap if they are missing, starts dockerd if `docker info`
fails, and, since official images cannot be pulled here, builds a stand-in for the Dockerfile's base image with
debootstrap (Debian bookworm's python3 3.11.2 under the name python:3.11.14-slim-bookworm). Containers and
volumes are removed at the end; the images are kept as the build cache.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "docker" / "test-setup.sh"
IMAGE = "searchsvc:docker-test"
SEED_ID = "000_453fa8f07bc740fc"
APP_UID = "10001"
STOP_GRACE = 20  # seconds `docker stop` waits before SIGKILL
READY_WITHIN = 30  # seconds from `docker run` to /ready answering 200
HEALTHY_WITHIN = 30  # seconds from /ready to a `healthy` status, with the probe run every 2 s
# The classic builder: Debian's docker.io has no BuildKit, and a newer docker CLI must not ask for it.
DOCKER_ENV = {**os.environ, "DOCKER_BUILDKIT": "0"}

pytestmark = pytest.mark.skipif(
    os.environ.get("SEARCHSVC_DOCKER_TEST") != "1",
    reason="builds and runs the image with a real Docker engine (minutes; root, docker.io and debootstrap): "
    "run `make docker-test`, or set SEARCHSVC_DOCKER_TEST=1",
)


def docker(
    *args: str, timeout: float = 120, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env or DOCKER_ENV)
    if check and result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        pytest.fail(f"docker {' '.join(args)}: exit {result.returncode}\n{output}")
    return result


@pytest.fixture(scope="module")
def engine() -> None:
    """A running daemon and the base image (a debootstrap stand-in here): docker/test-setup.sh says which."""
    try:
        setup = subprocess.run(["sh", str(SETUP)], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{SETUP.relative_to(ROOT)} took over 15 minutes")
    print(setup.stdout + setup.stderr, end="")
    if setup.returncode != 0:
        pytest.fail(
            f"{SETUP.relative_to(ROOT)} failed (exit {setup.returncode}); see above. It needs root to install "
            "docker.io and debootstrap (apt-get install -y docker.io debootstrap) and to start the daemon "
            "(dockerd --bridge=none --iptables=false --ip-masq=false > /tmp/dockerd.log 2>&1 &)"
        )
    info = docker("info", "--format", "{{.ServerVersion}}", check=False)
    if info.returncode != 0:
        pytest.fail(
            "docker info still fails after test-setup.sh. Start the daemon as root: "
            f"dockerd --bridge=none --iptables=false --ip-masq=false > /tmp/dockerd.log 2>&1 &\n{info.stderr}"
        )
    print(f"Docker engine {info.stdout.strip()}; containers and builds use --network host")


@pytest.fixture(scope="module")
def image(engine: None) -> Iterator[str]:
    started = time.monotonic()
    build = docker("build", "--network", "host", "-t", IMAGE, str(ROOT), timeout=1800, check=False)
    took = time.monotonic() - started
    output = build.stdout[-6000:] + build.stderr[-3000:]
    assert build.returncode == 0, f"docker build failed after {took:.1f} s:\n{output}"
    steps = len(re.findall(r"^Step \d+/\d+ :", build.stdout, re.M))
    cached = build.stdout.count("Using cache")
    print(f"docker build: {took:.1f} s ({cached} of {steps} steps from the build cache)")
    yield IMAGE


def test_image_builds_and_what_makes_it_up(image: str) -> None:
    (config,) = json.loads(docker("image", "inspect", image).stdout)
    print(f"image {image}: {config['Size'] / 1e6:.0f} MB ({config['Size']} bytes)")
    history = docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", image).stdout
    print("docker history (size, step):")
    for line in history.splitlines():
        size, _, step = line.partition("\t")
        print(f"  {size:>9}  {step[:110]}")
    du = docker(
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "du -sm /opt/venv/lib/python3*/site-packages/* | sort -n | tail -15; du -sm /opt/venv",
    ).stdout
    print("du -sm of /opt/venv's largest packages (MB):")
    print("".join(f"  {line}\n" for line in du.splitlines()), end="")

    # What the Dockerfile asks for, as the engine recorded it.
    assert config["Config"]["User"] == f"{APP_UID}:{APP_UID}"
    assert config["Config"]["Entrypoint"] == ["/usr/local/bin/searchsvc-entrypoint"]
    assert config["Config"]["Cmd"] == ["serve"]
    assert list(config["Config"]["Volumes"]) == ["/data"]
    health = config["Config"]["Healthcheck"]
    assert (health["Interval"], health["StartPeriod"]) == (30 * 10**9, 60 * 10**9), health


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(name: str) -> dict:
    return json.loads(docker("inspect", "--format", "{{json .State}}", name).stdout)


def _logs(name: str) -> str:
    result = docker("logs", name, check=False)
    return (result.stdout + result.stderr)[-4000:]


class Containers:
    """Containers and a named volume made for one test, removed at its end."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.tag = f"searchsvc-test-{os.getpid()}-{secrets.token_hex(3)}"
        self.volume = f"{self.tag}-data"
        self.names: list[str] = []
        self.admin_key = secrets.token_urlsafe(24)

    def run(self, suffix: str, port: int) -> tuple[str, float]:
        """Start one, on host networking and loopback only; return its name and seconds until /ready was 200."""
        name = f"{self.tag}-{suffix}"
        self.names.append(name)
        started = time.monotonic()
        docker(
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "host",
            "--volume",
            f"{self.volume}:/data",
            "--env",
            "SEARCHSVC_HOST=127.0.0.1",
            "--env",
            f"SEARCHSVC_PORT={port}",
            "--env",
            "SEARCHSVC_ADMIN_KEY",  # from this process's environment: not on the command line
            "--health-interval=2s",
            "--health-start-period=60s",
            "--health-timeout=5s",
            "--stop-timeout",
            str(STOP_GRACE),
            self.image,
            env={**DOCKER_ENV, "SEARCHSVC_ADMIN_KEY": self.admin_key},
        )
        base = f"http://127.0.0.1:{port}"
        last: object = None
        while time.monotonic() - started < READY_WITHIN:
            state = _state(name)
            if not state["Running"]:
                pytest.fail(f"{name} exited with {state['ExitCode']} before /ready:\n{_logs(name)}")
            try:
                response = requests.get(f"{base}/ready", timeout=2)
                if response.status_code == 200:
                    return name, time.monotonic() - started
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.1)
        pytest.fail(f"{name}: /ready did not answer 200 within {READY_WITHIN} s (last: {last}):\n{_logs(name)}")

    def stop(self, name: str) -> float:
        started = time.monotonic()
        docker("stop", "--time", str(STOP_GRACE), name, timeout=STOP_GRACE + 30)
        took = time.monotonic() - started
        state = _state(name)
        assert took < STOP_GRACE, f"docker stop took {took:.1f} s: the server ignored SIGTERM\n{_logs(name)}"
        assert (state["ExitCode"], state["OOMKilled"]) == (0, False), (state, _logs(name))
        # Where the time went: gunicorn's own log lines, as Docker timestamped them.
        stamped = docker("logs", "--timestamps", name).stdout + docker("logs", "--timestamps", name).stderr
        for line in stamped.splitlines():
            if re.search(r"Handling signal|Shutting down|Worker exiting|Booting worker", line):
                print(f"    {line[11:26]} {line.split('] ', 2)[-1]}")
        return took

    def remove(self) -> None:
        for name in self.names:
            docker("rm", "--force", "--volumes", name, check=False)
        docker("volume", "rm", "--force", self.volume, check=False)


@pytest.fixture
def containers(image: str) -> Iterator[Containers]:
    c = Containers(image)
    try:
        yield c
    finally:
        c.remove()


def _ids(search: requests.Response) -> list[str]:
    assert search.status_code == 200, search.text
    return [hit["id"] for hit in search.json()["hits"]]


def test_serves_as_uid_10001_gets_healthy_keeps_writes_in_the_volume_and_stops_cleanly(
    containers: Containers,
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    first, ready = containers.run("first", port)
    print(f"docker run -> /ready 200: {ready:.2f} s (new volume: the image's seed index is copied into it)")

    assert _ids(requests.get(f"{base}/search", params={"q": "Lavrov"}, timeout=10)) == [SEED_ID]

    # PID 1 is the server (the entry point exec'd it), and runs as the image's user.
    assert docker("exec", first, "id", "-u").stdout.strip() == APP_UID
    status = docker("exec", first, "cat", "/proc/1/status").stdout
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M)
    assert uids and set(uids.group(1).split()) == {APP_UID}, status
    cmdline = docker("exec", first, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    assert "gunicorn" in cmdline or "searchsvc" in cmdline, cmdline

    # Docker's own probe (the image's HEALTHCHECK command, run every 2 s here instead of 30 s).
    waited = time.monotonic()
    deadline = waited + HEALTHY_WITHIN
    health = _state(first)["Health"]
    while health["Status"] != "healthy" and time.monotonic() < deadline:
        assert health["Status"] == "starting", health
        time.sleep(0.5)
        health = _state(first)["Health"]
    assert health["Status"] == "healthy", health
    print(f"health: healthy {time.monotonic() - waited:.2f} s after /ready (probe every 2 s here, 30 s in the image)")

    # A write with the admin key, applied before the answer (?wait=true).
    document = {
        "title": "Quokka census",
        "body": "Rangers on Rottnest Island counted the quokkas again on Monday, the park authority said.",
        "published": "2021-03-19",
    }
    headers = {"Authorization": f"Bearer {containers.admin_key}"}
    assert requests.put(f"{base}/documents/ct-1", json=document, timeout=10).status_code == 401
    write = requests.put(f"{base}/documents/ct-1", params={"wait": "true"}, json=document, headers=headers, timeout=30)
    assert write.status_code == 200, write.text
    assert write.json()["task"]["status"] == "succeeded", write.text
    assert _ids(requests.get(f"{base}/search", params={"q": "quokka"}, timeout=10)) == ["ct-1"]

    stopped = containers.stop(first)
    print(f"docker stop: {stopped:.2f} s, exit code 0")

    # A second container on the same volume: the write is there, and the seed is still indexed once.
    second, ready = containers.run("second", port)
    print(f"docker run -> /ready 200: {ready:.2f} s (existing volume)")
    assert _ids(requests.get(f"{base}/search", params={"q": "quokka"}, timeout=10)) == ["ct-1"]
    stored = requests.get(f"{base}/documents/ct-1", timeout=10)
    assert stored.status_code == 200 and stored.json()["title"] == "Quokka census", stored.text
    assert _ids(requests.get(f"{base}/search", params={"q": "Lavrov"}, timeout=10)) == [SEED_ID]
    assert requests.get(f"{base}/stats", timeout=10).json()["documents"] == 2
    stopped = containers.stop(second)
    print(f"docker stop: {stopped:.2f} s, exit code 0")
    logs = _logs(second)
    assert not re.search(r"\[ERROR\]|\[CRITICAL\]|Traceback", logs), logs
