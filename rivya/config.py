"""Where settings come from: Streamlit secrets first, then the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    data_dir = Path(pick("RIVYA_DATA_DIR") or APP_ROOT / "data")
    budget = pick("DAILY_CREDIT_BUDGET")
    if budget is not None and not budget.isdigit():
        raise ValueError("DAILY_CREDIT_BUDGET must be a whole number of credits")
    return Settings(
        api_key=pick("RIVYA_API_KEY"),
        base_url=(pick("RIVYA_BASE_URL") or constants.DEFAULT_BASE_URL).rstrip("/"),
        data_dir=data_dir,
        daily_budget=int(budget) if budget is not None else None,
        app_password=pick("APP_PASSWORD"),
    )
