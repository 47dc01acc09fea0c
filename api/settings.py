"""Settings of the HTTP API: ``conf/api.yaml`` into one frozen dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from jobs.core.config import conf_dir


class ApiSettingsError(ValueError):
    """conf/api.yaml is missing, or a value is absent or of the wrong type."""


@dataclass(frozen=True)
class ApiSettings:
    """The ``api`` section of ``conf/api.yaml`` (see the comments there).

    ``jwt_secret`` is resolved at load: the environment variable named by
    ``jwt_secret_env`` when set, else ``dev_secret``.
    """

    jwt_secret_env: str
    dev_secret: str
    jwt_issuer: str
    token_ttl_minutes: int
    rate_limit_per_token: str
    rate_limit_per_ip: str
    snapshot_refresh_sec: float
    page_size_default: int
    page_size_max: int
    text_max_chars: int
    companions_max: int
    unknown_country_code: str
    events_page_max: int
    index_max_rows: int

    @property
    def jwt_secret(self) -> str:
        return os.environ.get(self.jwt_secret_env) or self.dev_secret


def load_api_settings(path: Path | None = None) -> ApiSettings:
    """Read ``conf/api.yaml`` (or ``path``).

    Raises:
        ApiSettingsError: the file or a key is missing, or a value has the wrong type.
    """
    path = path or conf_dir() / "api.yaml"
    try:
        raw = (yaml.safe_load(path.read_text()) or {}).get("api") or {}
    except OSError as exc:
        raise ApiSettingsError(f"cannot read {path}: {exc}") from exc
    values = {}
    for f in fields(ApiSettings):
        if f.name not in raw:
            raise ApiSettingsError(f"{path}: api.{f.name} is missing")
        kind = {"int": int, "float": float, "str": str}[str(f.type)]
        try:
            values[f.name] = kind(raw[f.name])
        except (TypeError, ValueError):
            raise ApiSettingsError(f"{path}: api.{f.name} must be {f.type}") from None
    return ApiSettings(**values)
