"""Passwords out of everything tagger prints, records or saves: URLs with their password masked."""

import re
from urllib.parse import quote, unquote

from sqlalchemy.engine import make_url

# A URL in running text: up to a space, quote or bracket, without the sentence's closing punctuation.
_URL = re.compile(r"[A-Za-z][\w+.-]*://[^\s'\"<>()]*[^\s'\"<>().,;:]")


def quote_password(url: str) -> str:
    """A password with a raw '@' or ':' percent-encoded, so the URL parses as its author meant it: the host
    follows the last '@' of the authority (SQLAlchemy would otherwise split at the first)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    userinfo, _, host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if colon:
        userinfo = f"{user}:{quote(unquote(password), safe='')}"
    return f"{scheme}://{userinfo}@{host}{slash}{path}"


def _redact_url(url: str) -> str:
    if "@" not in url:  # no user, so no password: left exactly as written
        return url
    try:
        return make_url(quote_password(url)).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: mask whatever stands between "user:" and the last "@"
        return re.sub(r"(://[^:/@]*:).*@", r"\1***@", url)


def redact(text: str) -> str:
    """The text with the password of every URL in it masked (a URL alone, or inside a message or a file)."""
    return _URL.sub(lambda match: _redact_url(match.group()), text)


def first_line(err: BaseException) -> str:
    """An error's first line with passwords masked (its type when it has no message): for one-line errors."""
    text = redact(str(err)).strip()
    return text.splitlines()[0] if text else type(err).__name__
