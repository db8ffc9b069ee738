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
    # People (emails or OpenID subjects, lower case) who see everyone's jobs and the spend per person.
    admins: frozenset[str] = frozenset()
    # A Slack-compatible incoming webhook told when a job of at least ``notify_min_seconds`` ends.
    notify_webhook_url: str | None = field(default=None, repr=False)
    notify_min_seconds: float = 60.0
    # Where the task log lives: None is the SQLite file in ``data_dir``; a ``postgresql://`` URL is a database shared
    # by several app replicas. It may hold a password, so it stays out of ``repr`` too.
    database_url: str | None = field(default=None, repr=False)
    # Saved results, thumbnails and reference copies; with several replicas, one folder they all mount at this path.
    media_dir: Path | None = None

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
    admins = secrets.get("ADMINS") or environ.get("ADMINS") or ()
    if isinstance(admins, str):
        admins = admins.split(",")
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
        admins=frozenset(str(a).strip().lower() for a in admins if str(a).strip()),
        notify_webhook_url=pick("NOTIFY_WEBHOOK_URL"),
        notify_min_seconds=notify_min_seconds,
        database_url=database_url,
        media_dir=Path(media) if (media := pick("MEDIA_DIR")) else None,
    )


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
