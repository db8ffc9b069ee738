"""Batches and budgets at the service: one press of N takes is N jobs or none, for the team and per person."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rivya import InsufficientCreditsError, RivyaClient
from rivya.budgets import day_start
from rivya.config import load_settings
from rivya.errors import SpendLimitError
from rivya.jobs import JobService
from rivya.ledger import LedgerView
from rivya.lineage import lineage
from rivya.messages import batch_costs, explain, explain_batch
from rivya.people import Person, is_admin, person_id, star_owner
from rivya.sandbox import Sandbox
from rivya.stars import set_star, starred
from rivya.tasklog import TaskLog

from .conftest import FAST_POLLS, creates

ANN = Person("ann@example.com", "Ann")
BOB = Person("bob@example.com", "Bob")


def service(sandbox: Sandbox, tmp_path: Path, where: Path | str) -> JobService:
    """A service on the log at ``where`` (the ``log_location`` fixture: each test runs on SQLite and PostgreSQL)."""
    client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS)
    return JobService(client, TaskLog(where), tmp_path / "media", backend="sandbox")


def test_a_batch_is_n_jobs_with_their_own_keys_and_one_batch_id(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    made = jobs.submit_batch("grok-imagine", "three foxes", {}, keys=["p-0", "p-1", "p-2"], person=ANN)
    assert [j.idempotency_key for j in made] == ["p-0", "p-1", "p-2"] and len(creates(sandbox)) == 3
    assert len({j.batch_id for j in made}) == 1 and made[0].batch_id is not None
    assert {j.person for j in made} == {ANN.id} and {j.person_name for j in made} == {"Ann"}
    again = jobs.submit_batch("grok-imagine", "three foxes", {}, keys=["p-0", "p-1", "p-2"], person=ANN)
    assert [j.id for j in again] == [j.id for j in made] and len(creates(sandbox)) == 3  # a rerun is never a second batch


def test_a_batch_over_the_team_budget_is_refused_whole(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    with pytest.raises(SpendLimitError) as refused:
        jobs.submit_batch("grok-imagine", "three foxes", {}, keys=["b-0", "b-1", "b-2"], daily_budget=8)
    assert (refused.value.cost, refused.value.used, refused.value.whose) == (12, 0, "team")
    assert jobs.log.count() == 0 and len(creates(sandbox)) == 0
    assert len(jobs.submit_batch("grok-imagine", "two foxes", {}, keys=["c-0", "c-1"], daily_budget=8)) == 2


def test_each_person_has_their_own_budget_beside_the_team(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    rules = {"daily_budget": 100, "person_budget": 8}
    jobs.submit_batch("grok-imagine", "ann's", {}, keys=["a-0", "a-1"], person=ANN, **rules)
    with pytest.raises(SpendLimitError) as refused:
        jobs.submit("grok-imagine", "ann's third", {}, idempotency_key="a-2", person=ANN, **rules)
    assert refused.value.whose == "Ann" and (refused.value.used, refused.value.budget) == (8, 8)
    assert "Ann's daily budget of 8 credits (8 used today, 0 left" in explain(refused.value).title
    assert jobs.submit("grok-imagine", "bob's", {}, idempotency_key="b-0", person=BOB, **rules).person == BOB.id


def test_two_people_racing_never_pass_their_budgets(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    refused: dict[str, int] = {ANN.id: 0, BOB.id: 0}

    def press(n: int) -> None:
        person = (ANN, BOB)[n % 2]
        try:
            jobs.submit_batch("grok-imagine", f"race {n}", {}, keys=[f"r{n}-0", f"r{n}-1"], person=person,
                              person_budget=16, daily_budget=1000)
        except SpendLimitError:
            refused[person.id] += 1

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(press, range(12)))
    since = day_start("UTC")
    assert jobs.log.committed_credits_since(since, person=ANN.id) == 16
    assert jobs.log.committed_credits_since(since, person=BOB.id) == 16
    assert refused == {ANN.id: 4, BOB.id: 4} and len(sandbox.state.tasks) == 8


def test_replicas_racing_on_one_log_never_pass_the_team_budget(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    """Three services, each with its own connections and its own in-process lock, as three app replicas have: only the
    log's exclusive write transaction (SQLite ``BEGIN IMMEDIATE``, PostgreSQL's advisory lock) keeps the budget."""
    replicas = [service(sandbox, tmp_path, log_location) for _ in range(3)]
    refused: list[int] = []

    def press(n: int) -> None:
        try:
            replicas[n % 3].submit_batch("grok-imagine", f"race {n}", {}, keys=[f"x{n}-0", f"x{n}-1"], daily_budget=20)
        except SpendLimitError:
            refused.append(n)

    with ThreadPoolExecutor(15) as pool:
        list(pool.map(press, range(15)))
    assert replicas[0].log.committed_credits_since(day_start("UTC")) == 16  # two batches of 8; a third would pass 20
    assert len(refused) == 13 and len(sandbox.state.tasks) == 4


def test_budget_days_start_at_midnight_of_the_budget_zone() -> None:
    now = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)
    assert day_start("UTC", now) == "2026-03-10T00:00:00.000+00:00"
    assert day_start("America/New_York", now) == "2026-03-09T04:00:00.000+00:00"  # still the 9th there, on summer time
    assert day_start("Asia/Tokyo", now) == "2026-03-09T15:00:00.000+00:00"


def test_team_settings_are_read_and_bad_ones_named() -> None:
    settings = load_settings({"ADMINS": ["Ann@Example.com", " "], "BUDGET_TIMEZONE": "Europe/Berlin",
                              "PERSON_DAILY_BUDGET": "40"}, environ={})
    assert settings.admins == {"ann@example.com"} and settings.budget_timezone == "Europe/Berlin"
    assert settings.person_daily_budget == 40 and settings.notify_webhook_url is None
    assert load_settings({}, environ={"ADMINS": "a@x.org,b@x.org"}).admins == {"a@x.org", "b@x.org"}
    with pytest.raises(ValueError, match="BUDGET_TIMEZONE 'Mars/Base'"):
        load_settings({"BUDGET_TIMEZONE": "Mars/Base"}, environ={})
    with pytest.raises(ValueError, match="PERSON_DAILY_BUDGET must be a whole number"):
        load_settings({"PERSON_DAILY_BUDGET": "lots"}, environ={})
    assert "hooks.example" not in repr(load_settings({"NOTIFY_WEBHOOK_URL": "https://hooks.example/T0/B0/x"}, environ={}))


def test_people_from_tokens() -> None:
    issuer = "https://id.example"
    ann = Person.from_claims({"iss": issuer, "email": "Ann@Example.com", "email_verified": True, "name": "Ann", "sub": "1"})
    assert (ann.id, ann.name, ann.email) == (person_id(issuer, "1"), "Ann", "ann@example.com")
    assert Person.from_claims({"iss": issuer, "sub": "abc"}) == Person(person_id(issuer, "abc"), "Account abc", None, "abc")
    assert Person.from_claims({"name": "nobody", "iss": issuer}) is None
    assert Person.from_claims({"sub": "abc"}) is None  # no issuer: not a token a provider signed
    # An address the provider has not verified is not who someone is (anyone could register the admin's).
    assert Person.from_claims({"iss": issuer, "email": "boss@example.com", "email_verified": False, "sub": "x1"}).email is None
    assert Person.from_claims({"iss": issuer, "email": "boss@example.com", "email_verified": "false", "sub": "x1"}).email is None
    assert is_admin(ann, frozenset({"ann@example.com"})) and not is_admin(None, frozenset({""}))
    assert not is_admin(ann, frozenset({ann.id})) and not is_admin(BOB, frozenset({ANN.id}))
    assert star_owner(None) == "" and star_owner(ann) == ann.id


def test_stars_are_per_person_and_lineage_goes_both_ways(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    image = jobs.submit("grok-imagine", "a still", {}, idempotency_key="img")
    video = jobs.submit("grok-imagine-video", "it moves", {}, idempotency_key="vid", parent_id=image.id)
    set_star(jobs.log, image.id, ANN.id, True)
    set_star(jobs.log, image.id, ANN.id, True)  # twice is once
    set_star(jobs.log, image.id, BOB.id, True)
    set_star(jobs.log, image.id, BOB.id, False)
    assert starred(jobs.log, [image.id, video.id], ANN.id) == {image.id} and starred(jobs.log, [image.id], BOB.id) == set()
    down, up = lineage(jobs.log, image), lineage(jobs.log, video)
    assert [j.id for j in down.children] == [video.id] and down.ancestors == []
    assert [j.id for j in up.ancestors] == [image.id] and up.children == []
    assert up.total_credits == down.total_credits == image.charged_credits + video.charged_credits > 0


def test_a_refused_first_take_never_marks_takes_rivya_made_as_not_started(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    """The first create is slow; meanwhile the follower sends the other takes (made, charged), then the wallet empties
    and the first is refused. Each take keeps its own outcome: the made ones are followed and counted as charged."""
    jobs = service(sandbox, tmp_path, log_location)
    real = jobs.client.create_generation

    def slow_first(model: str, prompt: str, params: dict, *, idempotency_key: str, **options: object) -> object:
        if idempotency_key == "k-0":
            for key in ("k-1", "k-2"):  # what the follower does with rows still sending after RESEND_GRACE
                jobs.submitter.send(jobs.log.by_key(key))
            sandbox.state.set_credits(0)
        return real(model, prompt, params, idempotency_key=idempotency_key, **options)

    jobs.client.create_generation = slow_first
    with pytest.raises(InsufficientCreditsError):
        jobs.submit_batch("grok-imagine", "three foxes", {}, keys=["k-0", "k-1", "k-2"])
    first, *made = (jobs.log.by_key(k) for k in ("k-0", "k-1", "k-2"))
    assert first.status == "rejected" and first.task_id is None and first.charged_credits == 0
    assert all(j.status == "queued" and j.task_id in sandbox.state.tasks and j.charged_credits == 4 for j in made)


def test_a_take_the_follower_sends_into_an_empty_wallet_is_not_charged(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    """Four takes, a wallet for two. The page's first create is slow, so the running follower sends the other three
    itself: two are made, one is refused on its first send, then the page's own take is refused too. Whoever sent a
    take, a refusal of its first send is "not started": the budgets, History and the batch's words all say what the
    wallet lost (8, not 12), and the page's summary says what each take cost, never "Nothing was charged"."""
    sandbox.set_credits(8)
    jobs = service(sandbox, tmp_path, log_location)
    keys = ["w-1", "w-2", "w-3", "w-4"]
    real = jobs.client.create_generation

    def slow_first(model: str, prompt: str, params: dict, *, idempotency_key: str, **options: object) -> object:
        if idempotency_key == keys[0]:  # the page's first send waits until the follower has settled the others
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(jobs.log.by_key(k).status == "submitting" for k in keys[1:]):
                time.sleep(0.05)
        return real(model, prompt, params, idempotency_key=idempotency_key, **options)

    jobs.client.create_generation = slow_first  # the follower's sends go through it too, unhindered
    jobs.start()
    try:
        with pytest.raises(InsufficientCreditsError) as refused:
            jobs.submit_batch("grok-imagine", "four foxes", {}, keys=keys)
    finally:
        jobs.stop()
    takes = [jobs.log.by_key(k) for k in keys]
    made = [j for j in takes if j.task_id is not None]
    assert len(made) == 2 and {j.task_id for j in made} == set(sandbox.state.tasks)
    assert [j.status for j in takes if j not in made] == ["rejected", "rejected"]
    assert {j.error_code for j in takes if j not in made} == {"insufficient_credits"}
    spent = 8 - sandbox.balance()
    assert spent == 8
    assert jobs.log.committed_credits_since(day_start("UTC")) == spent  # the daily budgets
    assert LedgerView(jobs.log).figures().spent_all_time == spent  # History
    each = " · ".join(f"take {n}: {'4' if j in made else 'nothing, refused'}" for n, j in enumerate(takes, start=1))
    assert batch_costs(takes) == f"8 credits ({each})"  # the batch's header on the page
    words = explain_batch(refused.value, takes)  # the page's headline for the press
    assert f"This press: 8 credits ({each})." in words.action and "nothing was charged" not in words.action.lower()
    assert "Top up the Rivya wallet" in words.action
    assert [j.sends for j in takes] == [1, 1, 1, 1]  # each sent once: the page sent only take 1, the follower the rest


def test_the_words_for_a_batch_say_what_each_take_cost_whatever_its_state() -> None:
    from .test_cards import job_row

    takes = [job_row(3, "b", status="submitting", final_credits=None), job_row(1, "b", status="rejected"),
             job_row(2, "b", status="unconfirmed", final_credits=None), job_row(4, "b", status="failed", final_credits=0)]
    assert batch_costs(takes) == ("8 credits (take 1: nothing, refused · take 2: 4, may have been charged · "
                                  "take 3: up to 4, not confirmed yet · take 4: 0, failed)")
    refusal = InsufficientCreditsError("Top up.", status_code=402, code="insufficient_credits")
    assert explain_batch(refusal, []) == explain(refusal)  # nothing logged: nothing sent, the single-job words hold
