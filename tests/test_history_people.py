"""History for a team: "Mine" and "Favourites", spend per person (and the admins' table), selected-row actions, times."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from rivya import ledger
from rivya.people import ID_PREFIX, distinct_names, maker_name, person_id
from rivya.sandbox import Sandbox
from rivya.stars import set_star
from ui.history import TABLE
from ui.text import md_escape

from .conftest import APP, FAST_TIMING, figure_text, figures, image_bytes, parent_of
from .test_history import SQLITE_ONLY, app_log, download_bytes, keep_media_manager  # noqa: F401 - an autouse fixture

ISSUER = "https://id.example"
ANA = {"is_logged_in": True, "iss": ISSUER, "sub": "ana-1", "email": "ana@example.com", "email_verified": True, "name": "Ana"}
BO = {"is_logged_in": True, "iss": ISSUER, "sub": "bo-2", "email": "bo@example.com", "email_verified": True, "name": "Bo"}
# An account whose subject is Ana's address, with no email claim: before ids were keyed by issuer and subject, it was Ana.
NOT_ANA = {"is_logged_in": True, "iss": ISSUER, "sub": "ana@example.com"}
AUTH = {"auth": {"redirect_uri": "http://127.0.0.1/oauth2callback", "cookie_secret": "s" * 32, "client_id": "studio",
                 "client_secret": "x", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"},
        "ALLOWED_EMAIL_DOMAINS": ["example.com"]}

# (person, name, minutes ago, model, status, credits, starred by): the newest first
SEED = [
    ("ana@example.com", "Ana", 1, "grok-imagine", "succeeded", 4, ["ana@example.com"]),
    ("bo@example.com", "Bo", 2, "grok-imagine-video", "succeeded", 10, ["ana@example.com", "bo@example.com"]),
    (None, None, 3, "grok-imagine", "succeeded", 4, [""]),
    ("ana@example.com", "Ana", 3 * 24 * 60, "grok-imagine-video", "succeeded", 10, []),
    ("ana@example.com", "Ana", 30 * 24 * 60, "grok-imagine", "failed", 4, []),
]


@pytest.fixture
def seeded(point_app, log_location: Path | str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The log above (each result saved as a real PNG) on each engine, budgets reset in Los Angeles, Ana an admin."""
    monkeypatch.setenv("BUDGET_TIMEZONE", "America/Los_Angeles")
    monkeypatch.setenv("ADMINS", "Ana@Example.com")
    monkeypatch.setenv("PERSON_DAILY_BUDGET", "50")
    monkeypatch.setenv("DAILY_CREDIT_BUDGET", "100")
    with Sandbox(timing=FAST_TIMING) as sandbox:
        data = point_app(sandbox.url, sandbox.api_key)
        log = app_log(log_location, data, monkeypatch)
        ids, now = [], datetime.now(UTC)  # read when seeding: a run may cross the budgets' midnight
        for n, (person, name, minutes, model, status, credits, stars) in reversed(list(enumerate(SEED))):
            media = data / "media" / f"seeded-{n}.png"
            media.parent.mkdir(exist_ok=True)
            media.write_bytes(image_bytes("PNG", (64, 48), "purple"))
            submitted = (now - timedelta(minutes=minutes)).isoformat(timespec="milliseconds")
            job = log.add(idempotency_key=f"seed-{n}", backend="seeded", model=model, prompt=f"seeded {n}", params={},
                          category="video" if "video" in model else "image", submitted_at=submitted,
                          person=person, person_name=name)
            final = credits if status == "succeeded" else 2  # the failed job is charged 2 of its 4
            log.update(job.id, status=status, reserved_credits=credits, final_credits=final, task_id=f"t{n}",
                       finished_at=submitted, media_paths=[str(media)] if status == "succeeded" else [])
            for owner in stars:
                set_star(log, job.id, owner, True)
            ids.append(job.id)
        log.close()
        yield ids[::-1]  # newest first, as SEED


def history(user: dict | None, *, timezone: str | None = None, **settings: object) -> AppTest:
    """The History page as ``user`` sees it (None: sign-in not configured), from a browser in ``timezone``; ``settings``
    replace the secrets' allow-list."""
    at = AppTest.from_file(APP, default_timeout=30)
    if user is not None:
        at.secrets.update({k: v for k, v in AUTH.items() if not settings or k == "auth"} | settings)
        at.user = user
    if timezone:
        at.context = {"timezone": timezone}
    at.run()
    at.switch_page("pages/history.py").run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> str:
    return next(c.value for c in at.caption if "jobs, newest first" in c.value)


def table_ids(at: AppTest, seeded: list[int]) -> list[int]:
    prompts = list(at.dataframe[0].value["prompt"])
    return [seeded[int(p.split()[-1])] for p in prompts]


def test_mine_and_favourites_for_a_signed_in_person(seeded: list[int]) -> None:
    at = history(BO)
    assert at.pills(key="history:only").options == ["Favourites", "Mine", "Grids"]
    at.pills(key="history:only").set_value(["Mine"]).run()
    assert shown(at).startswith("1 of 5 jobs") and table_ids(at, seeded) == [seeded[1]]
    at.pills(key="history:only").set_value(["Favourites"]).run()
    assert table_ids(at, seeded) == [seeded[1]]  # Bo starred only his own video
    at = history(ANA)
    at.pills(key="history:only").set_value(["Favourites"]).run()
    assert table_ids(at, seeded) == [seeded[0], seeded[1]]
    at.pills(key="history:only").set_value(["Favourites", "Mine"]).run()
    assert shown(at).startswith("1 of 5 jobs") and table_ids(at, seeded) == [seeded[0]]


def test_without_sign_in_favourites_are_the_teams_and_there_is_no_mine(seeded: list[int]) -> None:
    at = history(None)
    assert at.pills(key="history:only").options == ["Favourites", "Grids"]
    at.pills(key="history:only").set_value(["Favourites"]).run()
    assert table_ids(at, seeded) == [seeded[2]]
    labels = set(figures(at))
    assert "Your spend today" not in labels and "Your budget used today" not in labels
    assert "Spend per person" not in [t.label for t in at.tabs]


def test_own_spend_budgets_and_the_admins_table(seeded: list[int]) -> None:
    at = history(ANA)
    metrics = figures(at)
    assert (metrics["Your spend today"], metrics["Your spend, last 7 days"], metrics["Your spend, all time"]) == ("4", "14", "16")
    assert metrics["Your budget used today"] == "4 / 50" and metrics["Team budget used today"] == "18 / 100"
    notes = figure_text(at).splitlines()
    assert notes.count("Resets at midnight") == 2
    # One calendar: the team's "Spent today" counts the days the team budget does, and says whose days they are.
    assert notes.count("Days run midnight to midnight, America/Los_Angeles.") == 1
    assert metrics["Spent today"] == "18"
    assert "Spend per person" in [t.label for t in at.tabs]
    assert len(at.dataframe) == 1  # the table per person is built only while its tab is open
    at.session_state["history:tab"] = "Spend per person"
    at.run()
    people = next(d.value for d in at.dataframe if "person" in d.value.columns)
    assert people.to_dict("records") == [
        {"person": "Ana", "jobs": 3, "today": 4, "week": 14, "ever": 16},
        {"person": "Bo", "jobs": 1, "today": 10, "week": 10, "ever": 10},
        {"person": "Nobody signed in", "jobs": 1, "today": 4, "week": 4, "ever": 4},
    ]  # Ana's rows are keyed by her hashed id: the table names her, and shows no account codes
    bo = history(BO)
    assert "Spend per person" not in [t.label for t in bo.tabs]  # only ADMINS see everyone's spend
    assert figures(bo)["Your spend today"] == "10"


@SQLITE_ONLY
def test_times_are_shown_in_the_viewers_time_zone(seeded: list[int]) -> None:
    at = history(None, timezone="Asia/Kolkata")
    newest = at.dataframe[0].value["submitted"].iloc[0]
    from ui.services import get_studio

    logged = datetime.fromisoformat(get_studio().log.get(seeded[0]).submitted_at)
    expected = logged.astimezone(ZoneInfo("Asia/Kolkata")).replace(tzinfo=None)
    assert abs(newest - expected) < timedelta(seconds=1)
    assert "Submitted (Asia/Kolkata)" in str(at.dataframe[0].proto)
    utc = history(None)
    assert "Submitted (UTC)" in str(utc.dataframe[0].proto)


def jobs_table(at: AppTest):
    return next(d for d in at.dataframe if "history:table" in d.proto.id)


def select(at: AppTest, rows: list[int]) -> None:
    """Select ``rows`` as a click would: through the table's widget key."""
    at.session_state[TABLE] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception


@SQLITE_ONLY
def test_a_filter_change_clears_the_selection_rather_than_moving_it_to_another_job(seeded: list[int]) -> None:
    at = history(None)
    select(at, [1])
    assert any("Selected job" in h.value for h in at.subheader)
    table = jobs_table(at).proto.id
    at.multiselect(key="history:models").set_value(["grok-imagine"]).run()  # row 1 is now another job
    assert not any("Selected job" in h.value for h in at.subheader)
    # The same table, its rows replaced (the browser updates a table in place; a new key would build a new one).
    assert jobs_table(at).proto.id == table and jobs_table(at).proto.selection_state
    assert not [b for b in at.button if b.key == "history:compare"] and not at.exception


@SQLITE_ONLY
def test_table_columns_status_words_and_the_selected_jobs_card(seeded: list[int]) -> None:
    at = history(None)
    table = jobs_table(at).value
    # The status beside the picture (a phone shows both without scrolling sideways); cost and returned, not the
    # service's reserved and final credits (those are in the CSV).
    assert list(table.columns[:3]) == ["result", "status", "prompt"] and table.columns[-1] == "params"
    assert not {"reserved", "final", "charged"} & set(table.columns) and "made_by" not in table.columns
    assert list(table["status"]) == ["Done", "Done", "Done", "Done", "Failed"]  # the cards' words
    assert list(table["cost"]) == [4, 10, 4, 10, 2]
    assert list(table["returned"].fillna(0)) == [0, 0, 0, 0, 2]  # the failed job was charged 2 of its 4
    csv = parent_of(at.main, lambda node: getattr(node, "proto", None) is not None
                    and str(getattr(node.proto, "id", "")).endswith("history:csv"))
    assert any("jobs, newest first" in str(getattr(c, "value", "")) for c in csv.children.values())  # beside the count
    select(at, [0])
    actions = parent_of(at.main, lambda node: getattr(node, "key", None) == "history:compare")
    # Compare, ZIP, note: no gaps (Animate is on the selected job's card, once)
    assert actions.type == "flex_container" and len(actions.children) == 3
    assert "Prompt and settings" not in [e.label for e in at.expander]  # the selected job's shown open
    # Raw settings and status checks are for admins only (nobody is one without sign-in).
    assert "Details for admins" not in [e.label for e in at.expander]
    assert not any("Status checks" in c.value or "polls" in c.value for c in at.caption)
    admin = history(ANA)
    select(admin, [0])
    assert "Details for admins" in [e.label for e in admin.expander]
    assert "Status checks with Rivya: 0" in [c.value for c in admin.caption]


@SQLITE_ONLY
def test_figures_wrap_and_the_charts_name_their_measures(seeded: list[int]) -> None:
    at = history(None)
    row = next(block.value for block in at.html if "<dt>Spent today</dt>" in block.value)
    # A wrapping row, not five columns (which a phone stacks one per row): the figures go two per row there.
    assert row.count('class="studio-figure"') == 5 and ".studio-figures{display:flex;flex-wrap:wrap" in row
    at.session_state["history:tab"] = "Charts"
    at.run()
    import json

    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    status_colour = specs[1]["encoding"]["color"]["scale"]
    assert dict(zip(status_colour["domain"], status_colour["range"], strict=True))["Failed"] == "#d62728"
    assert "9 in 10 finished within" in str(at.get("vega_lite_chart")[2].proto)


@SQLITE_ONLY
def test_selected_rows_offer_compare_animate_and_a_zip(seeded: list[int]) -> None:
    at = history(None)
    select(at, [0])
    assert at.button(key="history:compare").disabled  # one result: nothing to compare with
    # One image result: Animate once, on the selected job's card (its row of actions), not again above the table.
    assert [b.key for b in at.button if b.label == "Animate"] == [f"history:animate:{seeded[0]}"]
    assert any("Selected job" in h.value for h in at.subheader)
    select(at, [0, 1, 2])
    assert not at.button(key="history:compare").disabled
    assert not [b for b in at.button if b.label == "Animate"]  # no card for three rows, and no Animate for them
    assert [b for b in at.get("download_button") if b.proto.id.endswith("history:zip")]
    select(at, [0, 4])  # the failed job has no result: no comparing it
    assert at.button(key="history:compare").disabled
    assert any("1 without a saved result" in c.value for c in at.caption)
    select(at, [1, 2])
    at.button(key="history:compare").click().run()
    assert not at.exception, at.exception


def test_a_subject_that_looks_like_an_email_is_not_that_person(seeded: list[int]) -> None:
    """An account whose subject is 'ana@example.com' and which has no email: let in only when any account may come
    in, and then not Ana: not an admin, none of her stars, none of her jobs as its own, her rows left where they are."""
    from ui.services import get_studio

    refused = history(NOT_ANA)  # the allow-list matches verified emails only
    assert "did not include an email address your provider has verified" in refused.error[0].value
    assert [b.label for b in refused.button] == ["Sign out"] and not figures(refused) and not refused.dataframe
    at = history(NOT_ANA, ALLOW_ANY_ACCOUNT=True)
    assert f"Signed in as **{md_escape('Account ana@example.com')}**" in [c.value for c in at.sidebar.caption]  # no admin
    assert "Spend per person" not in [t.label for t in at.tabs]
    assert figures(at)["Your spend, all time"] == "0"
    at.pills(key="history:only").set_value(["Favourites"]).run()
    assert shown(at).startswith("0 of 5 jobs")  # Ana starred two; none of them are this account's
    at.pills(key="history:only").set_value(["Mine"]).run()
    assert shown(at).startswith("0 of 5 jobs")
    assert [get_studio().log.get(i).person for i in seeded[:1]] == ["ana@example.com"]  # nothing moved to it
    ana = history(ANA, ALLOW_ANY_ACCOUNT=True)
    assert "Signed in as **Ana** · admin" in [c.value for c in ana.sidebar.caption]
    assert get_studio().log.get(seeded[0]).person == person_id(ISSUER, "ana-1")  # her own sign-in takes them over


def test_an_account_outside_the_allow_list_sees_plain_words_and_sign_out(seeded: list[int]) -> None:
    eve = {"is_logged_in": True, "iss": ISSUER, "sub": "eve-6", "email": "eve@evil-example.com", "email_verified": True}
    for user in (eve, {**eve, "email": "eve@example.com.evil.io"}, {**ANA, "email_verified": False}):
        at = history(user)
        assert not at.exception and "is open to its team only" in at.error[0].value
        assert [b.label for b in at.button] == ["Sign out"] and [t.value for t in at.title] == ["Imagine Studio"]
        assert not figures(at) and not at.dataframe and not at.sidebar.caption and not at.tabs
    assert "Sign out" in [b.label for b in history(ANA).sidebar.button]  # a listed, verified email comes in


def test_sign_in_without_an_allow_list_refuses_to_start(seeded: list[int]) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = AUTH["auth"]
    at.user = ANA
    at.run()
    assert not at.exception and "Imagine Studio cannot start" in at.error[0].value
    assert md_escape("set ALLOWED_EMAIL_DOMAINS or ALLOWED_EMAILS") in at.error[0].value
    assert not figures(at) and not at.button and not at.sidebar.caption


def test_maker_names_never_show_a_hashed_id() -> None:
    hashed = person_id(ISSUER, "zoe-9")
    assert maker_name(hashed, "Zoe") == "Zoe"
    assert maker_name(hashed, None) == "A signed-in person"  # no name given: never the key itself
    assert maker_name("bo@example.com", None) == "bo@example.com"  # a former id is an email people can read
    assert maker_name(None, None) == ""
    assert distinct_names(["Ana", "Bo", "Ana", "Ana"]) == ["Ana", "Bo", "Ana (2)", "Ana (3)"]


@SQLITE_ONLY
def test_made_by_in_the_table_and_the_csv_when_people_sign_in(seeded: list[int]) -> None:
    at = history(ANA)  # Ana's rows are claimed on sign-in: keyed by her hashed id from then on
    table = jobs_table(at)
    assert list(table.value["made_by"].fillna("")) == ["Ana", "Bo", "", "Ana", "Ana"]
    assert "Made by" in str(table.proto)
    assert ID_PREFIX not in table.value.drop(columns="result").to_csv()
    csv = pd.read_csv(io.BytesIO(download_bytes(at, "history:csv")), keep_default_na=False)
    assert list(csv.columns) == [*ledger.CSV_COLUMNS, ledger.MADE_BY]
    assert list(csv["made_by"]) == ["Ana", "Bo", "", "Ana", "Ana"]
    assert ID_PREFIX not in download_bytes(at, "history:csv").decode()
    anonymous = history(None)  # no sign-in: nobody to name, and the CSV keeps its columns
    assert "made_by" not in jobs_table(anonymous).value.columns
    csv = pd.read_csv(io.BytesIO(download_bytes(anonymous, "history:csv")))
    assert list(csv.columns) == ledger.CSV_COLUMNS


def chip_labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button if b.key.startswith("history:chip:")]


@SQLITE_ONLY
def test_hidden_filters_show_as_chips_that_remove_them(seeded: list[int]) -> None:
    at = history(None)
    statuses = at.multiselect(key="history:statuses")
    assert statuses.options == ["Done", "Failed"]  # the table's words, not the log's "succeeded"
    assert not chip_labels(at)  # nothing chosen: no chips
    statuses.set_value(["failed"]).run()
    assert shown(at).startswith("1 of 5 jobs") and chip_labels(at) == ["Status: Failed", "Clear filters"]
    at.text_input(key="history:text").input("seeded").run()
    assert chip_labels(at) == ["Status: Failed", "Words: seeded", "Clear filters"]
    at.button(key="history:chip:status:failed").click().run()  # removing the chip removes the filter
    assert at.multiselect(key="history:statuses").value == [] and shown(at).startswith("5 of 5 jobs")
    assert chip_labels(at) == ["Words: seeded", "Clear filters"]
    today = datetime.now(ZoneInfo("America/Los_Angeles")).date()  # the budgets' (and the filter's) days
    at.date_input(key="history:dates").set_value((today - timedelta(days=1), today)).run()
    assert shown(at).startswith("3 of 5 jobs")
    assert chip_labels(at)[0].startswith("Submitted ") and chip_labels(at)[1:] == ["Words: seeded", "Clear filters"]
    at.button(key="history:chip:dates").click().run()
    assert shown(at).startswith("5 of 5 jobs")
    # The model and "Show only" are under "More filters" too: chosen, they show as chips, counted on its label.
    at.multiselect(key="history:models").set_value(["grok-imagine"]).run()
    at.pills(key="history:only").set_value(["Grids"]).run()
    assert chip_labels(at) == ["Show only: Grids", "Model: Grok Imagine", "Words: seeded", "Clear filters"]
    assert shown(at).startswith("0 of 5 jobs")
    at.button(key="history:chip:only:Grids").click().run()
    assert at.pills(key="history:only").value == [] and chip_labels(at)[0] == "Model: Grok Imagine"
    at.button(key="history:chip:model:grok-imagine").click().run()
    assert at.multiselect(key="history:models").value == [] and shown(at).startswith("5 of 5 jobs")
    at.multiselect(key="history:models").set_value(["grok-imagine"]).run()
    at.multiselect(key="history:statuses").set_value(["succeeded"]).run()
    at.button(key="history:chip:all").click().run()  # everything at once
    assert shown(at).startswith("5 of 5 jobs") and not chip_labels(at)
    assert at.multiselect(key="history:models").value == [] and at.text_input(key="history:text").value == ""
