# searchsvc container image: the search API (gunicorn) with a ready-built index of seeds/.
#
#   docker build -t searchsvc .
#   docker run --rm -p 8000:8000 searchsvc
#
# Both stages use the official Python slim image on Debian 12 (bookworm), pinned to its full version tag so a
# rebuild gets the same interpreter as requirements.lock was resolved for (3.11). It is not pinned by digest
# (python:3.11.14-slim-bookworm@sha256:...) because the digest cannot be looked up on the offline machines
# this project is developed on; add it where a registry is reachable, and bump tag and digest together. There,
# `make docker-test` builds a stand-in under this tag with debootstrap (docker/test-setup.sh): Debian's python3.

# ---- deps: a virtualenv at /opt/venv holding exactly the hashed lock ------------------------------------
FROM python:3.11.14-slim-bookworm AS deps

# No bytecode suppression here: pip compiles the installed modules so that the read-only runtime starts fast.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# Installed as the Makefile installs (its venv recipe): the interpreter's bundled pip only installs the pinned,
# hashed pip of requirements-pip.lock; that pip installs exactly the files requirements.lock names (--no-deps:
# nothing is resolved, so no later release can be picked; only wheels: this stage has no compiler, and needs
# none), and `pip check` proves the set complete. This stage sees only the locks, so its result (and the
# runtime's copy of it) is reused from the cache while only the code changes.
COPY requirements-pip.lock requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements-pip.lock \
    && pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: -r requirements.lock \
    && pip check

# ---- build: the package as a wheel, built with the setuptools pinned in the lock (no isolation, no downloads)
FROM deps AS build
COPY pyproject.toml README.md ./
COPY searchsvc ./searchsvc
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

# ---- runtime: the virtualenv, the seeds and the entry point; no pip cache, no sources, no build tools -----
FROM python:3.11.14-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="searchsvc" \
      org.opencontainers.image.description="Entity- and date-aware search for news articles: Whoosh index behind a Flask JSON API." \
      org.opencontainers.image.licenses="MIT"

# Configuration is only SEARCHSVC_* variables (see the README's configuration table); these are the
# container's defaults. Secrets such as SEARCHSVC_ADMIN_KEY are passed at run time (-e), never baked in.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    SEARCHSVC_HOST=0.0.0.0 \
    SEARCHSVC_PORT=8000 \
    SEARCHSVC_INDEX_DIR=/data/index \
    SEARCHSVC_SOURCES=/app/seeds

# A fixed, unprivileged uid/gid, so a host directory mounted at /data can be chowned to it (10001:10001).
RUN groupadd --system --gid 10001 searchsvc \
    && useradd --system --no-log-init --uid 10001 --gid searchsvc \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin searchsvc \
    && install -d -o searchsvc -g searchsvc -m 0755 /data /data/index

# The dependencies' layer first (unchanged by a code change: a cached copy of the deps stage), then the package's
# own small wheel on top of it, installed offline by the venv's pinned pip.
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /wheels /tmp/wheels
RUN PIP_DISABLE_PIP_VERSION_CHECK=1 pip install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl \
    && pip check \
    && rm -rf /tmp/wheels

WORKDIR /app
COPY seeds ./seeds
# Mode 0755 comes from git (a plain COPY keeps it): the classic builder, which Debian's docker.io uses, has no
# COPY --chmod.
COPY docker/entrypoint.sh /usr/local/bin/searchsvc-entrypoint

USER 10001:10001

# The seed index is built now, so the first start only finds the seeds unchanged. This must come before
# VOLUME: a volume's contents are frozen at that instruction, and a new named volume starts as a copy of them.
RUN searchsvc index --workers 1

# The index and the service's task data live here: mount a named volume to keep them across containers.
VOLUME /data
EXPOSE 8000

# No curl in the image: the interpreter asks /health itself (exit 1, i.e. unhealthy, on any error or non-2xx).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('SEARCHSVC_PORT', '8000'), timeout=4)"]

# `serve` (the default) brings /data's index up to date with SEARCHSVC_SOURCES, then execs the server, which
# so runs as PID 1 and gets docker stop's SIGTERM; any other command (`searchsvc index /docs`) runs as given.
ENTRYPOINT ["/usr/local/bin/searchsvc-entrypoint"]
CMD ["serve"]
