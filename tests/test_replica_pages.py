"""Two app replicas on one PostgreSQL log (AppTest, the real sandbox over HTTP, a real PostgreSQL server).

Each replica is what one app process holds: its own ``Studio`` (client, follower, lease holder) opened from
its own settings. Pointing the environment at another data folder with the same ``DATABASE_URL`` and
``MEDIA_DIR`` gives a second one in this process, as a second server would have.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rivya.config import load_settings
from rivya.sandbox import Sandbox
from ui.services import get_studio

from .conftest import APP, open_page, wait_for

IMAGE = "grok-imagine"
PROMPT = "a lighthouse seen from two replicas"


def replica(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make the next page runs (and ``get_studio()``) those of the replica with its own data folder."""
    monkeypatch.setenv("RIVYA_DATA_DIR", str(folder))


def test_a_job_made_on_one_replica_is_followed_once_and_shows_on_the_other(
    app_sandbox: Sandbox, postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "shared-media"))
    replica(monkeypatch, tmp_path / "replica-a")
    a = open_page("pages/image.py")
    a.text_area(key=f"{IMAGE}:prompt").input(PROMPT).run()
    a.button(key=f"{IMAGE}:generate").click().run()
    first = get_studio()
    (job,) = first.log.where("prompt = ?", (PROMPT,))

    replica(monkeypatch, tmp_path / "replica-b")
    second = get_studio()
    assert second is not first and second.jobs.holder != first.jobs.holder and not second.log.dialect.is_sqlite
    b = open_page("pages/gallery.py")
    b.query_params["job"] = str(job.id)
    # The second replica shows the job's result, saved by the first one's follower into the shared media folder.
    wait_for(b, lambda at: any(c.value == PROMPT for c in at.code) and len(at.get("image")) > 0)
    done = second.log.get(job.id)
    assert done is not None and done.status == "succeeded" and done.media_paths
    assert Path(done.media_paths[0]).is_relative_to(tmp_path / "shared-media")
    # Only the replica that took the job from Generate polled it; the other one never asked about it.
    status_gets = [e for e in app_sandbox.journal if e.method == "GET" and e.path.endswith(f"/generations/{done.task_id}")]
    assert len(status_gets) == done.polls >= 1
    assert len(first.jobs.lateness) >= 1 and len(second.jobs.lateness) == 0
    assert not a.exception and not b.exception


def test_a_database_url_needs_an_api_key_and_a_postgresql_scheme(tmp_path: Path) -> None:
    """Replicas cannot share the sandbox built into one process, and a URL of another engine is refused by name."""
    with pytest.raises(ValueError, match="DATABASE_URL needs RIVYA_API_KEY"):
        load_settings({}, {"DATABASE_URL": "postgresql://studio@db/studio"})
    with pytest.raises(ValueError, match="must start with postgresql://"):
        load_settings({}, {"DATABASE_URL": "mysql://studio@db/studio", "RIVYA_API_KEY": "rvya_sk_x"})
    settings = load_settings({}, {"DATABASE_URL": "postgresql://studio:s3cret@db/studio", "RIVYA_API_KEY": "rvya_sk_x",
                                  "RIVYA_DATA_DIR": str(tmp_path), "MEDIA_DIR": str(tmp_path / "m")})
    assert settings.log_location == "postgresql://studio:s3cret@db/studio" and settings.media_folder == tmp_path / "m"
    assert "s3cret" not in repr(settings)
    plain = load_settings({}, {"RIVYA_DATA_DIR": str(tmp_path)})
    assert plain.log_location == tmp_path / "tasklog.sqlite3" and plain.media_folder == tmp_path / "media"


def test_a_database_that_cannot_be_reached_is_a_plain_message_without_its_password(
    app_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """The page says the app cannot start and why; no traceback, and the URL's password is never shown."""
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    unused = int(port) + 1 if int(port) < 65000 else int(port) - 1
    monkeypatch.setenv("DATABASE_URL", f"postgresql://studio:hunter2-secret@127.0.0.1:{unused}/nowhere")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    shown = " ".join(e.value for e in at.error)
    assert "cannot start" in shown and "could not be reached" in shown and "hunter2-secret" not in shown
    assert not at.exception
