"""The application factory: settings (defaults, then SEARCHSVC_* environment, then `config`) -> a Flask app.

The index is opened lazily, on the first request that needs it, so the app starts (and /health answers) before
an index exists; /ready reports 503 until one can be read.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask

from searchsvc.api import pages
from searchsvc.api import read_routes as api
from searchsvc.api import write_routes as api_writes
from searchsvc.config import load_settings
from searchsvc.search.service import SearchService


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` holds setting overrides by name (what tests pass), e.g. {"index_dir": ...}."""
    settings = load_settings(config)
    app = Flask("searchsvc")
    # Document ids are opaque: "a//b" is an id, not a path to normalise with an HTML 308 redirect.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider's, not the base's
    _configure_logging(settings.log_level)
    service = SearchService(settings)
    api.register(app, settings, service)
    api_writes.register(app, settings, service)  # also starts this process's task writer
    pages.register(app, settings, service)
    return app


def _configure_logging(level: str) -> None:
    """Log to stderr (gunicorn's error log) unless the host application already configured the logger."""
    log = logging.getLogger("searchsvc")
    log.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else logging.INFO)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"))
        log.addHandler(handler)
