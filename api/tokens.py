"""Access tokens: HS256 JWTs for one profile, signed with the secret of ``the api: section of conf/base.yaml``.

Claims: ``sub`` (the profile_id, as text), ``role`` (``profile`` or ``admin``), ``iss``,
``iat``, ``exp`` and ``jti``. A profile token reads and writes only that profile's
data; an admin token may act for any profile and run erasure.

Usage::

    python -m api.tokens --profile 123456789               # one hour (token_ttl_minutes)
    python -m api.tokens --profile 0 --admin --ttl-minutes 10

A token lives at most ``api.token_max_ttl_minutes`` (admin: ``admin_token_max_ttl_minutes``):
``issue`` refuses a longer one and :func:`verify` rejects one whose ``exp - iat`` is longer
(``exp`` and ``iat`` are required). Outside ``api.dev_secret_envs`` the secret must come
from ``$VIEWING_API_SECRET`` (``api.jwt_secret_env``), at least 32 bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from dataclasses import dataclass

import jwt

from api.settings import ApiSettings, ApiSettingsError, load_api_settings

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""

    profile_id: int
    admin: bool
    token_id: str

    def may_act_for(self, profile_id: int) -> bool:
        """A profile acts only for itself; an admin for anyone."""
        return self.admin or self.profile_id == profile_id


class InvalidTokenError(ValueError):
    """The token is missing, malformed, badly signed, expired or lacks a claim."""


def issue(
    settings: ApiSettings,
    profile_id: int,
    admin: bool = False,
    ttl_minutes: int | None = None,
    now: dt.datetime | None = None,
) -> str:
    """A signed token for ``profile_id`` valid ``ttl_minutes`` (default from settings).

    Raises:
        ValueError: ``ttl_minutes`` is below 1 or above the role's maximum
            (``api.token_max_ttl_minutes``, ``api.admin_token_max_ttl_minutes``).
        ConfigError: no usable signing secret (see ``ApiSettings.jwt_secret``).
    """
    now = now or dt.datetime.now(dt.UTC)
    minutes = settings.token_ttl_minutes if ttl_minutes is None else ttl_minutes
    cap = max_ttl_minutes(settings, admin)
    if ttl_minutes is None:
        minutes = min(minutes, cap)
    if not 1 <= minutes <= cap:
        role = "admin" if admin else "profile"
        raise ValueError(f"--ttl-minutes {minutes}: a {role} token lives 1 to {cap} minutes")
    ttl = dt.timedelta(minutes=minutes)
    claims = {
        "sub": str(profile_id),
        "role": "admin" if admin else "profile",
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def max_ttl_minutes(settings: ApiSettings, admin: bool) -> int:
    """The longest lifetime (``exp - iat``, minutes) a token of this role may have."""
    return settings.admin_token_max_ttl_minutes if admin else settings.token_max_ttl_minutes


_VERIFIED: dict[tuple[str, str], tuple[Principal, float]] = {}
_VERIFIED_MAX = 10_000


def verify(settings: ApiSettings, token: str) -> Principal:
    """The principal of a valid token (a verified token is remembered until it expires).

    Raises:
        InvalidTokenError: bad signature, expired, wrong issuer or a missing claim.
    """
    key = (settings.jwt_secret, token)
    hit = _VERIFIED.get(key)
    if hit is not None:
        if time.time() < hit[1]:
            return hit[0]
        _VERIFIED.pop(key, None)
    principal, exp = _decode(settings, token)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = (principal, exp)
    return principal


def _decode(settings: ApiSettings, token: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "iat", "iss", "role"]},
        )
        who = Principal(int(claims["sub"]), claims["role"] == "admin", str(claims.get("jti", "")))
        lifetime = float(claims["exp"]) - float(claims["iat"])
        cap = max_ttl_minutes(settings, who.admin)
        if lifetime > cap * 60:
            raise InvalidTokenError(
                f"token lifetime {lifetime / 60:.0f} min exceeds the {cap} min allowed for its "
                "role; issue a new one (python -m api.tokens)"
            )
        return who, float(claims["exp"])
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("token expired; issue a new one") from None
    except InvalidTokenError:
        raise
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise InvalidTokenError(f"invalid token: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.tokens", description="Print a signed API access token."
    )
    parser.add_argument("--profile", type=int, required=True, help="profile_id the token is for")
    parser.add_argument("--admin", action="store_true", help="admin role (erasure, any profile)")
    parser.add_argument(
        "--ttl-minutes", type=int, default=None, help="lifetime (default api.token_ttl_minutes)"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_api_settings()
        print(issue(settings, args.profile, args.admin, args.ttl_minutes))
    except (ApiSettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
