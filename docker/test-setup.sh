#!/bin/sh
# Prepares this machine for the container test (`make docker-test`, tests/test_container.py). Each step is
# skipped when it is already done, so running it again costs a few `docker` calls.
#
#   1. docker.io and debootstrap, from Debian's archive (installed only when missing; needs root).
#   2. A Docker daemon: started in the background when `docker info` fails, with no bridge network and no
#      iptables rules (containers and builds then use `--network host`). Its log: $DOCKERD_LOG.
#   3. The Dockerfile's base image. Official images cannot be pulled on the machines this project is developed
#      on (no registry but PyPI, Debian's and npm's is reachable), so when the tag is missing a stand-in is made
#      under the same name: Debian bookworm by debootstrap, with Debian's python3 (3.11.2), python3-venv and
#      ca-certificates, and `python` on PATH as the official image has it. It is tagged with the official
#      name so the Dockerfile stays unchanged, and labelled searchsvc.stand-in=debootstrap so it is told apart.
#
# Environment: BASE_IMAGE (default: the Dockerfile's first FROM), DEBIAN_MIRROR (default: the first Debian
# mirror apt uses here), DOCKERD_LOG (default /tmp/dockerd.log).
set -eu

cd "$(dirname "$0")/.."
BASE_IMAGE=${BASE_IMAGE:-$(awk 'toupper($1) == "FROM" { print $2; exit }' Dockerfile)}
DOCKERD_LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
say() { echo "test-setup: $*"; }

# -- 1. packages ---------------------------------------------------------------------------------------------
missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        say "missing:$missing. Install as root: apt-get update && apt-get install -y$missing" >&2
        exit 2
    fi
    say "installing$missing with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

# -- 2. the daemon -------------------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        say "the Docker daemon is not running; start it as root:" \
            "dockerd --bridge=none --iptables=false --ip-masq=false > $DOCKERD_LOG 2>&1 &" >&2
        exit 2
    fi
    say "starting dockerd (no bridge, no iptables: containers run with --network host); log: $DOCKERD_LOG"
    setsid dockerd --bridge=none --iptables=false --ip-masq=false >"$DOCKERD_LOG" 2>&1 </dev/null &
    tries=0
    until docker info >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 60 ]; then
            say "dockerd did not come up in 30 s; the end of $DOCKERD_LOG:" >&2
            tail -20 "$DOCKERD_LOG" >&2
            exit 2
        fi
        sleep 0.5
    done
fi

# -- 3. the base image ---------------------------------------------------------------------------------------
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    kind=$(docker image inspect --format '{{ index .Config.Labels "searchsvc.stand-in" }}' "$BASE_IMAGE")
    if [ "$kind" = debootstrap ]; then
        say "base image $BASE_IMAGE: the stand-in built with debootstrap by an earlier run (official images" \
            "cannot be pulled here), reused"
    else
        say "base image $BASE_IMAGE: present, not a stand-in (pulled or loaded), used as is"
    fi
    exit 0
fi

if [ -z "${DEBIAN_MIRROR-}" ]; then
    # The first Debian archive (not -security, not a third-party repository) in apt's sources, either format.
    DEBIAN_MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -1 | tr -d ' ')
fi
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
say "base image $BASE_IMAGE cannot be pulled here (no Docker registry is reachable): building a stand-in" \
    "with debootstrap from $DEBIAN_MIRROR -- Debian bookworm with its python3 (3.11.2, not 3.11.14)," \
    "python3-venv and ca-certificates, and a python -> python3 link in /usr/local/bin as the official image has"
root=$(mktemp -d /var/tmp/searchsvc-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$DEBIAN_MIRROR" \
    >"$root.log" 2>&1 || { tail -30 "$root.log" >&2; rm -f "$root.log"; exit 2; }
rm -f "$root.log"
ln -s /usr/bin/python3 "$root/usr/local/bin/python"
# The stand-in trusts what this machine trusts: a CA this machine adds to Debian's (an egress proxy's, say,
# without which pip cannot reach PyPI from the build) goes to the stand-in's /usr/local/share/ca-certificates.
python3 - "$root" <<'PY'
import re, sys
from pathlib import Path
pem = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
bundle = "etc/ssl/certs/ca-certificates.crt"
own = set(pem.findall((Path(sys.argv[1]) / bundle).read_text()))
extra = [c for c in pem.findall(Path("/" + bundle).read_text()) if c not in own]
for n, cert in enumerate(extra, 1):
    (Path(sys.argv[1]) / f"usr/local/share/ca-certificates/host-{n}.crt").write_text(cert + "\n")
print(f"test-setup: the stand-in gets {len(extra)} CA certificate(s) this machine trusts beyond Debian's")
PY
chroot "$root" update-ca-certificates >/dev/null 2>&1 || { say "update-ca-certificates failed in the stand-in" >&2; exit 2; }
# What the official slim images leave out too: package lists and downloaded .debs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL searchsvc.stand-in=debootstrap' \
    --change 'CMD ["python3"]' \
    --message "stand-in for $BASE_IMAGE: debootstrap --variant=minbase bookworm $DEBIAN_MIRROR" \
    - "$BASE_IMAGE" >/dev/null
say "base image $BASE_IMAGE: stand-in imported ($(chroot "$root" python --version 2>&1))"
