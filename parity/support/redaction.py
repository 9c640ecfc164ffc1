"""Redaction: secret-looking setting values, nested secrets and URL credentials masked.

A settings dict leaves the facts machinery only through `redact_settings`; error messages
have their URL credentials masked with `URL_CREDENTIALS` and `REDACTED`.

Two name rules, on purpose: `is_secret_name` decides which *settings* are shown masked, so it
spares names that describe a secret's handling (PASSWORD_HASHERS, KEY_PREFIX) whose values
are worth comparing; `is_secret_variable` decides which *environment values* every report
scrubs wherever they appear, so it errs on the side of masking (any name containing
PASSWORD, TOKEN, ... and DATABASE_URL, whose value carries the password).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_SECRET_WORDS = frozenset({"SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PWD", "TOKEN",
                           "TOKENS", "CREDENTIALS", "CREDENTIAL", "PRIVATE", "APIKEY", "DSN",
                           "KEY", "KEYS", "SALT"})
# "KEY_PREFIX", "PASSWORD_HASHERS": the word names what the setting configures, not a secret.
_DESCRIBING = frozenset({"PREFIX", "FUNCTION", "FUNC", "HASHERS", "VALIDATORS", "RESET",
                         "TIMEOUT", "FIELD", "LENGTH", "MIN", "MAX", "BACKEND", "BACKENDS",
                         "CLASS", "PATH", "FILE", "NAME", "HEADER", "COOKIE", "TRANSFORM"})
URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]+@")
_NESTED = re.compile(r"""(?P<q>['"])(?P<key>\w+)(?P=q)(?P<sep>\s*:\s*)"""
                     r"""(?P<v>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""")
REDACTED = "***"


def is_secret_name(name: str) -> bool:
    words = name.upper().split("_")
    return any(word in _SECRET_WORDS and (i + 1 == len(words) or words[i + 1] not in _DESCRIBING)
               for i, word in enumerate(words))


def redact_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """Settings (name → repr) with secret-looking values, nested ones and URL credentials masked."""

    def nested(match: re.Match[str]) -> str:
        if not is_secret_name(match["key"]):
            return match[0]
        return f"{match['q']}{match['key']}{match['q']}{match['sep']}'{REDACTED}'"

    return {name: REDACTED if is_secret_name(name)
            else URL_CREDENTIALS.sub(rf"\1{REDACTED}@", _NESTED.sub(nested, value))
            for name, value in settings.items()}


def is_secret_variable(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in ("PASSWORD", "SECRET", "TOKEN", "CREDENTIAL", "API_KEY",
                                          "PRIVATE_KEY", "DATABASE_URL"))
