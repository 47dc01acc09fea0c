"""Settings of the HTTP API: the ``api:`` section of the one config tree (``conf/base.yaml``)."""

from __future__ import annotations

from jobs.core.runtime.config import ApiSettings, ConfigError, load_config

ApiSettingsError = ConfigError

__all__ = ["ApiSettings", "ApiSettingsError", "load_api_settings"]


def load_api_settings(env: str | None = None) -> ApiSettings:
    """The ``api`` section of environment ``env`` (default: ``LAKEHOUSE_ENV`` or local).

    Raises:
        ConfigError: a key is missing, unknown or of the wrong type (named in the message).
    """
    return load_config(env).api
