"""Who may use the console, and which requests may act.

Tokens: ``console.token`` (best filled from ``$CREDENTIALS_DIRECTORY/console.token``, systemd
``LoadCredential=``) or the file ``console.token_file``; one ``NAME:TOKEN`` a line, a bare ``TOKEN`` being the
operator ``operator``. A browser signs in once (``POST /login``) and gets a session cookie (``HttpOnly``,
``SameSite=Strict``, random, kept in memory: a restart signs everyone out); programs send
``Authorization: Bearer TOKEN``. Every route but the sign-in page needs one of them.

Actions (``POST``) are refused unless the request's ``Origin`` is the console's own (or in
``console.allowed_origins``) and it carries the session's CSRF token in ``X-CSRF-Token`` (the page reads it from
``/api/session``): a form or script on another site can neither send the header nor read the token, and its
``Origin`` gives it away. Token comparisons are constant-time.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cinealert.config.sections import ConsoleSettings
from cinealert.errors import CinealertError

COOKIE = "cinealert_console"
SESSION_S = 12 * 3600


class ConsoleError(CinealertError):
    """The console cannot start (no token, its port taken): the daemon exits 2 rather than run without it."""


class ConsoleAuthError(ConsoleError):
    """The console has no usable operator token: it refuses to start rather than run open."""


def parse_tokens(text: str) -> dict[str, str]:
    """``{token: operator}`` from ``NAME:TOKEN`` lines (``#`` comments and blank lines skipped)."""
    tokens: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, token = line.rpartition(":")
        name, token = (name.strip(), token.strip()) if sep else ("operator", line)
        if len(token) < 16:
            raise ConsoleAuthError(f"console token for {name!r} is shorter than 16 characters")
        tokens[token] = name or "operator"
    return tokens


def load_tokens(console: ConsoleSettings) -> dict[str, str]:
    if console.token_file is not None:
        try:
            text = Path(console.token_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConsoleAuthError(f"console.token_file {console.token_file}: {exc.strerror}") from exc
    elif console.token is not None:
        text = console.token.get_secret_value()
    else:
        raise ConsoleAuthError(
            "the console needs an operator token: $CREDENTIALS_DIRECTORY/console.token or console.token_file"
        )
    tokens = parse_tokens(text)
    if not tokens:
        raise ConsoleAuthError("the console token file names no token")
    return tokens


@dataclass
class Session:
    operator: str
    csrf: str
    expires: float


class Auth:
    def __init__(self, tokens: dict[str, str], origins: tuple[str, ...] = ()) -> None:
        self.tokens = tokens
        self.origins = {o.rstrip("/") for o in origins}
        self.sessions: dict[str, Session] = {}

    def operator_for(self, token: str) -> str | None:
        found = None
        for known, name in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = name
        return found

    def sign_in(self, token: str) -> str | None:
        """A new session id for a valid token, else None."""
        operator = self.operator_for(token)
        if operator is None:
            return None
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(operator, secrets.token_urlsafe(32), time.time() + SESSION_S)
        return sid

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self.sessions.get(sid)
        if session is None or session.expires < time.time():
            self.sessions.pop(sid, None)
            return None
        return session

    def same_origin(self, origin: str | None, host: str | None, scheme: str) -> bool:
        """``Origin`` names this console (the ``Host`` it was asked for) or an allowed origin."""
        if not origin or not host:
            return False
        origin = origin.rstrip("/")
        return origin == f"{scheme}://{host}" or origin in self.origins
