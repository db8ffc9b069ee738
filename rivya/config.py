"""Where settings come from: Streamlit secrets first, then the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import constants

APP_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """The app's configuration. The key is kept out of ``repr`` so it never reaches a log."""

    api_key: str | None = field(repr=False)
    base_url: str
    data_dir: Path
    daily_budget: int | None = None
    app_password: str | None = field(default=None, repr=False)
    # Each signed-in person's own daily limit, beside the team's; both reset at midnight in ``budget_timezone``.
    person_daily_budget: int | None = None
    budget_timezone: str = "UTC"
    # People (verified emails, lower case) who see everyone's jobs and the spend per person.
    admins: frozenset[str] = frozenset()
    # Who may come in when people sign in (``[auth]``): verified emails, and email domains matched exactly (lower case);
    # or, set on purpose, any account the provider signs in (``rivya.people.admitted``).
    allowed_emails: frozenset[str] = frozenset()
    allowed_email_domains: frozenset[str] = frozenset()
    allow_any_account: bool = False
    # A Slack-compatible incoming webhook told when a job of at least ``notify_min_seconds`` ends.
    notify_webhook_url: str | None = field(default=None, repr=False)
    notify_min_seconds: float = 60.0
    # Where the task log lives: None is the SQLite file in ``data_dir``; a ``postgresql://`` URL is a database shared
    # by several app replicas. It may hold a password, so it stays out of ``repr`` too.
    database_url: str | None = field(default=None, repr=False)
    # Saved results, thumbnails and reference copies; with several replicas, one folder they all mount at this path.
    media_dir: Path | None = None
    # The app's public HTTPS address (``PUBLIC_URL``): set, the app registers a Rivya webhook endpoint there at start-up
    # and takes results from its events (``rivya.hook_setup``); unset, nothing changes.
    public_url: str | None = None

    @property
    def media_folder(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def log_location(self) -> Path | str:
        """What ``TaskLog`` opens: the database URL, or the SQLite file in the data folder."""
        return self.database_url or self.data_dir / "tasklog.sqlite3"

    @property
    def uses_sandbox(self) -> bool:
        """No key configured: the app runs on the built-in sandbox."""
        return not self.api_key


def load_settings(secrets: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``secrets`` (e.g. ``st.secrets``) and the environment."""
    environ = os.environ if environ is None else environ
    secrets = secrets or {}

    def pick(name: str) -> str | None:
        value = secrets.get(name) or environ.get(name)
        return str(value).strip() if value else None

    def credits(name: str) -> int | None:
        value = pick(name)
        if value is not None and not value.isdigit():
            raise ValueError(f"{name} must be a whole number of credits")
        return int(value) if value is not None else None

    data_dir = Path(pick("RIVYA_DATA_DIR") or APP_ROOT / "data")
    timezone = pick("BUDGET_TIMEZONE") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"BUDGET_TIMEZONE {timezone!r} is not a time zone name such as UTC or Europe/Berlin") from None
    def listed(name: str) -> frozenset[str]:
        """A list setting (a TOML list, or a comma-separated string), lower case, blanks dropped."""
        value = secrets.get(name) or environ.get(name) or ()
        items = value.split(",") if isinstance(value, str) else value
        return frozenset(str(item).strip().lower() for item in items if str(item).strip())

    admins, allowed_emails = listed("ADMINS"), listed("ALLOWED_EMAILS")
    for name, emails in (("ADMINS", admins), ("ALLOWED_EMAILS", allowed_emails)):
        not_emails = sorted(e for e in emails if e.count("@") != 1 or e.startswith("@") or e.endswith("@"))
        if not_emails:
            raise ValueError(f"{name} holds {not_emails[0]!r}, which is not an email address: people are matched by the "
                             "email their sign-in provider has verified")
    domains = frozenset(d.removeprefix("@") for d in listed("ALLOWED_EMAIL_DOMAINS"))
    odd = sorted(d for d in domains if not d or "@" in d or any(c.isspace() for c in d))
    if odd:
        raise ValueError(f"ALLOWED_EMAIL_DOMAINS holds {odd[0]!r}, which is not a domain such as example.com")
    allow_any = _switch("ALLOW_ANY_ACCOUNT", secrets.get("ALLOW_ANY_ACCOUNT", environ.get("ALLOW_ANY_ACCOUNT")))
    _check_sign_in(bool(secrets.get("auth")), bool(allowed_emails or domains), allow_any)
    min_seconds = pick("NOTIFY_MIN_SECONDS") or "60"
    try:
        notify_min_seconds = float(min_seconds)
    except ValueError:
        raise ValueError("NOTIFY_MIN_SECONDS must be a number of seconds") from None
    database_url = _database_url(pick("DATABASE_URL"))
    if database_url and not pick("RIVYA_API_KEY"):
        # The built-in sandbox lives inside one process: replicas sharing a log cannot share it.
        raise ValueError("DATABASE_URL needs RIVYA_API_KEY (and RIVYA_BASE_URL): replicas sharing one log must reach one "
                         "API, and the built-in sandbox lives inside a single process; run `python -m rivya.sandbox` "
                         "and point RIVYA_BASE_URL at it to try replicas without a key")
    return Settings(
        api_key=pick("RIVYA_API_KEY"),
        base_url=(pick("RIVYA_BASE_URL") or constants.DEFAULT_BASE_URL).rstrip("/"),
        data_dir=data_dir,
        daily_budget=credits("DAILY_CREDIT_BUDGET"),
        app_password=pick("APP_PASSWORD"),
        person_daily_budget=credits("PERSON_DAILY_BUDGET"),
        budget_timezone=timezone,
        admins=admins,
        allowed_emails=allowed_emails,
        allowed_email_domains=domains,
        allow_any_account=allow_any,
        notify_webhook_url=pick("NOTIFY_WEBHOOK_URL"),
        notify_min_seconds=notify_min_seconds,
        database_url=database_url,
        media_dir=Path(media) if (media := pick("MEDIA_DIR")) else None,
        public_url=_public_url(pick("PUBLIC_URL")),
    )


def _switch(name: str, value: Any) -> bool:
    """A true/false setting: TOML's true or false, or the words in the environment; anything else is named."""
    if value is None or isinstance(value, bool):
        return bool(value)
    word = str(value).strip().lower()
    if word not in ("true", "false", ""):
        raise ValueError(f"{name} must be true or false")
    return word == "true"


def _check_sign_in(sign_in: bool, allow_list: bool, allow_any: bool) -> None:
    """Refuse a start that would let in people nobody chose (fail closed), or an allow-list nothing enforces.

    With ``[auth]``, anyone the provider authenticates could sign in: with Google, any Google account in the world.
    """
    if sign_in and not allow_list and not allow_any:
        raise ValueError("sign-in ([auth]) is configured but nobody is allowed in: set ALLOWED_EMAIL_DOMAINS or "
                         "ALLOWED_EMAILS to your team's (above the [auth] section), or ALLOW_ANY_ACCOUNT = true to "
                         "let in every account your sign-in provider accepts")
    if allow_list and allow_any:
        raise ValueError("ALLOW_ANY_ACCOUNT = true and ALLOWED_EMAILS or ALLOWED_EMAIL_DOMAINS say different things: "
                         "keep one")
    if allow_list and not sign_in:
        raise ValueError("ALLOWED_EMAILS or ALLOWED_EMAIL_DOMAINS is set but nobody signs in: add the [auth] section "
                         "for your sign-in provider, or remove the allow-list")


def _database_url(value: str | None) -> str | None:
    """``DATABASE_URL`` checked before anything opens it: a PostgreSQL URL, or absent (the SQLite file)."""
    if value is None:
        return None
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ValueError("DATABASE_URL must start with postgresql:// (leave it out to keep the log in the data folder)")
    if value.split("://", 1)[1].split("/", 1)[0].count("@") > 1:
        # Read as is, the part after the first @ would be taken for the host, and shown in every error.
        raise ValueError("DATABASE_URL holds more than one @ before the host: write an @ in the password as %40")
    return value


def _public_url(value: str | None) -> str | None:
    """``PUBLIC_URL`` checked at start: an absolute http(s) address (Rivya itself refuses all but public HTTPS ones)."""
    if value is None:
        return None
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in ("https", "http") or not rest.split("/", 1)[0] or "@" in rest.split("/", 1)[0]:
        raise ValueError("PUBLIC_URL must be the app's public address, such as https://studio.example.com")
    return value.rstrip("/")
