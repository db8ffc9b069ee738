"""Recent prompts: what the team typed lately, each once, newest first, searchable by its words."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .constants import PROMPT_SCAN_LIMIT
from .tasklog import TaskLog


@dataclass(frozen=True)
class RecentPrompt:
    """A prompt as last used: by which job, with which model and settings, when."""

    prompt: str
    job_id: int
    model: str
    params: dict[str, Any]
    submitted_at: str


def recent_prompts(log: TaskLog, *, text: str = "", model: str | None = None, limit: int = 10) -> list[RecentPrompt]:
    """Distinct prompts of the team's jobs, newest use first; with ``text``, only prompts holding all its words.

    Read newest first in chunks and stopped once ``limit`` distinct prompts are found, so the cost
    does not grow with the log; the search goes through the log's word index (``rivya.dialect``).
    """
    conditions: list[str] = []
    args: list[Any] = []
    if text.strip():
        match = log.dialect.words_query(text)
        if match is None:
            return []  # only punctuation: no prompt's words can match it
        conditions.append(log.dialect.words_match())
        args.append(match)
    if model is not None:
        conditions.append("model = ?")
        args.append(model)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f"SELECT id, prompt, model, params, submitted_at FROM jobs {where} ORDER BY id DESC LIMIT ?"
    seen: set[str] = set()
    found: list[RecentPrompt] = []
    for chunk in log.read_chunks(sql, (*args, PROMPT_SCAN_LIMIT), size=200):
        for row in chunk:
            prompt = row.prompt
            key = prompt.strip()
            if not key or key in seen:
                continue
            seen.add(key)
            found.append(RecentPrompt(prompt=prompt, job_id=row.id, model=row.model,
                                      params=json.loads(row.params or "{}"), submitted_at=row.submitted_at))
            if len(found) >= limit:
                return found
    return found
