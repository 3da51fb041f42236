"""Secrets in an environment, recognised by the variable's name and by the value's shape, and hidden.

A variable whose *name* looks secret has its whole value replaced by ``<redacted>``: a word of the
name (split at ``_``, ``-``, ``.``) ends in KEY, TOKEN, SECRET, PASSWORD, PASSWD, PASS, PWD,
PASSPHRASE, CREDENTIAL(S), CREDS, AUTH, COOKIE, SESSION, DSN, WEBHOOK, JWT, PAT, SAS or SIGNATURE,
is PRIVATE, or the name contains APIKEY, ACCESSKEY, SECRET, PASSWORD, PASSWD, CREDENTIAL or
CONNECTIONSTRING once the separators are gone (``PWD`` and ``OLDPWD`` themselves are directories).

In every other value, credentials with a recognisable *shape* are replaced where they stand:

- in URLs, a password (``postgres://me:<redacted>@db``), or a user name of 16 or more characters,
  which is a token (``https://<redacted>@o1.ingest.sentry.io/1``); the path of Slack and Discord
  webhook URLs; query parameters named like a secret (``?sig=<redacted>``);
- in connection strings, ``key=value`` pairs whose key names a secret (``AccountKey=<redacted>;``);
- JSON web tokens (``eyJ...``) and PEM private key blocks;
- tokens with a well-known prefix: AWS access key ids (AKIA/ASIA...), GitHub (``ghp_``, ``gho_``,
  ``ghu_``, ``ghs_``, ``ghr_``, ``github_pat_``), GitLab (``glpat-`` and friends), Slack (``xox*-``,
  ``xapp-``), OpenAI and Anthropic (``sk-``), Stripe (``sk_live_``...), Google API keys (``AIza``),
  Hugging Face (``hf_``), npm (``npm_``), PyPI (``pypi-``) and SendGrid (``SG.``).

>>> redact_env({"HOME": "/home/me", "GH_PAT": "ghp_...", "DATABASE_URL": "postgres://me:pw@db/x"})
{'DATABASE_URL': 'postgres://me:<redacted>@db/x', 'GH_PAT': '<redacted>', 'HOME': '/home/me'}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

REDACTED = "<redacted>"

_ENDINGS = (
    "KEY",
    "KEYS",
    "TOKEN",
    "TOKENS",
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWORDS",
    "PASSWD",
    "PASS",
    "PWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "CREDENTIALS",
    "CREDS",
    "AUTH",
    "COOKIE",
    "COOKIES",
    "SESSION",
    "DSN",
    "WEBHOOK",
    "JWT",
    "PAT",
    "SAS",
    "SIGNATURE",
)
_WORDS = ("PRIVATE",)
_INSIDE = ("APIKEY", "ACCESSKEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CONNECTIONSTRING")
_NOT_SECRET = frozenset({"PWD", "OLDPWD"})
_SEPARATORS = {c: " " for c in range(128) if not chr(c).isalnum()}  # str.translate: words of a name

_PAIR_WORDS = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "signature",
    "auth",
    "credential",
    "credentials",
    "sas",
)
_AWS = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA", "APKA", "ASCA")
_GITHUB = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")
_GITLAB = ("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "gloas-", "glsoat-", "glft-", "glimt-", "glagent-")
_TOKENS = (
    rf"\b(?:{'|'.join(_AWS)})[A-Z0-9]{{16}}\b",
    rf"\b(?:{'|'.join(_GITHUB)})[A-Za-z0-9]{{30,}}",
    r"\bgithub_pat_[A-Za-z0-9_]{30,}",
    rf"\b(?:{'|'.join(_GITLAB)})[A-Za-z0-9_-]{{20,}}",
    r"\bxox[abposre]-[A-Za-z0-9-]{10,}",
    r"\bxapp-[A-Za-z0-9-]{10,}",
    r"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
    r"\bAIza[0-9A-Za-z_-]{35}",
    r"\bhf_[A-Za-z0-9]{30,}",
    r"\bnpm_[A-Za-z0-9]{36}",
    r"\bpypi-[A-Za-z0-9_-]{50,}",
    r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
)
_HOOKS = (r"hooks\.slack\.com", r"discord(?:app)?\.com/api/webhooks", r"[\w.-]+\.webhook\.office\.com")
# One pattern per kind of shape, each compiled only when a value holds one of the literal strings
# every match of it contains: compiling them all costs ~1.5 ms, and every run redacts its
# environment. key=value pairs are found without a pattern (LS_COLORS alone holds many "=").
_SHAPES = {
    "token": rf"(?:{'|'.join(_TOKENS)})",
    "url": r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*)(?::(?P<password>[^/\s@]*))?@",
    "hook": rf"(?P<hook>\b(?:{'|'.join(_HOOKS)}))/[^\s\"']+",
}
_TOKEN_TRIGGERS = (
    *_AWS,
    *_GITHUB,
    "github_pat_",
    *_GITLAB,
    "xox",
    "xapp-",
    "sk-",
    "sk_",
    "rk_",
    "AIza",
    "hf_",
    "npm_",
    "pypi-",
    "SG.",
    "eyJ",
    "PRIVATE KEY-----",
)
_HOOK_TRIGGERS = ("hooks.slack.com", "discord", ".webhook.office.com")
_PAIR_TRIGGERS = tuple(f"{w}=" for w in _PAIR_WORDS)
_COMPILED: dict[str, re.Pattern[str]] = {}
_MIN_TOKEN_USER = 16


def secret_name(name: str) -> bool:
    """Whether a variable of this name holds a secret (see the module docstring)."""
    upper = name.upper()
    if upper in _NOT_SECRET:
        return False
    words = upper.translate(_SEPARATORS).split()
    if any(w.endswith(_ENDINGS) or w in _WORDS for w in words):
        return True
    joined = "".join(words)
    return any(marker in joined for marker in _INSIDE)


def redact_value(value: str) -> str:
    """``value`` with every credential of a recognisable shape replaced by ``<redacted>``."""
    if len(value) < 8:
        return value
    for kind in _kinds(value):
        if kind == "pair":
            value = _redact_pairs(value)
            continue
        pattern = _COMPILED.get(kind)
        if pattern is None:
            pattern = _COMPILED[kind] = re.compile(_SHAPES[kind], re.DOTALL)
        value = pattern.sub(_REPLACE[kind], value)
    return value


def secret_value(value: str) -> bool:
    """Whether ``value`` holds a credential of a recognisable shape."""
    return redact_value(value) != value


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment, sorted by name, with secrets hidden by name and by value."""
    return {name: REDACTED if secret_name(name) else redact_value(env[name]) for name in sorted(env)}


def _kinds(value: str) -> list[str]:
    """The kinds of shape ``value`` may hold (a cheap test of literal strings, no pattern run)."""
    kinds = []
    if any(t in value for t in _TOKEN_TRIGGERS):
        kinds.append("token")
    if "://" in value and "@" in value:
        kinds.append("url")
    if any(t in value for t in _HOOK_TRIGGERS):
        kinds.append("hook")
    if "=" in value:
        lower = value.lower()
        if any(t in lower for t in _PAIR_TRIGGERS):
            kinds.append("pair")
    return kinds


def _url(m: re.Match[str]) -> str:
    user, password = m.group("user"), m.group("password")
    if password is not None:
        return f"{m.group('scheme')}{user}:{REDACTED}@"
    if len(user) >= _MIN_TOKEN_USER:
        return f"{m.group('scheme')}{REDACTED}@"
    return m.group(0)


_REPLACE: dict[str, Callable[[re.Match[str]], str]] = {
    "token": lambda m: REDACTED,
    "url": _url,
    "hook": lambda m: f"{m.group('hook')}/{REDACTED}",
}
_PAIR_DELIMITERS = frozenset(";?&,\t\n\r\f\v ")
_KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


def _redact_pairs(value: str) -> str:
    """``key=value`` pairs (between ``;``, ``?``, ``&``, ``,`` or blanks) whose key names a secret, hidden."""
    parts: list[str] = []
    start = 0
    for i, c in enumerate(value):
        if c in _PAIR_DELIMITERS:
            parts += (_pair(value[start:i]), c)
            start = i + 1
    parts.append(_pair(value[start:]))
    return "".join(parts)


def _pair(segment: str) -> str:
    key, eq, val = segment.partition("=")
    lower = key.lower()
    if eq and val and lower.endswith(_PAIR_WORDS) and set(lower) <= _KEY_CHARACTERS:
        return f"{key}={REDACTED}"
    return segment
