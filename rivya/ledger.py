"""The team's ledger from the task log: figures, filters, daily series and CSV, in pandas.

Credits charged come from ``rivya.money`` (computed by the log's SQL as ``charged_credits``),
the same rule the spend guard and the job cards use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from .status import JobStatus
from .tasklog import TaskLog

CSV_COLUMNS = [
    "id", "submitted_at", "finished_at", "model", "status", "prompt", "params", "reserved_credits", "final_credits",
    "charged_credits", "seconds_to_result", "task_id", "result_urls", "media_paths", "error_code", "error_message",
]


def enrich(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the derived columns every view uses: charge, refund, time to result, day."""
    df = frame.copy()
    reserved = df["reserved_credits"].fillna(0).astype("int64")
    refunded = (df["status"] == JobStatus.FAILED) & df["final_credits"].notna()
    df["returned_credits"] = (reserved - df["final_credits"].fillna(0).astype("int64")).where(refunded, 0).clip(lower=0)
    seconds = (df["finished_at"] - df["submitted_at"]).dt.total_seconds()
    df["seconds_to_result"] = seconds.where(df["status"] == JobStatus.SUCCEEDED)
    df["day"] = df["submitted_at"].dt.tz_convert("UTC").dt.date
    return df


class LedgerView:
    """The enriched log held in memory; each read fetches only rows changed since the last.

    Re-reading a 100k-row log costs about a second; a refresh after one job finished
    costs milliseconds. Frames handed out are never modified, so they can be shared.
    """

    def __init__(self, log: TaskLog) -> None:
        self.log = log
        self._frame: pd.DataFrame | None = None
        self._signature: tuple | None = None
        self._lock = threading.Lock()

    def frame(self) -> pd.DataFrame:
        with self._lock:
            signature = self.log.signature()
            if self._frame is not None and signature == self._signature:
                return self._frame
            if self._frame is None or self._frame.empty:
                self._frame = enrich(self.log.frame())
            else:
                # ">=" re-reads rows stamped in the same millisecond as the last seen change.
                since = self._frame["updated_at"].max().isoformat(timespec="milliseconds")
                changed = enrich(self.log.frame(updated_since=since))
                kept = self._frame[~self._frame["id"].isin(changed["id"])]
                merged = pd.concat([changed, kept]) if len(kept) else changed
                self._frame = merged.sort_values("id", ascending=False, ignore_index=True)
            self._signature = signature
            return self._frame


@dataclass(frozen=True)
class Figures:
    spent_today: int
    spent_7_days: int
    spent_all_time: int
    returned_on_failures: int
    jobs_by_status: dict[str, int]
    success_rate: float | None
    median_seconds_by_model: dict[str, float]


def figures(df: pd.DataFrame, *, now: datetime | None = None) -> Figures:
    """The page's headline numbers (UTC days)."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    week_start = today - timedelta(days=6)
    finished = df["status"].isin([JobStatus.SUCCEEDED, JobStatus.FAILED])
    succeeded = int((df["status"] == JobStatus.SUCCEEDED).sum())
    medians = df.dropna(subset=["seconds_to_result"]).groupby("model")["seconds_to_result"].median()
    return Figures(
        spent_today=int(df.loc[df["day"] == today, "charged_credits"].sum()),
        spent_7_days=int(df.loc[df["day"] >= week_start, "charged_credits"].sum()),
        spent_all_time=int(df["charged_credits"].sum()),
        returned_on_failures=int(df["returned_credits"].sum()),
        jobs_by_status={str(k): int(v) for k, v in df["status"].value_counts().items()},
        success_rate=succeeded / int(finished.sum()) if finished.any() else None,
        median_seconds_by_model={str(k): float(v) for k, v in medians.items()},
    )


def filter_jobs(
    df: pd.DataFrame,
    *,
    models: list[str] | None = None,
    statuses: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    text: str = "",
) -> pd.DataFrame:
    """Rows matching every given filter; ``text`` is a case-insensitive literal search in prompts."""
    mask = pd.Series(True, index=df.index)
    if models:
        mask &= df["model"].isin(models)
    if statuses:
        mask &= df["status"].isin(statuses)
    if start:
        mask &= df["day"] >= start
    if end:
        mask &= df["day"] <= end
    if text.strip():
        mask &= df["prompt"].str.contains(text.strip(), case=False, regex=False, na=False)
    return df[mask]


def credits_per_day(df: pd.DataFrame) -> pd.DataFrame:
    """Credits charged per day and model, one column per model (for a stacked bar chart)."""
    return df.pivot_table(index="day", columns="model", values="charged_credits", aggfunc="sum", fill_value=0)


def jobs_per_day(df: pd.DataFrame) -> pd.DataFrame:
    """Job counts per day and status, one column per status."""
    return df.pivot_table(index="day", columns="status", values="id", aggfunc="count", fill_value=0)


def time_to_result(df: pd.DataFrame) -> pd.DataFrame:
    """Median and 90th-percentile seconds to a result, per model."""
    done = df.dropna(subset=["seconds_to_result"])
    grouped = done.groupby("model")["seconds_to_result"]
    return pd.DataFrame({"median": grouped.median(), "p90": grouped.quantile(0.9)})


def to_csv(df: pd.DataFrame) -> bytes:
    """Exactly these rows, with stable columns, as UTF-8 CSV."""
    out = df[CSV_COLUMNS].copy()
    for column in ("submitted_at", "finished_at"):
        out[column] = out[column].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str.replace(r"\d{3}Z$", "Z", regex=True)
    return out.to_csv(index=False).encode("utf-8")
