"""Job cards: stars, batches as one group, Try again, lineage and times in the viewer's zone."""

from __future__ import annotations

import time

from PIL import Image
from streamlit.testing.v1 import AppTest

from rivya.messages import cost_words, service_said
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
                  prompt=prompt, params=fields.pop("params", {}), **extra)
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
    assert len(headers) == 1 and headers[0].startswith("**2 takes** · cost 10 credits · Grok Imagine")
    assert all(at.button(key=f"grok-imagine:panel:star:{t.id}") for t in takes) and not at.exception


def test_a_batch_cell_has_one_short_row_of_labelled_buttons(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    takes = [logged("succeeded", saved=True, final_credits=4, batch_id="batch-3") for _ in range(2)]
    at = open_page("pages/image.py")
    assert not [e for e in at.expander if e.label == "Full size"]  # no stacked expanders in the cells
    for take in takes:
        row = parent_of(at.main, lambda node, t=take: getattr(node, "key", None) == f"grok-imagine:panel:star:{t.id}")
        keys = [getattr(c, "key", None) for c in row.children.values()]
        assert keys == [f"grok-imagine:panel:{name}:{take.id}" for name in ("star", "full", "more")]
        assert at.button(key=f"grok-imagine:panel:full:{take.id}").label == "Full size"  # words, not an icon alone
        assert row.type == "flex_container"
    assert not at.exception


def test_a_batch_in_flight_stays_one_group_that_fills_in(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    open_page("pages/image.py")
    done = logged("succeeded", saved=True, final_credits=4, batch_id="batch-2")
    running = logged("processing", reserved_credits=4, task_id="t-elsewhere", batch_id="batch-2")
    at = open_page("pages/image.py")
    headers = [m.value for m in at.markdown if "takes**" in m.value]
    assert len(headers) == 1 and headers[0].startswith("**2 takes** · cost 8 credits so far") and "1 on their way" in headers[0]
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
    newest = logged("succeeded", saved=True, final_credits=4, prompt="newest")
    running = logged("processing", reserved_credits=4, task_id="t-alone", prompt="running")
    at = open_page("pages/image.py")
    panel = "grok-imagine:panel"
    # The live card builds its prompt and settings once opened; the newest result is full size, the older one a
    # thumbnail whose Full size opens the large view; both have their whole row (Download in it); the batch's
    # finished take keeps Animate, Download and the rest in its "More" menu, built once opened.
    # Every card's details are keyed by its job, live or finished: the live card and the finished card that
    # replaces it are one expander, which stays open as the job ends.
    keyed = {e.key: e.label for e in at.expander if e.key and e.key.startswith(panel)}
    assert keyed == {f"{panel}:details:{job.id}": label for job, label in (
        (running, "Prompt and settings"), (newest, "Prompt and settings"), (older, "Prompt and settings"),
        (take, "Details"), (running_take, "Details"))}
    assert len(at.get("download_button")) == 2
    assert at.button(key=f"{panel}:full:{older.id}").label == "Full size"
    assert f"{panel}:more:{take.id}" in [p.key for p in at.get("popover")]
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
    assert batch_header([job_row(1, "x"), job_row(2, "x", final_credits=6)]) == "**2 takes** · cost 10 credits"


def test_try_again_rules() -> None:
    assert can_retry(job_row(1, status="failed", error_code="generation_failed"))
    assert can_retry(job_row(1, status="rejected", error_code="validation_failed"))
    assert not can_retry(job_row(1, status="rejected", error_code="insufficient_credits"))
    assert not can_retry(job_row(1, status="unconfirmed"))  # it may have been charged: no blind re-send
    assert not can_retry(job_row(1, status="succeeded"))
    with_ref = job_row(1, status="failed", params={"aspect_ratio": "1:1", "referenceMediaItems": [{"url": "u"}]})
    assert retry_params(with_ref) == {"aspect_ratio": "1:1"}


def test_the_cost_in_words_a_person_reads() -> None:
    assert cost_words(job_row(1, final_credits=4)) == "Cost: 4 credits"
    assert cost_words(job_row(1, status="processing", final_credits=None, reserved_credits=4)) == (
        "Cost: 4 credits (held until it finishes)")
    assert cost_words(job_row(1, status="failed", final_credits=0, reserved_credits=4)) == (
        "Cost: nothing · 4 credits returned")
    assert cost_words(job_row(1, status="rejected", final_credits=None)) == "Cost: nothing (Rivya turned it away)"
    assert cost_words(job_row(1, status="unconfirmed", final_credits=None)) == "Cost: 4 credits (it may have been charged)"
    for status in ("succeeded", "processing", "failed", "rejected", "unconfirmed", "submitting"):
        words = cost_words(job_row(1, status=status))
        assert not {"reserved", "final", "charged"} & set(words.lower().split()), words


def test_what_the_service_said_is_kept_with_its_code_when_it_adds_something() -> None:
    assert service_said("The generation failed.", "generation_failed", "The generation failed.") is None
    assert service_said("Prompt blocked by policy", "content_rejected", "Something went wrong.") == (
        "Rivya said: “Prompt blocked by policy” (code: content_rejected)")
    assert service_said(None, "weird_code", "Something went wrong.") == "Rivya gave the error code weird_code."
    assert service_said("  Too\nmany ", "rate_limited", "Rivya is receiving too many requests right now.") == (
        "Rivya said: “Too many”")  # a known code is in the headline's words already
    assert service_said(None, None, "Something went wrong.") is None


# -- one card: its words and its actions --------------------------------------------------------------


def card_texts(at: AppTest) -> list[str]:
    """Every text the page shows in its main part (markdown, captions, alerts, plain text, labels)."""
    kinds = ("markdown", "caption", "error", "warning", "info", "text", "code")
    return [str(getattr(e, "value", "")) for kind in kinds for e in at.main.get(kind)] + [
        b.label for b in at.main.get("button")] + [e.label for e in at.main.get("expander")]


def test_cards_say_no_none_no_raw_details_and_the_same_labelled_actions(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    older = logged("succeeded", saved=True, final_credits=4, prompt="older", params={"seed": None})
    newest = logged("succeeded", saved=True, final_credits=4, prompt="newest", params={"aspect_ratio": "1:1",
                                                                                       "seed": None})
    failed = logged("failed", error_code="odd_failure", error_message=None, reserved_credits=4, final_credits=0)
    at = open_page("pages/image.py")
    for job in (older, newest):  # their prompt and settings, built once opened
        at.session_state[f"grok-imagine:panel:details:{job.id}"] = True
    at.run()
    shown = card_texts(at)
    assert not [t for t in shown if "None" in t], shown
    assert not [t for t in shown if "Status checks" in t or "Details for admins" in t]  # admins only
    assert not at.main.get("json")
    for job in (older, newest):  # the newest full size, the older a thumbnail: the same row of words
        row = parent_of(at.main, lambda node, j=job: getattr(node, "key", None) == f"grok-imagine:panel:star:{j.id}")
        labels_in_row = [getattr(c, "label", None) for c in row.children.values()]
        assert labels_in_row[:5] == ["Star", "Animate", "Full size", "Download", "Use these settings"], labels_in_row
        assert "Copy link" in str(list(row.children.values())[-1].proto)  # the copy button, last in the row
    assert "Cost: 4 credits" in [c.value for c in at.caption]
    said = " ".join(e.value for e in at.error)
    assert "Rivya gave the error code odd\\_failure." in said  # the code, when the service said nothing else
    assert at.button(key=f"grok-imagine:panel:edit:{failed.id}").label == "Edit and try again"
    assert not at.exception


def test_edit_and_try_again_puts_the_prompt_back_and_sends_nothing(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    failed = logged("failed", prompt="a fox in the snow", params={"aspect_ratio": "16:9"},
                    error_code="generation_failed", error_message="The generation failed.")
    at = open_page("pages/image.py")
    at.text_area(key="grok-imagine:prompt").input("something else").run()
    at.button(key=f"grok-imagine:panel:edit:{failed.id}").click().run()
    assert at.text_area(key="grok-imagine:prompt").value == "a fox in the snow"
    assert at.radio(key="grok-imagine:aspect_ratio").value == "16:9"
    assert len(creates(app_sandbox)) == 0 and not at.exception


def test_a_failed_batch_is_tried_again_with_one_press_and_never_twice(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    open_page("pages/image.py")
    takes = [logged("failed", prompt="three foxes", batch_id="batch-f", error_code="generation_failed",
                    error_message="The generation failed.") for _ in range(3)]
    takes.append(logged("rejected", prompt="three foxes", batch_id="batch-f", error_code="insufficient_credits"))
    at = open_page("pages/image.py")
    key = f"grok-imagine:panel:retry-batch:{takes[0].id}"
    assert at.button(key=key).label == "Try the 3 again · 12 credits"  # the one refused for credits is not retried
    at.button(key=key).click().run()
    at.run()
    at.run()
    sent = creates(app_sandbox)
    assert len(sent) == 3 and len({e.idempotency_key for e in sent}) == 3
    assert len(app_sandbox.state.tasks) == 3
    retried = [j for j in get_studio().log.recent(limit=10) if j.id not in {t.id for t in takes}]
    assert sorted(j.prompt for j in retried) == ["three foxes"] * 3
    assert key not in [b.key for b in at.button]  # one press: no second one offered
    captions = [c.value for c in at.caption]
    assert all(any(f"Sent again as job #{j.id}." == c for c in captions) for j in retried) and not at.exception
