"""Money-safe against any reply: an outsider server that makes the least convenient legal choices."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event

from rivya import RivyaClient, constants
from rivya.client import parse_retry_after
from rivya.constants import RETRY_AFTER_MAX
from rivya.database import Transaction
from rivya.errors import InvalidInputError, MalformedResponseError, StorageError
from rivya.jobs import JobService
from rivya.polling import RequestBudget
from rivya.resources import Generation, UploadedFile
from rivya.status import JobStatus
from rivya.tasklog import TaskLog

from .conftest import FAST_POLLS, follow
from .outsider import Outsider, json_reply

KEY = "rvya_sk_outsider_test"
IN_FLIGHT = json_reply(
    409, {"error": {"code": "idempotency_conflict", "message": "A request with this key is still being processed."}}
)


@pytest.fixture
def outsider() -> Iterator[Outsider]:
    server = Outsider().start()
    yield server
    server.stop()


def service(outsider: Outsider, tmp_path: Path, where: Path | str, *, budget: RequestBudget | None = None,
            log: TaskLog | None = None) -> JobService:
    """A service on the log at ``where`` (the ``log_location`` fixture: each test runs on SQLite and PostgreSQL)."""
    client = RivyaClient(KEY, outsider.url, poll_schedule=FAST_POLLS, max_retries=2, timeout=5)
    return JobService(client, log or TaskLog(where), tmp_path / "media", backend="outsider",
                      budget=budget or RequestBudget(rate=100, burst=50))


# -- 409 for a duplicate in flight, unreadable 2xx -------------------------------------------------


def test_a_409_while_our_first_request_is_in_flight_is_not_a_refusal(
    outsider: Outsider, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(outsider, tmp_path, log_location)
    outsider.creates.extend(["drop", IN_FLIGHT, IN_FLIGHT])  # reply lost, then "still being processed" twice
    job = jobs.submit("grok-imagine", "a charged fox", {}, idempotency_key="k-409")
    assert job.status == JobStatus.SUBMITTING and outsider.charged == 4
    for _ in range(2):  # the follower's re-sends meet the 409: the row must stay "submitting"
        jobs.recheck()
        jobs.follow_once()
        row = jobs.log.get(job.id)
        assert row.status == JobStatus.SUBMITTING and row.error_code == "idempotency_conflict", row
    jobs.recheck()
    done = follow(jobs, job.id)
    assert done.status == JobStatus.SUCCEEDED and done.media_paths
    assert len(outsider.tasks) == 1 and outsider.charged == 4 and done.charged_credits == 4


def test_a_409_on_the_very_first_send_is_a_refusal(outsider: Outsider, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(outsider, tmp_path, log_location)
    outsider.creates.append(IN_FLIGHT)
    with pytest.raises(Exception, match="idempotency_conflict"):
        jobs.submit("grok-imagine", "a reused key", {}, idempotency_key="k-first")
    row = jobs.log.by_key("k-first")
    assert row.status == JobStatus.REJECTED and row.charged_credits == 0 and outsider.tasks == {}


@pytest.mark.parametrize(
    "reply",
    [
        (202, {"Content-Type": "text/html"}, b"<html><body>Accepted</body></html>"),
        (201, {"Content-Type": "application/json"}, b'{"status": "queued"}'),
        (200, {"Content-Type": "application/json"}, b"[]"),
    ],
    ids=["html", "no-id", "not-an-object"],
)
def test_a_2xx_that_names_no_task_is_outcome_unknown(
    outsider: Outsider, tmp_path: Path, log_location: Path | str, reply: tuple
) -> None:
    jobs = service(outsider, tmp_path, log_location)
    outsider.creates.append(reply)
    job = jobs.submit("grok-imagine", "an unreadable fox", {}, idempotency_key="k-2xx")
    assert job.status == JobStatus.SUBMITTING and job.error_code and job.charged_credits == 4
    done = follow(jobs, job.id)
    assert done.status == JobStatus.SUCCEEDED and len(outsider.tasks) == 1 and outsider.charged == 4


def test_html_error_page_from_a_proxy_is_not_shown_as_a_certain_refusal(
    outsider: Outsider, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(outsider, tmp_path, log_location)
    outsider.creates.append((403, {"Content-Type": "text/html"}, b"<html><h1>Forbidden</h1></html>"))
    with pytest.raises(Exception, match="403"):
        jobs.submit("grok-imagine", "behind a proxy", {}, idempotency_key="k-proxy")
    row = jobs.log.by_key("k-proxy")
    assert row.status == JobStatus.REJECTED and row.error_code == "unconfirmed_refusal"
    assert "<html>" not in (row.error_message or "")


# -- statuses -------------------------------------------------------------------------------------


def test_statuses_are_read_trimmed_and_case_insensitively(outsider: Outsider, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(outsider, tmp_path, log_location)
    job = jobs.submit("grok-imagine", "a shouting fox", {}, idempotency_key="k-case")
    done = follow(jobs, job.id)  # the outsider says " Processing" and "SUCCEEDED "
    assert done.status == "succeeded"


def test_an_unknown_status_is_shown_and_polled_slowly_with_a_limit(
    outsider: Outsider, tmp_path: Path, log_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = service(outsider, tmp_path, log_location)
    outsider.done_status = "Paused_For_Review"
    outsider.task_seconds = 0
    job = jobs.submit("grok-imagine", "a paused fox", {}, idempotency_key="k-odd")
    time.sleep(0.1)
    jobs.follow_once()
    row = jobs.log.get(job.id)
    assert row.status == "paused_for_review" and not row.is_done
    polls = outsider.count("GET", "/api/v1/generations/")
    for _ in range(10):  # at full rate this would be ten more polls
        jobs.follow_once()
        time.sleep(0.05)
    assert outsider.count("GET", "/api/v1/generations/") == polls
    monkeypatch.setattr(constants, "UNKNOWN_STATUS_INTERVAL", 0.05)
    monkeypatch.setattr(constants, "UNKNOWN_STATUS_MAX_POLLS", 3)
    jobs.recheck()
    for _ in range(20):
        jobs.follow_once()
        time.sleep(0.06)
    assert outsider.count("GET", "/api/v1/generations/") == polls + 3  # then it stops until someone rechecks


# -- the follower: no stacked retries, a hung request holds only its own job -----------------------


def test_a_hung_status_request_holds_up_only_its_own_job(outsider: Outsider, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(outsider, tmp_path, log_location)
    ids = [jobs.submit("grok-imagine", f"fox {n}", {}, idempotency_key=f"k-hang-{n}").id for n in range(4)]
    release = threading.Event()

    def hang() -> tuple:
        release.wait(20)
        return json_reply(500, {"error": {"code": "internal", "message": "late"}})

    outsider.polls.append(hang)
    jobs.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(jobs.log.get(i).status == "succeeded" for i in ids) < 3:
            time.sleep(0.05)
        finished = sum(jobs.log.get(i).status == "succeeded" for i in ids)
        assert finished >= 3 and not release.is_set()  # three finished while one request still hung
    finally:
        release.set()
        jobs.stop()


def test_the_follower_does_not_retry_inside_a_pass(outsider: Outsider, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(outsider, tmp_path, log_location)
    job = jobs.submit("grok-imagine", "a failing poll", {}, idempotency_key="k-500")
    time.sleep(0.1)
    outsider.polls.append(json_reply(503, {"error": {"code": "internal", "message": "busy"}}))
    before = outsider.count("GET", "/api/v1/generations/")
    jobs.follow_once()
    assert outsider.count("GET", "/api/v1/generations/") == before + 1  # one request, not 1 + max_retries
    assert follow(jobs, job.id).status == "succeeded"


def test_a_recovered_create_is_polled_on_the_normal_cadence(outsider: Outsider, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(outsider, tmp_path, log_location)
    outsider.creates.append("drop")
    job = jobs.submit("grok-imagine", "a recovered fox", {}, idempotency_key="k-rec")
    for _ in range(3):  # three lost re-sends build up the re-send back-off (2, 4, 8 s)
        outsider.creates.append("drop")
        jobs.recheck()
        jobs.follow_once()
    jobs.recheck()
    jobs.follow_once()  # this re-send is answered
    assert jobs.log.get(job.id).status != JobStatus.SUBMITTING
    answered = time.monotonic()
    done = follow(jobs, job.id)
    first_poll = min(t for t, m, p in outsider.requests if m == "GET" and p.startswith("/api/v1/generations/"))
    assert done.status == "succeeded" and first_poll - answered < 1.0  # FAST_POLLS' first look, not the 16 s back-off


def test_page_submits_wait_for_the_shared_budget_and_the_follower_sends(
    outsider: Outsider, tmp_path: Path, log_location: Path | str
) -> None:
    budget = RequestBudget(rate=2, burst=1)
    jobs = service(outsider, tmp_path, log_location, budget=budget)
    assert budget.try_acquire()  # someone else just spent the only token
    job = jobs.submit("grok-imagine", "a patient fox", {}, idempotency_key="k-budget")
    assert job.status == JobStatus.SUBMITTING
    assert outsider.count("POST", "/api/v1/generations") == 0
    time.sleep(2.2)  # the follower's grace for a row a page is sending
    done = follow(jobs, job.id)
    assert done.status == "succeeded" and outsider.count("POST", "/api/v1/generations") == 1


# -- quiet defaults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [("inf", RETRY_AFTER_MAX), ("1e400", RETRY_AFTER_MAX), ("nan", None), ("-5", 0.0),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("3", 3.0), ("soon", None)],
)
def test_retry_after_is_clamped(header: str, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_credits_without_a_balance_are_unknown_not_zero(outsider: Outsider) -> None:
    with RivyaClient(KEY, outsider.url) as client:
        assert client.get_credits().current_credits is None


def test_upload_replies_are_read_in_any_envelope_or_refused_plainly(outsider: Outsider) -> None:
    assert UploadedFile.from_json({"data": {"file_id": "f1", "public_url": "https://cdn.example/f1.png"}}).url.endswith("f1.png")
    outsider.other["POST /api/v1/files"] = __import__("collections").deque([json_reply(201, {"data": {"id": "f2"}})])
    with RivyaClient(KEY, outsider.url) as client, pytest.raises(MalformedResponseError, match="no usable file URL"):
        client.upload_file(b"\x89PNG\r\n\x1a\n" + b"0" * 64, filename="a.png")


def test_result_links_that_are_not_http_are_dropped_when_parsed() -> None:
    generation = Generation.from_json(
        {"id": "t", "status": "succeeded",
         "result": {"primary_url": "/proc/self/environ", "urls": ["file:///etc/passwd", "https://cdn.example/r.png", 7]}}
    )
    assert generation.primary_url == "https://cdn.example/r.png" and generation.urls == ("https://cdn.example/r.png",)


def test_local_refusals_carry_the_services_code() -> None:
    with RivyaClient(KEY, "http://127.0.0.1:9") as client, pytest.raises(InvalidInputError) as caught:
        client.create_generation("grok-imagine", "", {})
    assert caught.value.code == "validation_failed"


def test_unknown_parameters_pass_through_with_a_warning(outsider: Outsider, caplog: pytest.LogCaptureFixture) -> None:
    with RivyaClient(KEY, outsider.url) as client, caplog.at_level(logging.WARNING, logger="rivya"):
        client.create_generation("grok-imagine", "a fox", {"aspect_ratio": "1:1", "seed": 42})
    assert outsider.bodies[-1]["params"] == {"aspect_ratio": "1:1", "seed": 42}
    assert "seed" in caplog.text
    with RivyaClient(KEY, outsider.url) as client, pytest.raises(InvalidInputError, match="Aspect ratio"):
        client.create_generation("grok-imagine", "a fox", {"aspect_ratio": "5:4", "seed": 42})  # known keys still checked


def test_each_thread_gets_its_own_session() -> None:
    client = RivyaClient(KEY, "http://127.0.0.1:9")
    sessions: list[object] = []
    threads = [threading.Thread(target=lambda: sessions.append(client.session)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in sessions}) == 3 and client.session is client.session
    client.close()


# -- the disk -------------------------------------------------------------------------------------


def test_a_read_only_log_refuses_before_anything_is_sent(outsider: Outsider, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(outsider, tmp_path, log_location)
    read_only(jobs.log)
    with pytest.raises(StorageError) as caught:
        jobs.submit("grok-imagine", "a fox", {}, idempotency_key="k-ro")
    assert not caught.value.after_send and outsider.count("POST", "/api/v1/generations") == 0
    assert jobs.log.count() == 0 and outsider.charged == 0  # the log is still readable: nothing was written


def read_only(log: TaskLog) -> None:
    """Make the log refuse every write from now on, with each engine's own error (a read-only volume or server).

    SQLite: ``query_only`` on every new connection; PostgreSQL: the database's default for new sessions. The pool's
    connections are dropped so each one reopens with it.
    """
    if log.dialect.is_sqlite:
        event.listen(log.db.engine, "connect", lambda connection, _record: connection.execute("PRAGMA query_only = ON"))
    else:
        log.db.execute(f'ALTER DATABASE "{log.db.engine.url.database}" SET default_transaction_read_only = on')
    log.db.engine.dispose()


class _DiskFullAfterAdd(TaskLog):
    """A log whose disk fills between writing the row and recording the reply (a full disk cannot be arranged here)."""

    full = False

    def update(self, job_id: int, **fields: object):  # type: ignore[override]
        if self.full:
            raise StorageError(f"the job log at {self.name} could not be written (database or disk is full)")
        return super().update(job_id, **fields)

    @contextmanager
    def writing(self) -> Iterator[Transaction]:
        with super().writing() as db:
            yield db
        self.full = True


def test_a_disk_that_fills_after_sending_says_dont_press_again(
    outsider: Outsider, tmp_path: Path, log_location: Path | str
) -> None:
    log = _DiskFullAfterAdd(log_location)
    jobs = service(outsider, tmp_path, log_location, log=log)
    with pytest.raises(StorageError) as caught:
        jobs.submit("grok-imagine", "a fox", {}, idempotency_key="k-full")
    assert caught.value.after_send and outsider.charged == 4
    from rivya.messages import explain

    assert "Don't press Generate again" in explain(caught.value).action
    log.full = False  # space is freed: the follower recovers the same task, charged once
    row = log.by_key("k-full")
    assert row.status == JobStatus.SUBMITTING
    done = follow(jobs, row.id)
    assert done.status == "succeeded" and len(outsider.tasks) == 1 and outsider.charged == 4


def test_an_unknown_balance_shows_a_dash_and_does_not_block_generate(outsider: Outsider, point_app) -> None:
    from streamlit.testing.v1 import AppTest

    from .conftest import APP

    point_app(outsider.url, KEY)
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/image.py").run()
    assert "balance —" in " ".join(m.value for m in at.markdown)
    at.text_area(key="grok-imagine:prompt").input("a fox with an unknown wallet").run()
    at.button(key="grok-imagine:generate").click().run()
    assert not at.exception and not at.error
    assert outsider.count("POST", "/api/v1/generations") == 1


# -- re-sends, the service's own words, and the follower's housekeeping ----------------------------


@pytest.mark.parametrize(
    ("reply", "status", "charged"),
    [
        (json_reply(402, {"error": {"code": "insufficient_credits", "message": "Top up."}}), JobStatus.UNCONFIRMED, 4),
        (json_reply(401, {"error": {"code": "api_key_revoked", "message": "Revoked."}}), JobStatus.UNCONFIRMED, 4),
        ((403, {"Content-Type": "text/html"}, b"<html>WAF</html>"), JobStatus.SUBMITTING, 4),
        (json_reply(400, {"error": {"code": "validation_failed", "message": "Bad."}}), JobStatus.REJECTED, 0),
    ],
    ids=["credits", "key", "proxy", "validation"],
)
def test_a_refused_resend_never_claims_nothing_was_charged(
    outsider: Outsider, tmp_path: Path, log_location: Path | str, reply: tuple, status: str, charged: int
) -> None:
    jobs = service(outsider, tmp_path, log_location)
    outsider.creates.extend(["drop", reply])  # the first send made the task; its reply was lost
    job = jobs.submit("grok-imagine", "a fox sent twice", {}, idempotency_key="k-resend")
    jobs.recheck()
    jobs.follow_once()
    row = jobs.log.get(job.id)
    assert row.status == status and row.charged_credits == charged, row
    if status == JobStatus.UNCONFIRMED:  # over, but counted: the first send may have charged
        jobs.recheck()
        assert jobs.follow_once() == 0


def test_a_reply_cannot_claim_the_apps_own_states(outsider: Outsider, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(outsider, tmp_path, log_location)
    job = jobs.submit("grok-imagine", "a moderated fox", {}, idempotency_key="k-own")
    time.sleep(0.1)
    outsider.polls.append(json_reply(200, {"id": job.task_id, "status": " Rejected ", "reserved_credits": 4}))
    jobs.follow_once()
    row = jobs.log.get(job.id)
    assert row.status == "service-rejected" and not row.is_done and row.charged_credits == 4


def test_a_settled_row_is_never_sent_again(outsider: Outsider, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(outsider, tmp_path, log_location)
    stale = jobs.log.add(idempotency_key="k-stale", backend="outsider", model="grok-imagine", category="image",
                         prompt="a fox", params={}, expected_credits=4)  # the follower read it while "submitting"
    jobs.submitter.send(stale)  # a page's send settles it
    assert jobs.submitter.send(stale).status == "queued"  # the follower's stale copy
    assert outsider.count("POST", "/api/v1/generations") == 1


def test_a_proxy_404_while_polling_does_not_fail_a_charged_job(
    outsider: Outsider, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(outsider, tmp_path, log_location)
    job = jobs.submit("grok-imagine", "a fox behind a balancer", {}, idempotency_key="k-404")
    time.sleep(0.1)
    outsider.polls.append((404, {"Content-Type": "text/html"}, b"<html>Not Found</html>"))
    jobs.follow_once()
    assert not jobs.log.get(job.id).is_done
    assert follow(jobs, job.id).status == "succeeded"


def test_a_result_that_cannot_be_written_records_why(outsider: Outsider, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(outsider, tmp_path, log_location)
    jobs.media_dir.parent.mkdir(parents=True, exist_ok=True)
    jobs.media_dir.write_text("a file where the media folder should be")  # every save fails with an OSError
    done = follow(jobs, jobs.submit("grok-imagine", "an unsaved fox", {}, idempotency_key="k-disk").id)
    assert done.status == "succeeded" and done.media_error and not done.awaits_media


def test_a_rate_limited_create_pauses_everyone_for_retry_after(
    outsider: Outsider, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(outsider, tmp_path, log_location)
    outsider.creates.append(json_reply(429, {"error": {"code": "rate_limited", "message": "Slow down."}}, {"Retry-After": "1"}))
    job = jobs.submit("grok-imagine", "a hurried fox", {}, idempotency_key="k-429")
    assert job.status == JobStatus.SUBMITTING
    paused = time.monotonic()
    while time.monotonic() - paused < 0.8:
        assert jobs.follow_once() == 0
        time.sleep(0.1)
    assert follow(jobs, job.id).status == "succeeded"


def test_keys_that_cannot_go_in_a_header_are_refused_plainly() -> None:
    with pytest.raises(InvalidInputError, match="plain letters") as caught:
        RivyaClient("rvya_sk_…pasted", "http://127.0.0.1:9")
    assert "pasted" not in str(caught.value)


def test_sessions_of_finished_threads_are_not_kept(outsider: Outsider) -> None:
    import gc

    client = RivyaClient(KEY, outsider.url)
    threads = [threading.Thread(target=client.get_credits) for _ in range(30)]
    for t in threads:
        t.start()
        t.join()
    gc.collect()
    assert len(client._sessions) <= 1
    client.close()
