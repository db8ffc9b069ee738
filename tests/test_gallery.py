"""The Gallery: its queries and tags on both engines (a SQLite file, a PostgreSQL database), thumbnails on disk, and
the page under AppTest."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.testing.v1 import AppTest

from rivya import gallery, stars, tags
from rivya.constants import GALLERY_PAGE_SIZE
from rivya.errors import InvalidInputError
from rivya.gallery import GalleryFilter
from rivya.sandbox import Sandbox
from rivya.sandbox.render import render_mp4, render_png
from rivya.tasklog import Job, TaskLog
from rivya.thumbnails import BACKGROUND, TILE, thumbnail
from ui import large_view
from ui.session import SESSION

from .conftest import APP, FAST_TIMING, image_bytes, open_page
from .test_tasklog import explain

NOW = datetime.now(UTC).replace(microsecond=0)


def add_result(
    log: TaskLog, media_dir: Path, prompt: str, *, model: str = "grok-imagine", status: str = "succeeded",
    saved: bool = True, days_ago: float = 0, person: str | None = None, person_name: str | None = None,
    params: dict | None = None, parent_id: int | None = None, real: bool = False, credits: int = 4,
) -> Job:
    """One job in the log; a succeeded one with its result file saved under ``media_dir`` as the follower does.

    ``real`` renders the sandbox's own picture or clip of the prompt (for screenshots); otherwise a small PNG.
    """
    video = "video" in model
    job = log.add(
        idempotency_key=f"{prompt}-{log.count()}", backend="seeded", model=model, category="video" if video else "image",
        prompt=prompt, params=params or {"aspect_ratio": "1:1"}, person=person, person_name=person_name,
        parent_id=parent_id, submitted_at=(NOW - timedelta(days=days_ago)).isoformat(timespec="milliseconds"),
    )
    fields: dict = {"status": status, "reserved_credits": credits, "final_credits": credits}
    if status == "succeeded":
        fields["result_urls"] = [f"https://media.example/{job.id}"]
        if saved:
            media_dir.mkdir(parents=True, exist_ok=True)
            ratio = (params or {}).get("aspect_ratio", "1:1")
            if video:
                path, data = media_dir / f"{job.id}-0.mp4", render_mp4(prompt, ratio, "480p", 1)
            else:
                path, data = media_dir / f"{job.id}-0.png", render_png(prompt, ratio, False) if real else image_bytes()
            path.write_bytes(data)
            fields["media_paths"] = [str(path)]
    return log.update(job.id, **fields)


@pytest.fixture
def log(log_location: Path | str) -> Iterator[TaskLog]:
    """A fresh log on each engine, closed afterwards."""
    opened = TaskLog(log_location)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_log(tmp_path: Path) -> Iterator[TaskLog]:
    """A log for tests where it only holds a result to draw (thumbnails): the engine does not matter there."""
    opened = TaskLog(tmp_path / "tasklog.sqlite3")
    yield opened
    opened.close()


def ids(page: gallery.GalleryPage) -> list[int]:
    return [j.id for j in page.jobs]


# -- queries ------------------------------------------------------------------------------------


def test_only_saved_results_newest_first(log: TaskLog, tmp_path: Path) -> None:
    media = tmp_path / "media"
    old = add_result(log, media, "old fox")
    add_result(log, media, "failed fox", status="failed")
    add_result(log, media, "unsaved fox", saved=False)
    add_result(log, media, "queued fox", status="queued")
    new = add_result(log, media, "new fox", model="grok-imagine-video")
    page = gallery.results_page(log, GalleryFilter())
    assert ids(page) == [new.id, old.id] and page.next_before is None
    assert gallery.count_results(log, GalleryFilter()) == 2


def test_pages_by_keyset_do_not_shift_when_results_arrive(log: TaskLog, tmp_path: Path) -> None:
    made = [add_result(log, tmp_path / "media", f"result {n}").id for n in range(30)]
    first = gallery.results_page(log, GalleryFilter(), limit=12)
    assert ids(first) == made[::-1][:12] and first.next_before == made[-12]
    arrived = add_result(log, tmp_path / "media", "arrived meanwhile")
    second = gallery.results_page(log, GalleryFilter(), before=first.next_before, limit=12)
    third = gallery.results_page(log, GalleryFilter(), before=second.next_before, limit=12)
    assert ids(second) == made[::-1][12:24]
    assert ids(third) == made[::-1][24:] and third.next_before is None
    both = gallery.results_pages(log, GalleryFilter(), 2, limit=12)
    assert ids(both) == [arrived.id, *made[::-1][:23]] and both.next_before == made[-23]


@pytest.mark.parametrize("f", [
    GalleryFilter(), GalleryFilter(models=("grok-imagine",)), GalleryFilter(people=("ann@x.org",)),
    GalleryFilter(start=date(2026, 1, 1), end=date(2026, 2, 1), favourites_of=""),
])
def test_sqlite_page_is_read_newest_first_without_sorting_every_match(sqlite_log: TaskLog, f: GalleryFilter) -> None:
    where, args = gallery._where(sqlite_log, f)
    plan = explain(sqlite_log, f"SELECT * FROM jobs WHERE {where} ORDER BY id DESC LIMIT 25", args, driver_form=False)
    assert "TEMP B-TREE" not in plan and ("jobs_results" in plan or "jobs_status" in plan), plan


def test_postgresql_page_is_read_newest_first_without_sorting_every_result(postgres_url: str) -> None:
    """On a log of many results PostgreSQL's planner walks an id index backwards and stops after a page."""
    log = TaskLog(postgres_url)
    log.db.execute(
        """INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, model, category, prompt, params, status,
                             media_paths)
           SELECT 'bulk-' || n, 'b', '2025-01-01T00:00:00.000+00:00', '2025-01-01T00:00:00.000+00:00',
                  CASE WHEN n % 2 = 0 THEN 'grok-imagine' ELSE 'grok-imagine-video' END, 'image', 'result ' || n, '{}',
                  CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
                  CASE WHEN n % 10 = 0 THEN '[]' ELSE '["/m/' || n || '.png"]' END
           FROM generate_series(1, 5000) AS n"""
    )
    log.db.execute("ANALYZE jobs")
    for f in (GalleryFilter(), GalleryFilter(models=("grok-imagine",))):
        where, args = gallery._where(log, f)
        plan = explain(log, f"SELECT * FROM jobs WHERE {where} ORDER BY id DESC LIMIT 13", args, driver_form=False)
        assert "Backward" in plan and "Sort" not in plan and "Seq Scan" not in plan, plan
        assert len(gallery.results_page(log, f).jobs) == GALLERY_PAGE_SIZE
    log.close()


def test_filters(log: TaskLog, tmp_path: Path) -> None:
    media = tmp_path / "media"
    fox = add_result(log, media, "a red fox in the snow", person="ann@x.org", person_name="Ann", days_ago=10)
    lighthouse = add_result(log, media, "an old lighthouse at dusk", model="grok-imagine-video", person="bo@x.org",
                            person_name="Bo", days_ago=3)
    cat = add_result(log, media, "a sleepy cat", days_ago=0)
    tags.add_tag(log, cat.id, "Hero shot")
    stars.set_star(log, fox.id, "ann@x.org", True)
    stars.set_star(log, cat.id, "", True)

    def found(**kwargs) -> list[int]:
        return ids(gallery.results_page(log, GalleryFilter(**kwargs)))

    assert found(models=("grok-imagine-video",)) == [lighthouse.id]
    assert found(favourites_of="ann@x.org") == [fox.id]
    assert found(favourites_of="") == [cat.id]
    assert found(text="LIGHT") == [lighthouse.id]  # any case, and a word's start
    assert found(text="fox snow") == [fox.id]
    assert found(text="hero shot") == [cat.id]  # a tag, by its whole text
    assert found(text="fox dusk") == []
    assert found(text="!!!") == []  # punctuation only: no prompt word, and no such tag
    assert found(tag="hero SHOT") == [cat.id]
    assert found(people=("bo@x.org",)) == [lighthouse.id]
    today = NOW.date()
    assert found(start=today - timedelta(days=4), end=today - timedelta(days=1)) == [lighthouse.id]
    assert found(start=today) == [cat.id]
    assert found(models=("grok-imagine",), start=today - timedelta(days=30)) == [cat.id, fox.id]
    assert gallery.count_results(log, GalleryFilter(models=("grok-imagine",))) == 2


def test_filter_choices(log: TaskLog, tmp_path: Path) -> None:
    assert gallery.makers(log) == {} and gallery.result_models(log) == [] and gallery.result_days(log) == (None, None)
    add_result(log, tmp_path / "m", "one", days_ago=2)
    add_result(log, tmp_path / "m", "two", model="grok-imagine-video", person="bo@x.org", person_name="Bo")
    add_result(log, tmp_path / "m", "three", model="grok-imagine-video", status="failed", person="cy@x.org")
    add_result(log, tmp_path / "m", "four", person="al@x.org", person_name="al")
    # In the order of the names shown, any case; someone without a name goes by their id, in its place.
    assert list(gallery.makers(log).items()) == [("al@x.org", "al"), ("bo@x.org", "Bo"), ("cy@x.org", "cy@x.org")]
    assert gallery.result_models(log) == ["grok-imagine", "grok-imagine-video"]
    assert gallery.result_days(log) == ((NOW - timedelta(days=2)).date(), NOW.date())


def test_date_filter_counts_days_of_the_budget_zone(log_location: Path | str, tmp_path: Path) -> None:
    """A result made at 23:30 UTC on March 28 was made on March 29 in Berlin: its filter and bounds say so."""
    for zone, made, other in (("Europe/Berlin", date(2026, 3, 29), date(2026, 3, 28)),
                              ("UTC", date(2026, 3, 28), date(2026, 3, 29))):
        log = TaskLog(log_location, zone)
        try:
            if not log.count():
                job = log.add(idempotency_key="late", backend="b", model="grok-imagine", category="image",
                              prompt="a late fox", params={}, submitted_at="2026-03-28T23:30:00.000+00:00")
                log.update(job.id, status="succeeded", reserved_credits=4, final_credits=4,
                           result_urls=["https://media.example/1"], media_paths=[str(tmp_path / "1-0.png")])
            assert gallery.result_days(log) == (made, made)
            assert gallery.count_results(log, GalleryFilter(start=made, end=made)) == 1
            assert gallery.count_results(log, GalleryFilter(start=other, end=other)) == 0
            assert len(gallery.results_page(log, GalleryFilter(start=made, end=made)).jobs) == 1
        finally:
            log.close()


# -- thumbnails -----------------------------------------------------------------------------------


def test_thumbnail_is_made_once_and_kept(sqlite_log: TaskLog, tmp_path: Path) -> None:
    media = tmp_path / "media"
    job = add_result(sqlite_log, media, "a tall tower", params={"aspect_ratio": "9:16"}, real=True)
    original = gallery.result_file(job, media)
    thumb = thumbnail(original, TILE)
    assert thumb == media / "thumbs" / f"{original.name}.jpg"
    with Image.open(thumb) as image:  # the whole tall picture, letterboxed in the tile's box
        assert image.format == "JPEG" and image.size == TILE.box
        assert image.getpixel((2, 144)) == pytest.approx(BACKGROUND, abs=3)
        assert image.getpixel((192, 144)) != pytest.approx(BACKGROUND, abs=3)
    os.utime(thumb, (1_000_000, 1_000_000))
    original.write_bytes(b"not an image any more")  # a second making would fail: the kept file is returned
    assert thumbnail(original, TILE) == thumb and thumb.stat().st_mtime == 1_000_000
    assert not list((media / "thumbs").glob("*.part"))


def test_video_poster_is_its_first_frame(sqlite_log: TaskLog, tmp_path: Path) -> None:
    media = tmp_path / "media"
    job = add_result(sqlite_log, media, "waves", model="grok-imagine-video", params={"aspect_ratio": "16:9"})
    poster = thumbnail(gallery.result_file(job, media), TILE)
    with Image.open(poster) as image:  # 384 x 216 of picture, centred in the box
        assert image.format == "JPEG" and image.size == TILE.box
        assert image.getpixel((192, 10)) == pytest.approx(BACKGROUND, abs=3)
        assert image.getpixel((192, 144)) != pytest.approx(BACKGROUND, abs=3)


def test_unreadable_result_has_no_thumbnail(tmp_path: Path) -> None:
    broken = tmp_path / "media" / "1-0.png"
    broken.parent.mkdir()
    broken.write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    assert thumbnail(broken, TILE) is None
    assert not list((tmp_path / "media").rglob("*.jpg")) and not list((tmp_path / "media").rglob("*.part"))


# -- tags -----------------------------------------------------------------------------------------


def test_tags_add_remove_and_list(log: TaskLog, tmp_path: Path) -> None:
    a = add_result(log, tmp_path / "m", "a")
    b = add_result(log, tmp_path / "m", "b")
    assert tags.add_tag(log, a.id, "  client   A ") == "client A"
    tags.add_tag(log, a.id, "CLIENT a")  # the same tag in another case is kept once
    tags.add_tag(log, a.id, "best")
    tags.add_tag(log, b.id, "best")
    assert tags.tags_of(log, [a.id, b.id]) == {a.id: ["best", "client A"], b.id: ["best"]}
    assert tags.popular_tags(log) == [("best", 2), ("client A", 1)]
    tags.remove_tag(log, a.id, "Client A")
    tags.remove_tag(log, a.id, "never there")
    assert tags.tags_of(log, [a.id]) == {a.id: ["best"]} and tags.tags_of(log, []) == {}


@pytest.mark.parametrize("text", ["", "   ", "x" * 41])
def test_bad_tags_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        tags.clean_tag(text)


# -- the page -------------------------------------------------------------------------------------


@pytest.fixture
def seeded_app(point_app) -> Iterator[tuple[TaskLog, list[Job]]]:
    """The app pointed at a sandbox, its log holding 2 video results made 5 days ago, then 30 image results today."""
    with Sandbox(timing=FAST_TIMING) as sandbox:
        data = point_app(sandbox.url, sandbox.api_key)
        seeded_log = TaskLog(data / "tasklog.sqlite3")
        made = [add_result(seeded_log, data / "media", f"lighthouse clip {n}", model="grok-imagine-video", days_ago=5)
                for n in range(2)]
        made += [add_result(seeded_log, data / "media", f"picture number {n}") for n in range(30)]
        yield seeded_log, made
        seeded_log.close()


def tile_pages(at: AppTest) -> list:
    """The pages of tiles drawn (``ui/tiles.py``: one element each), as AppTest holds them."""
    return [e for e in at.get("bidi_component") if e.proto.component_name == "studio.gallery_tiles"]


def tiles_of(page) -> list[dict]:
    """One page's tiles, as it sent them to the browser."""
    return json.loads(page.proto.json)["tiles"]


def tile_data(at: AppTest) -> dict[int, dict]:
    """Each tile drawn, by result id, as its page sent it to the browser."""
    return {t["id"]: t for page in tile_pages(at) for t in tiles_of(page)}


def tiles(at: AppTest) -> list[int]:
    return list(tile_data(at))


def send_press(at: AppTest, job_id: int, event: object) -> AppTest:
    """Run the page with ``event`` as what ``job_id``'s page of tiles reports, as the browser sends it (``ui/tiles.js``:
    one trigger, ``press``, on the element's events widget; its value the list of presses since the tiles were drawn).

    AppTest has no class for a component, so this builds the browser's message with Streamlit's own private helpers
    (``_tree``, ``_run``, ``_make_trigger_id``): a Streamlit upgrade that moves them fails here first."""
    page = next(p for p in tile_pages(at) if any(t["id"] == job_id for t in tiles_of(p)))
    states = at._tree.get_widget_states()
    trigger = states.widgets.add()
    trigger.id = _make_trigger_id(page.proto.id, "events")
    trigger.json_trigger_value = json.dumps([{"event": "press", "value": event}])
    return at._run(states)


def press(at: AppTest, job_id: int, tool: str) -> AppTest:
    """One press on a tile's Star, Full size or Pick: Star and Pick ask for the other state than the one drawn."""
    on = tool == "full" or not tile_data(at)[job_id]["starred" if tool == "star" else "picked"]
    return send_press(at, job_id, [{"id": job_id, "tool": tool, "on": on}])


def pick(at: AppTest, job_id: int) -> AppTest:
    """Press a tile's Pick. That redraws the results part (a fragment), and AppTest then holds only its elements: the
    page is run again so the test can read the filters."""
    press(at, job_id, "pick")
    return at.run()


def is_on(at: AppTest, job_id: int, tool: str) -> bool:
    return tile_data(at)[job_id]["starred" if tool == "star" else "picked"]


def test_a_pick_is_counted_and_its_tile_drawn_picked(seeded_app) -> None:
    """A press draws the results part again, not the filters: the bar says what is picked, the tile shows it."""
    _, made = seeded_app
    at = open_page("pages/gallery.py")
    press(at, made[-1].id, "pick")
    assert any(c.value.startswith("**1 picked** (compare 2 to 4) · 32 results, newest first") for c in at.caption)
    assert not at.text_input and not at.toggle  # the filters are not drawn (sent) again
    assert is_on(at, made[-1].id, "pick") and at.session_state[SESSION].gallery_picked == [made[-1].id]
    at.run()
    at.button(key="gallery:clear").click().run()  # Clear unpicks every tile: the whole results part is drawn again
    assert not is_on(at, made[-1].id, "pick") and not at.session_state[SESSION].gallery_picked
    assert len(tiles(at)) == GALLERY_PAGE_SIZE


def test_a_press_the_page_did_not_offer_changes_nothing(seeded_app) -> None:
    """The browser reports presses; a forged or garbled one (a tile not shown, a tool that does not exist, a value of
    the wrong type) is dropped before anything acts on it."""
    log, made = seeded_app
    hidden, newest = made[0].id, made[-1].id  # the oldest is on a later page: not drawn
    at = open_page("pages/gallery.py")
    for event in ({"id": hidden, "tool": "star", "on": True}, {"id": hidden, "tool": "full", "on": True},
                  {"id": str(newest), "tool": "star", "on": True}, {"id": True, "tool": "pick", "on": True},
                  {"id": newest, "tool": "delete", "on": True}, {"id": newest, "tool": "star", "on": "yes"},
                  {"id": newest, "tool": ["star"], "on": True}, "star", None, [newest, "star", True]):
        for sent in ([event], event):  # in the list the browser sends, and in place of it
            send_press(at, newest, sent)
            assert not at.exception, sent
    assert stars.starred(log, [hidden, newest], "") == set()
    assert not at.session_state[SESSION].gallery_picked and "job" not in at.query_params
    send_press(at, newest, [{"id": newest, "tool": "star", "on": True}])  # the same press, well formed
    assert stars.starred(log, [newest], "") == {newest}


def test_presses_reported_together_are_all_kept(seeded_app) -> None:
    """Streamlit keeps only the newest report sent while a run is under way, so the browser sends every press made
    since the tiles were drawn (``ui/tiles.js``): two picks and a star, then the same again with one more pick."""
    log, made = seeded_app
    first, second, third = (j.id for j in made[-1:-4:-1])
    at = open_page("pages/gallery.py")
    earlier = [{"id": first, "tool": "pick", "on": True}, {"id": second, "tool": "star", "on": True},
               {"id": second, "tool": "pick", "on": True}]
    send_press(at, first, earlier)
    assert at.session_state[SESSION].gallery_picked == [first, second]
    assert stars.starred(log, [first, second], "") == {second}
    send_press(at, first, [*earlier, {"id": third, "tool": "pick", "on": True}])  # the first three again: no change
    assert at.session_state[SESSION].gallery_picked == [first, second, third]
    assert [t for t in tiles(at) if is_on(at, t, "pick")] == [first, second, third]
    assert any("**3 picked** · " in c.value for c in at.caption)


def test_page_shows_newest_and_loads_more(seeded_app) -> None:
    _, made = seeded_app
    at = open_page("pages/gallery.py")
    assert tiles(at) == [j.id for j in made[::-1][: GALLERY_PAGE_SIZE]]
    assert any(f"{GALLERY_PAGE_SIZE} of 32 results" in c.value for c in at.caption)
    while [b for b in at.button if b.key == "gallery:more"]:  # until nothing is left to load
        shown = len(tiles(at))
        at.button(key="gallery:more").click().run()
        assert len(tiles(at)) == min(shown + GALLERY_PAGE_SIZE, len(made))
    assert tiles(at) == [j.id for j in made[::-1]]


def filters(at: AppTest) -> AppTest:
    """A filter change reruns only the results part (a fragment), and AppTest then holds only its elements: the page
    is run again to reach the filters."""
    return at.run()


def test_page_filters_by_prompt_words(seeded_app) -> None:
    _, made = seeded_app
    at = open_page("pages/gallery.py")
    at.text_input(key="gallery:text").set_value("lighthouse").run()
    assert tiles(at) == [made[1].id, made[0].id]
    assert not at.text_input and not at.toggle  # the filters are not drawn (sent) again for a search
    filters(at).text_input(key="gallery:text").set_value("no such words").run()
    assert not tiles(at) and "No results match" in at.info[0].value


def test_star_from_a_tile_is_kept_in_the_log(seeded_app) -> None:
    log, made = seeded_app
    newest = made[-1].id
    at = open_page("pages/gallery.py")
    press(at, newest, "star")
    assert stars.starred(log, [newest], "") == {newest}
    at.run()
    assert is_on(at, newest, "star") and not is_on(at, made[-2].id, "star")
    at.toggle(key="gallery:favourites").set_value(True).run()
    assert tiles(at) == [newest]
    press(at, newest, "star")
    assert stars.starred(log, [newest], "") == set()
    assert not tiles(at)  # unstarred under "Favourites only": it leaves the grid


def test_page_filters_by_model_and_dates(seeded_app) -> None:
    _, made = seeded_app
    at = open_page("pages/gallery.py")
    at.button_group(key="gallery:models").set_value(["grok-imagine-video"]).run()
    assert tiles(at) == [made[1].id, made[0].id]
    filters(at).button_group(key="gallery:models").set_value([]).run()
    days_ago_5 = (NOW - timedelta(days=5)).date()
    filters(at).date_input(key="gallery:dates").set_value((days_ago_5, days_ago_5 + timedelta(days=1))).run()
    assert tiles(at) == [made[1].id, made[0].id]
    filters(at).date_input(key="gallery:dates").set_value((NOW.date(), NOW.date())).run()
    assert len(tiles(at)) == GALLERY_PAGE_SIZE and made[0].id not in tiles(at)


def test_open_shows_the_large_view_and_puts_the_result_in_the_address(seeded_app) -> None:
    _, made = seeded_app
    newest = made[-1]
    at = open_page("pages/gallery.py")
    press(at, newest.id, "full")
    assert at.query_params["job"] == str(newest.id)
    assert any(c.value == newest.prompt for c in at.code)
    assert any("**4 credits**" in m.value for m in at.markdown)
    # The tile's Full size leads to the whole row of actions, as on a card (less Full size: it is shown large)
    keys = {b.key for b in at.button} | {b.key for b in at.get("download_button")}
    assert {f"large:{name}:{newest.id}" for name in ("star", "animate", "download", "reuse")} <= keys
    assert f"large:full:{newest.id}" not in keys
    # Copy link, the row's own button (ui.actions.copy_link_button), which copies this address
    assert any(f'data-copy-link="/gallery?job={newest.id}"' in h.proto.body for h in at.get("html"))


def test_a_link_opens_its_result_and_an_unknown_one_says_so(seeded_app) -> None:
    _, made = seeded_app
    at = open_page("pages/gallery.py")
    at.query_params["job"] = str(made[3].id)
    at.run()
    assert any(c.value == made[3].prompt for c in at.code)
    fresh = open_page("pages/gallery.py")
    fresh.query_params["job"] = "9999"
    fresh.run()
    assert any("There is no result #9999" in w.value for w in fresh.warning)
    for odd in ("\u00b2", "99999999999999999999", "-3", "1e3"):  # a digit Python's int() reads, one past SQLite's range
        page = open_page("pages/gallery.py")
        page.query_params["job"] = odd
        page.run()
        assert not page.exception and any("not a result number" in w.value for w in page.warning), odd


def test_large_view_tags_and_lineage(seeded_app) -> None:
    log, made = seeded_app
    image = made[-1]
    clip = add_result(log, log.path.parent / "media", "the picture, moving", model="grok-imagine-video",
                      parent_id=image.id, credits=10, params={"aspect_ratio": "2:3"})
    at = open_page("pages/gallery.py")
    at.query_params["job"] = str(image.id)
    at.run()
    assert any("whole chain cost **14 credits**" in m.value for m in at.markdown)
    assert any(b.label.startswith(f"Animated into: #{clip.id}") for b in at.button)
    assert not any("made by" in m.value for m in at.markdown)  # nobody signed in: no maker named
    at.multiselect(key=f"large:tags:{image.id}").select("Hero shot").run()
    assert tags.tags_of(log, [image.id]) == {image.id: ["Hero shot"]}
    at.multiselect(key=f"large:tags:{image.id}").unselect("Hero shot").run()
    assert tags.tags_of(log, [image.id]) == {}
    at.button(key=f"large:chain:{image.id}:{clip.id}").click().run()
    assert any(b.label.startswith(f"Source image: #{image.id}") for b in at.button)
    # A tall clip is drawn at most MAX_MEDIA_PX high, so the controls beside and under it stay in view.
    assert at.get("video")[0].proto.width_config.pixel_width == round(large_view.MAX_MEDIA_PX * 2 / 3)


def test_made_by_is_offered_only_once_people_exist(point_app) -> None:
    with Sandbox(timing=FAST_TIMING) as sandbox:
        data = point_app(sandbox.url, sandbox.api_key)
        log = TaskLog(data / "tasklog.sqlite3")
        add_result(log, data / "media", "nobody's")
        at = open_page("pages/gallery.py")
        assert not [m for m in at.multiselect if m.key == "gallery:people"]
        ann = add_result(log, data / "media", "ann's", person="ann@x.org", person_name="Ann")
        add_result(log, data / "media", "bo's", person="bo@x.org", person_name="Bo")
        at.run()
        made_by = at.multiselect(key="gallery:people")
        assert made_by.options == ["Ann", "Bo"]
        made_by.select("ann@x.org").run()
        assert tiles(at) == [ann.id]
        log.close()


def test_an_empty_gallery_offers_no_model_to_pick(point_app) -> None:
    with Sandbox(timing=FAST_TIMING) as sandbox:
        data = point_app(sandbox.url, sandbox.api_key)
        at = open_page("pages/gallery.py")
        assert not [b for b in at.button_group if b.key == "gallery:models"]
        log = TaskLog(data / "tasklog.sqlite3")
        add_result(log, data / "media", "the first result")
        at.run()
        assert at.button_group(key="gallery:models").options == ["Grok Imagine"]
        log.close()


def test_a_filter_that_hides_picked_results_unpicks_them(seeded_app) -> None:
    log, made = seeded_app
    newest = made[-1].id
    stars.set_star(log, newest, "", True)
    at = open_page("pages/gallery.py")
    for job in made[-3:]:
        pick(at, job.id)
    assert any("**3 picked** · " in c.value for c in at.caption)
    at.toggle(key="gallery:favourites").set_value(True).run()
    assert tiles(at) == [newest]
    bar = next(c.value for c in at.caption if "picked" in c.value)
    assert bar.endswith("**1 picked** (compare 2 to 4) · 1 result, newest first")  # one result, not "1 of 1 results"
    assert at.button(key="gallery:compare").disabled  # the two hidden picks are not compared
    filters(at).toggle(key="gallery:favourites").set_value(False).run()
    assert not is_on(at, made[-2].id, "pick") and is_on(at, newest, "pick")
    assert any("**1 picked**" in c.value for c in at.caption)


def test_home_opens_recent_results_and_links_the_gallery(seeded_app) -> None:
    log, _ = seeded_app
    clip = add_result(log, log.path.parent / "media", "a moving lighthouse", model="grok-imagine-video")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert any(c.value == ":material/movie: Video · a moving lighthouse" for c in at.caption)
    assert "gallery" in [link.proto.page for link in at.get("page_link")]
    at.button(key=f"home:full:{clip.id}").click().run()
    assert at.query_params["job"] == str(clip.id)
    assert any(c.value == clip.prompt for c in at.code)  # the large view, on Home


def test_neighbours_step_across_the_filtered_set(log: TaskLog, tmp_path: Path) -> None:
    media = tmp_path / "media"
    first, _, middle, _, last = [add_result(log, media, p) for p in ("sea one", "fox", "sea two", "owl", "sea three")]
    sea = GalleryFilter(text="sea")
    assert gallery.neighbours(log, sea, middle.id) == (last.id, first.id)  # the fox and the owl between are skipped
    assert gallery.neighbours(log, sea, last.id) == (first.id, middle.id)  # round from the newest to the oldest
    assert gallery.neighbours(log, sea, first.id) == (middle.id, last.id)  # and from the oldest to the newest
    assert gallery.neighbours(log, GalleryFilter(), middle.id) == (middle.id + 1, middle.id - 1)
    assert gallery.neighbours(log, GalleryFilter(text="fox"), middle.id - 1) == (None, None)  # nothing else matches


def test_large_view_previous_and_next_follow_the_gallery_filters(seeded_app) -> None:
    _, made = seeded_app
    at = open_page("pages/gallery.py")
    at.text_input(key="gallery:text").set_value("lighthouse").run()
    press(at, made[1].id, "full")
    at.button(key="large:next").click().run()
    assert at.query_params["job"] == str(made[0].id) and any(c.value == made[0].prompt for c in at.code)
    at.button(key="large:next").click().run()  # from the oldest match round to the newest, past 30 other results
    assert at.query_params["job"] == str(made[1].id) and any(c.value == made[1].prompt for c in at.code)
    at.button(key="large:previous").click().run()
    assert at.query_params["job"] == str(made[0].id)


def test_large_view_offers_no_animate_or_download_for_a_file_that_does_not_decode(seeded_app) -> None:
    log, made = seeded_app
    broken = add_result(log, log.path.parent / "media", "a damaged picture")
    Path(broken.media_paths[0]).write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    for job, offered in ((broken, False), (made[-1], True)):
        at = open_page("pages/gallery.py")
        at.query_params["job"] = str(job.id)
        at.run()
        assert not at.exception
        keys = {b.key for b in at.button} | {b.key for b in at.get("download_button")}
        assert (f"large:animate:{job.id}" in keys) is offered and (f"large:download:{job.id}" in keys) is offered
        assert f"large:reuse:{job.id}" in keys  # the recipe is still there to use


def test_count_stops_at_its_cap(log: TaskLog, tmp_path: Path) -> None:
    for n in range(5):
        add_result(log, tmp_path / "media", f"sea {n}")
    add_result(log, tmp_path / "media", "not saved", saved=False)
    assert gallery.count_results(log, GalleryFilter(), at_most=3) == 3  # "1,000+" on the page: never read further
    assert gallery.count_results(log, GalleryFilter(), at_most=10) == 5 == gallery.count_results(log, GalleryFilter())
    assert gallery.count_results(log, GalleryFilter(text="sea 4"), at_most=3) == 1
