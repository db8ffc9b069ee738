"""Job cards: stars, batches as one group, Try again, lineage and times in the viewer's zone."""

from __future__ import annotations

import time

from PIL import Image
from streamlit.testing.v1 import AppTest

from rivya.panel import batch_groups
from rivya.sandbox import Sandbox
from rivya.stars import starred
from rivya.tasklog import Job
from ui.jobs_view import batch_header, can_retry, retry_params

from .conftest import creates, image_bytes, open_page, parent_of


def logged(status: str, *, model: str = "grok-imagine", prompt: str = "a fox", saved: bool = False, **fields) -> Job:
    """A job of another backend (the follower leaves it alone) in the app's own log, its result saved if asked."""
    from ui.services import get_studio

    log = get_studio().log
    category = "video" if model.endswith("video") else "image"
    extra = {k: fields.pop(k) for k in ("batch_id", "parent_id") if k in fields}
    row = log.add(idempotency_key=f"seed-{log.count()}", backend="elsewhere", model=model, category=category,
                  prompt=prompt, params={}, **extra)
    if saved:
        media = get_studio().jobs.media_dir
        media.mkdir(parents=True, exist_ok=True)
        path = media / f"seed{row.id}-0.png"
        Image.new("RGB", (64, 48), "teal").save(path)
        fields |= {"media_paths": [str(path)], "result_urls": [f"https://cdn.example/{row.id}.png"]}
    return log.update(row.id, status=status, **fields)


def labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


# -- favourites --------------------------------------------------------------------------------


def test_a_star_is_kept_in_the_log_and_shows_starred_after_a_rerun(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    open_page("pages/image.py")
    result = logged("succeeded", saved=True, final_credits=4)
    at = open_page("pages/image.py")
    star = at.button(key=f"grok-imagine:panel:star:{result.id}")
    assert star.label == "Star"
    star.click().run()
    assert starred(get_studio().log, [result.id], "") == {result.id}  # the team's star: nobody signed in
    assert at.button(key=f"grok-imagine:panel:star:{result.id}").label == "Starred"
    again = open_page("pages/image.py")  # another session reads it from the log
    assert again.button(key=f"grok-imagine:panel:star:{result.id}").label == "Starred"
    again.button(key=f"grok-imagine:panel:star:{result.id}").click().run()
    assert starred(get_studio().log, [result.id], "") == set() and not again.exception


# -- Try again ---------------------------------------------------------------------------------


def test_try_again_states_its_cost_makes_one_new_job_and_then_points_to_it(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    open_page("pages/image.py")
    failed = logged("failed", prompt="a fox, again", error_code="generation_failed", error_message="The generation failed.")
    at = open_page("pages/image.py")
    key = f"grok-imagine:panel:retry:{failed.id}"
    assert at.button(key=key).label == "Try again · 4 credits"
    assert any(f"#{failed.id}]" in m.value for m in at.markdown)  # the card's header carries its job number
    assert len(creates(app_sandbox)) == 0  # drawing the card sends nothing
    at.button(key=key).click().run()
    at.run()
    at.run()
    assert len(creates(app_sandbox)) == 1 and len(app_sandbox.state.tasks) == 1
    retry = get_studio().log.recent(limit=1)[0]
    assert retry.id != failed.id and retry.idempotency_key != failed.idempotency_key
    assert (retry.model, retry.prompt, retry.params) == (failed.model, failed.prompt, failed.params)
    assert f"Sent again as job #{retry.id}." in [c.value for c in at.caption] and not at.exception
    assert key not in [b.key for b in at.button]  # one press, one new job: the card offers no second one
    assert any(f"#{retry.id}]" in m.value for m in at.markdown)  # the new job's card shows the number it names


def test_a_refund_is_said_once_on_a_failed_card(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    logged("failed", error_code="generation_failed", error_message="The generation failed.", reserved_credits=4,
           final_credits=0)
    at = open_page("pages/image.py")
    said = " ".join([e.value for e in at.error] + [c.value for c in at.caption])
    assert "4 credits were returned to the wallet." in said
    assert "Its credits were returned" not in said and not at.exception


def test_try_again_sends_the_same_reference_image(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    open_page("pages/image.py")
    studio = get_studio()
    picture = image_bytes(color="orange")
    reference = studio.prepare_reference(picture, "ref.png", "grok-imagine")
    failed = studio.jobs.submit("grok-imagine", "a fox #fail", {"aspect_ratio": "16:9"}, idempotency_key="first",
                                reference=reference)
    deadline = time.monotonic() + 15
    while studio.log.get(failed.id).status != "failed" and time.monotonic() < deadline:
        time.sleep(0.1)
    at = open_page("pages/image.py")
    at.button(key=f"grok-imagine:panel:retry:{failed.id}").click().run()
    assert len(app_sandbox.state.tasks) == 2 and not at.exception
    task = next(t for t in app_sandbox.state.tasks.values() if t.id != studio.log.get(failed.id).task_id)
    assert task.params["aspect_ratio"] == "16:9"
    [item] = task.params["referenceMediaItems"]
    [stored] = [f for f in app_sandbox.state.files.values() if f.id in item["url"]]
    assert stored.data == picture


def test_a_refused_job_gets_try_again_too_and_a_failed_press_says_why_on_the_card(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    refused = logged("rejected", error_code="rate_limited", error_message="Too many requests.")
    at = open_page("pages/image.py")
    app_sandbox.set_credits(3)
    at.button(key=f"grok-imagine:panel:retry:{refused.id}").click().run()
    assert any("costs 4 credits but the wallet holds 3" in e.value for e in at.error)
    assert len(creates(app_sandbox)) == 0 and not at.exception


def test_a_job_that_failed_for_credits_says_so_and_offers_nothing_to_press(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    other = logged("failed", error_code="generation_failed", error_message="The generation failed.")
    broke = logged("rejected", error_code="insufficient_credits", error_message="Not enough credits.")
    at = open_page("pages/image.py")
    assert any("There are not enough credits for this job." in e.value for e in at.error)
    retries = [b.key for b in at.button if b.label.startswith("Try again")]
    assert retries == [f"grok-imagine:panel:retry:{other.id}"]  # the other failure has one; the credits one none
    assert not can_retry(broke) and not at.exception


# -- batches and lineage -------------------------------------------------------------------------


def test_a_batch_of_two_is_one_group_with_its_summed_credits(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    logged("succeeded", saved=True, final_credits=4, prompt="alone")
    takes = [logged("succeeded", saved=True, final_credits=credits, batch_id="batch-1") for credits in (4, 6)]
    at = open_page("pages/image.py")
    headers = [m.value for m in at.markdown if "takes**" in m.value]
    assert len(headers) == 1 and headers[0].startswith("**2 takes** · 10 credits (take 1: 4 · take 2: 6) · Grok Imagine")
    assert all(at.button(key=f"grok-imagine:panel:star:{t.id}") for t in takes) and not at.exception


def test_a_batch_cell_has_one_short_row_of_buttons(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    takes = [logged("succeeded", saved=True, final_credits=4, batch_id="batch-3") for _ in range(2)]
    at = open_page("pages/image.py")
    assert not [e for e in at.expander if e.label in ("Full size", "Details")]  # no stacked expanders in the cells
    for take in takes:
        row = parent_of(at.main, lambda node, t=take: getattr(node, "key", None) == f"grok-imagine:panel:star:{t.id}")
        keys = [getattr(c, "key", None) for c in row.children.values()]
        assert keys[:3] == [f"grok-imagine:panel:{name}:{take.id}" for name in ("star", "animate", "full")]
        assert at.button(key=f"grok-imagine:panel:full:{take.id}").label == ""  # an icon only
        assert row.type == "flex_container" and len(keys) == 4  # and Details, in the same row
    assert not at.exception


def test_a_batch_in_flight_stays_one_group_that_fills_in(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    open_page("pages/image.py")
    done = logged("succeeded", saved=True, final_credits=4, batch_id="batch-2")
    running = logged("processing", reserved_credits=4, task_id="t-elsewhere", batch_id="batch-2")
    at = open_page("pages/image.py")
    headers = [m.value for m in at.markdown if "takes**" in m.value]
    assert len(headers) == 1 and headers[0].startswith("**2 takes** · 8 credits") and "1 on their way" in headers[0]
    assert any("**Generating**" in m.value for m in at.markdown)  # the running take, live, inside the group
    paths, urls = done.media_paths, done.result_urls
    get_studio().log.update(running.id, status="succeeded", final_credits=4, media_paths=paths, result_urls=urls)
    at.run()
    headers = [m.value for m in at.markdown if "takes**" in m.value]
    assert len(headers) == 1 and "on their way" not in headers[0]
    assert at.button(key=f"grok-imagine:panel:star:{running.id}") and not at.exception


def test_each_place_in_the_panel_draws_its_own_kind_of_card(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    older = logged("succeeded", saved=True, final_credits=4, prompt="older")
    take = logged("succeeded", saved=True, final_credits=4, batch_id="batch-4")
    running_take = logged("processing", reserved_credits=4, task_id="t-take", batch_id="batch-4")
    logged("succeeded", saved=True, final_credits=4, prompt="newest")
    running = logged("processing", reserved_credits=4, task_id="t-alone", prompt="running")
    at = open_page("pages/image.py")
    panel = "grok-imagine:panel"
    # The live card builds its prompt and settings once opened; the older result its full size; the newest is
    # full size already (its download is the only one), the batch's finished take has Details as an icon.
    assert {e.key: e.label for e in at.expander if e.key and e.key.startswith(panel)} == {
        f"{panel}:details:{running.id}": "Prompt and settings", f"{panel}:full:{older.id}": "Full size and download",
    }
    assert len(at.get("download_button")) == 1
    assert f"{panel}:details:{take.id}" in [p.key for p in at.get("popover")]
    # Drawn by the page run (a job on its own runs, so the live part is above), the running take folds its details.
    folded = [e.label for e in at.expander if not e.key and e.label in ("Details", "Prompt and settings")]
    assert sorted(folded) == ["Details", "Prompt and settings", "Prompt and settings"]
    assert len(at.get("progress")) == 2 and any(f"#{running_take.id}]" in m.value for m in at.markdown)
    assert not at.exception


def test_a_video_made_from_an_image_names_it_and_the_image_lists_its_videos(app_sandbox: Sandbox) -> None:
    open_page("pages/video.py")
    image = logged("succeeded", saved=True, final_credits=4, prompt="a still")
    video = logged("succeeded", model="grok-imagine-video", final_credits=10, parent_id=image.id,
                   media_paths=[], result_urls=[])
    at = open_page("pages/video.py")
    shown = [c.value for c in at.caption] + labels(at)
    assert f"From image #{image.id}" in shown and "Whole chain: 14 credits" in shown
    at = open_page("pages/image.py")
    shown = [c.value for c in at.caption]
    assert f"Its videos: #{video.id}" in shown and "Whole chain: 14 credits" in shown and not at.exception


# -- pure rules ----------------------------------------------------------------------------------


def job_row(n: int, batch: str | None = None, **fields) -> Job:
    base = dict(
        id=n, idempotency_key=f"k{n}", backend="b", submitted_at="2026-11-25T10:00:00+00:00", updated_at="",
        finished_at=None, model="grok-imagine", category="image", prompt="p", params={}, reference_path=None,
        reference_url=None, task_id=None, status="succeeded", reserved_credits=None, final_credits=4,
        result_urls=[], media_paths=[], error_code=None, error_message=None, page=None, session_id=None, polls=0,
        key_owner="shared", expected_credits=4, batch_id=batch,
    )
    return Job(**(base | fields))


def test_batch_groups_keep_takes_together_in_order_of_first_appearance() -> None:
    jobs = [job_row(5, "x"), job_row(4), job_row(3, "x"), job_row(2, "y"), job_row(1)]
    assert [[j.id for j in g] for g in batch_groups(jobs)] == [[5, 3], [4], [2], [1]]
    assert batch_header([job_row(1, "x"), job_row(2, "x", final_credits=6)]) == "**2 takes** · 10 credits (take 1: 4 · take 2: 6)"


def test_try_again_rules() -> None:
    assert can_retry(job_row(1, status="failed", error_code="generation_failed"))
    assert can_retry(job_row(1, status="rejected", error_code="validation_failed"))
    assert not can_retry(job_row(1, status="rejected", error_code="insufficient_credits"))
    assert not can_retry(job_row(1, status="unconfirmed"))  # it may have been charged: no blind re-send
    assert not can_retry(job_row(1, status="succeeded"))
    with_ref = job_row(1, status="failed", params={"aspect_ratio": "1:1", "referenceMediaItems": [{"url": "u"}]})
    assert retry_params(with_ref) == {"aspect_ratio": "1:1"}
