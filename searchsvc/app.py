"""The application factory: settings (defaults, then SEARCHSVC_* environment, then `config`) -> a Flask app.

The index is opened lazily, on the first request that needs it, so the app starts (and /health answers) before
an index exists; /ready reports 503 until one can be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from searchsvc.allocator import tune_allocator
from searchsvc.api import pages
from searchsvc.api import read_routes as api
from searchsvc.api import write_routes as api_writes
from searchsvc.api.bodies import BodyFramingMiddleware
from searchsvc.api.request_ids import RequestIdMiddleware
from searchsvc.config import load_settings
from searchsvc.logs import configure_logging
from searchsvc.monitoring import Metrics
from searchsvc.search.service import SearchService


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` holds setting overrides by name (what tests pass), e.g. {"index_dir": ...}."""
    settings = load_settings(config)
    tune_allocator()  # the kernel's per-query arrays, on the worker's threads (allocator.py)
    app = Flask("searchsvc")
    # Document ids are opaque: "a//b" is an id, not a path to normalise with an HTML 308 redirect.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider's, not the base's
    configure_logging(settings.log_level, settings.log_format, (settings.admin_key, settings.search_key))
    metrics = Metrics(settings)
    service = SearchService(settings, recorder=metrics)
    api.register(app, settings, service, metrics)
    api_writes.register(app, settings, service, metrics)  # also starts this process's task writer
    app.wsgi_app = RequestIdMiddleware(BodyFramingMiddleware(app.wsgi_app), settings.log_queries)  # type: ignore[method-assign]
    pages.register(app, settings, service)
    return app
