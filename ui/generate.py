"""The Image and Video pages, drawn from one model's catalog entry."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import streamlit as st

from rivya.catalog import ModelSpec, credits_for, get_model, validate
from rivya.errors import InvalidInputError, RivyaError
from rivya.jobs import Reference
from rivya.media import preview_jpeg
from rivya.messages import explain
from ui.access import key_owner, personal_key_choice_pending
from ui.form import param_widgets, remember, remembered, widget_key
from ui.jobs_view import jobs_panel
from ui.services import demo_banner, get_studio, session_id
from ui.text import credits_text, md_escape

# Two clicks of one form state this close together are one intent (a double click).
DOUBLE_CLICK_SECONDS = 2.0
ICONS = {"image": ":material/image:", "video": ":material/movie:"}


def _form_fingerprint(model: str) -> str:
    """What the form would send: prompt, reference file and every catalog parameter."""
    names = ["prompt", "reference", *(p.key for p in get_model(model).params)]
    state = {n: repr(getattr(v, "file_id", v)) for n in names if (v := st.session_state.get(widget_key(model, n))) is not None}
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def _register_click(model: str) -> None:
    """Generate's callback: one new intent per click, except the second half of a double click."""
    fingerprint = _form_fingerprint(model)
    last = st.session_state.get(widget_key(model, "click"))
    if last and last["fingerprint"] == fingerprint and time.monotonic() - last["at"] < DOUBLE_CLICK_SECONDS:
        return
    st.session_state[widget_key(model, "click")] = {
        "key": f"studio-{uuid.uuid4().hex}",
        "fingerprint": fingerprint,
        "at": time.monotonic(),
        "handled": False,
    }
    st.session_state.pop(widget_key(model, "notice"), None)  # a new press replaces the last message


def _notice(model: str, kind: str, text: str) -> None:
    """Keep a message about the last press until the person presses again (panel refreshes don't clear it)."""
    st.session_state[widget_key(model, "notice")] = (kind, text)


def _show_notice(model: str) -> None:
    notice = st.session_state.get(widget_key(model, "notice"))
    if notice:
        kind, text = notice
        if kind == "fix":
            st.error(text, icon=":material/edit:")
        elif kind == "warn":
            st.warning(text, icon=":material/hourglass_top:")
        else:
            st.error(text, icon=":material/error:")


def _reference_input(spec: ModelSpec) -> tuple[Reference | None, str | None]:
    """The optional reference image: checked by content, previewed, uploaded once."""
    rule = spec.reference
    upload = st.file_uploader(
        "Reference image (optional)",
        type=["png", "jpg", "jpeg", "webp"],
        key=widget_key(spec.id, "reference"),
        help=f"One JPEG, PNG or WebP image up to {rule.max_bytes // (1024 * 1024)} MB. It guides the result.",
    )
    if upload is None:
        return None, None
    if personal_key_choice_pending():  # an upload would go out under the team key before the person chose
        st.info("Choose which key pays (at the top of the page), then the image is attached.", icon=":material/key:")
        return None, None
    state_key = widget_key(spec.id, "ref-state")
    cached = st.session_state.get(state_key)
    if not cached or cached[0] != upload.file_id:
        data = upload.getvalue()
        try:
            reference = get_studio().prepare_reference(data, upload.name, spec.id, key_owner())
            # A small preview made once per upload: re-sending a 10 MB original on every rerun costs memory and CPU.
            cached = (upload.file_id, reference, None, preview_jpeg(data))
        except RivyaError as exc:
            words = explain(exc)
            problem = " ".join(exc.problems) if isinstance(exc, InvalidInputError) else f"{words.title} {words.action}"
            cached = (upload.file_id, None, problem, None)
        st.session_state[state_key] = cached
    _, reference, problem, preview = cached
    if problem:
        st.error(md_escape(problem), icon=":material/broken_image:")
    else:
        if preview:
            st.image(preview, width=160)
        st.caption(f"Attached: {md_escape(upload.name)}")
    return reference, problem


def _balance() -> int | None:
    """The wallet, or None when it is unknown (shown as —; the service decides at submit)."""
    try:
        return get_studio().balance(key_owner())
    except RivyaError as exc:
        words = explain(exc)
        st.warning(f"{md_escape(words.title)} {md_escape(words.action)}", icon=":material/cloud_off:")
        return None


def _handle_click(spec: ModelSpec, prompt: str, params: dict, reference: Reference | None, problem: str | None) -> None:
    """Act on a registered click exactly once; the intent's key makes any repeat a no-op."""
    click = st.session_state.get(widget_key(spec.id, "click"))
    if not click or click["handled"]:
        return
    studio = get_studio()
    full = dict(params)
    if reference:
        full["referenceMediaItems"] = [reference.uploaded.as_reference_item()]
    problems = validate(spec.id, prompt, full)
    if problem:
        problems.append("Remove or replace the reference image: " + problem)
    if personal_key_choice_pending():
        problems.append("Choose which key pays for this job (at the top of the page).")
    cost = credits_for(spec.id, params)
    if not problems:
        try:
            balance = studio.balance(key_owner(), fresh=True)
        except RivyaError:
            balance = None
        if balance is not None and balance < cost:
            problems.append(f"This job costs {cost} credits but the wallet holds {balance}. Top up, then try again.")
    if problems:
        click["handled"] = True
        _notice(spec.id, "fix", "Nothing was sent. Please fix:\n\n" + "\n".join(f"- {md_escape(p)}" for p in problems))
        return
    try:
        job = studio.jobs.submit(
            spec.id, prompt, params, idempotency_key=click["key"], reference=reference, page=spec.category,
            session_id=session_id(), owner=key_owner(), daily_budget=studio.settings.daily_budget,
        )
    except RivyaError as exc:
        words = explain(exc)
        _notice(spec.id, "error", f"**{md_escape(words.title)}** {md_escape(words.action)}")
    else:
        followed = st.session_state.setdefault(widget_key(spec.id, "followed"), [])
        if job.id not in followed:
            followed.insert(0, job.id)
        studio.forget_balance(key_owner())
    finally:
        click["handled"] = True


def _prompt_length(spec: ModelSpec, prompt: str) -> None:
    """Count as ``validate()`` counts (code points, not the browser's UTF-16 units) and say what is too long."""
    over = len(prompt) - spec.max_prompt_length
    if over > 0:
        st.error(
            f"{len(prompt):,} / {spec.max_prompt_length:,} characters: {over:,} too many. Shorten the prompt to generate.",
            icon=":material/short_text:",
        )
    else:
        st.caption(f"{len(prompt):,} / {spec.max_prompt_length:,} characters")


def generate_page(model: str) -> None:
    """The whole page for one model: form on the left, jobs and results on the right."""
    spec = get_model(model)
    studio = get_studio()
    st.title(f"{spec.display_name}", anchor=False)
    demo_banner(studio)
    form, panel = st.columns([5, 6], gap="large")
    with form:
        prompt_key = widget_key(model, "prompt")
        remembered(prompt_key, "")
        # No max_chars: the browser would count UTF-16 units and silently cut an over-long paste.
        prompt = st.text_area(
            "Prompt",
            key=prompt_key,
            height=140,
            placeholder=f"Describe the {spec.category} you want, e.g. a lighthouse on a cliff at dawn, soft mist",
        )
        remember(prompt_key)
        _prompt_length(spec, prompt)
        reference, problem = _reference_input(spec)
        params = param_widgets(spec, has_reference=reference is not None or problem is not None)
        cost = credits_for(model, params)
        button, price = st.columns([1, 2], vertical_alignment="center")
        button.button(
            "Generate", type="primary", key=widget_key(model, "generate"), on_click=_register_click, args=(model,),
            icon=ICONS.get(spec.category), width="stretch",
        )
        # Handled before the balance is read, so the balance already shows this job.
        _handle_click(spec, prompt, params, reference, problem)
        _show_notice(model)
        balance = _balance()
        price.markdown(f"**{cost} credits** · balance {credits_text(balance)}")
        budget = studio.settings.daily_budget
        if budget is not None:
            st.caption(f"Team budget today: {studio.used_today():,} of {budget:,} credits used (resets at midnight UTC).")
    with panel.container(key="results"):
        jobs_panel(model, st.session_state.get(widget_key(model, "followed"), []))
