"""The Image and Video pages' shared blocks (``generate_form``, ``results_panel``), drawn from one model's catalog entry.

Beside the form: several takes per press (one batch, all or none), the image handed over by
Animate (Video page), the prompt library (recent prompts, the team's presets) and Ctrl+Enter.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import streamlit as st

from rivya.catalog import MODELS, ModelSpec, credits_for, describe_params, display_name, get_model
from rivya.constants import PRESET_NAME_MAX_CHARS
from rivya.errors import InvalidInputError, RivyaError
from rivya.jobs import Reference
from rivya.media import saved_media
from rivya.messages import explain
from rivya.people import Person
from rivya.presets import PresetError, delete_preset, get_preset, list_presets, rename_preset, save_preset
from rivya.presses import Form, Notice, Who, next_intent
from rivya.prompts import recent_prompts
from rivya.studio import Studio
from rivya.thumbnails import PREVIEW, thumbnail_bytes
from ui.access import current_person, key_owner, personal_key_choice_pending
from ui.form import form_values, param_widgets, prefill, remember, remembered, widget_key
from ui.jobs_view import follow, follow_later, jobs_panel
from ui.page_scripts import commit_prompt_while_typing, scroll_into_view, scroll_to_top
from ui.services import current_studio, session_id
from ui.session import session
from ui.text import credits_text, md_escape, shorten

ICONS = {"image": ":material/image:", "video": ":material/movie:"}
HOW_MANY = (1, 2, 3, 4)
# Streamlit's own button shortcut: shown on the button (⌘ on a Mac), and it works while typing in the prompt box,
# where Streamlit commits the typed text first; the prompt keeps the focus. The button has no help tooltip: it opened
# over the How many control just above it.
SHORTCUT = "Ctrl+Enter"
RECENT_SHOWN = 8
LIBRARY_TABS = ("Recent", "Presets")  # no other label says "Prompt": the box is found by it
# The animated image's parameters the video form takes over when it offers the same value (its shape).
ANIMATE_KEEPS = ("aspect_ratio", "resolution")


def _count(model: str) -> int:
    """How many takes one press makes (the segmented control requires a choice)."""
    return st.session_state.get(widget_key(model, "count"), 1)


def _form_fingerprint(model: str) -> str:
    """What the form would send: prompt, reference (uploaded or animated), how many, and every catalog parameter."""
    names = ["prompt", "reference", "count", *(p.key for p in get_model(model).params)]
    state = {n: repr(getattr(v, "file_id", v)) for n in names if (v := st.session_state.get(widget_key(model, n))) is not None}
    animate = session().model(model).animate
    state["animate"] = repr(animate["job_id"] if animate else None)
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def _register_click(model: str) -> None:
    """Generate's callback: one new intent per click, except the second half of a double click."""
    intent = next_intent(_form_fingerprint(model), session().model(model).click, time.monotonic())
    if intent is None:
        return
    session().model(model).click = intent
    session().model(model).pressed = True  # acted on once, by the next page run
    session().model(model).notice = None  # a new press replaces the last message
    session().model(model).filled = None


def _notice(model: str, kind: str, text: str) -> None:
    """Keep a message about the last press until the person presses again (panel refreshes don't clear it)."""
    session().model(model).notice = (kind, text)


def _show_notice(model: str) -> None:
    notice = session().model(model).notice
    if notice:
        kind, text = notice
        if kind == "fix":
            st.error(text, icon=":material/edit:")
        elif kind == "warn":
            st.warning(text, icon=":material/hourglass_top:")
        else:
            st.error(text, icon=":material/error:")


def _reference_problem(exc: RivyaError) -> str:
    words = explain(exc)
    return " ".join(exc.problems) if isinstance(exc, InvalidInputError) else f"{words.title} {words.action}"


def _reference_input(studio: Studio, spec: ModelSpec) -> tuple[Reference | None, str | None]:
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
    state = session().model(spec.id)
    cached = state.reference
    if not cached or cached[0] != upload.file_id:
        data = upload.getvalue()
        try:
            reference = studio.prepare_reference(data, upload.name, spec.id, key_owner())
            # A small preview made once per upload: re-sending a 10 MB original on every rerun costs memory and CPU.
            cached = (upload.file_id, reference, None, thumbnail_bytes(data, PREVIEW))
        except RivyaError as exc:
            cached = (upload.file_id, None, _reference_problem(exc), None)
        state.reference = cached
    _, reference, problem, preview = cached
    if problem:
        st.error(md_escape(problem), icon=":material/broken_image:")
    else:
        if preview:
            st.image(preview, width=160)
        st.caption(f"Attached: {md_escape(upload.name)}")
    return reference, problem


# -- Animate: an image result handed over from a card, the Gallery or History -------------------------------


def receive_animate(studio: Studio, spec: ModelSpec) -> None:
    """Take the image ``animate_button`` handed over (once): prefill its prompt and its shape (aspect ratio, resolution)
    where this model offers the same value, and keep the image attached across reruns."""
    job_id, session().animate_from = session().animate_from, None
    if job_id is None:
        return
    job = studio.log.get(job_id)
    if job is None or job.category != "image" or not job.media_paths:
        _notice(spec.id, "error", "That image's saved result is not here any more, so it cannot be animated.")
        return
    shape = {key: value for key in ANIMATE_KEEPS
             if (param := spec.param(key)) is not None and (value := job.params.get(key)) in param.options}
    prefill(spec, job.prompt, shape)
    session().model(spec.id).animate = {
        "job_id": job.id, "owner": None, "reference": None, "problem": None, "preview": None,
    }
    _form_filled(spec.id)


def _drop_animate(model: str) -> None:
    session().model(model).animate = None


def _upload_animated(studio: Studio, spec: ModelSpec, state: dict, owner: str) -> None:
    """Upload the image's saved copy as this model's reference (``prepare_reference`` uploads a content once)."""
    job = studio.log.get(state["job_id"])
    path = saved_media(job.media_paths[0] if job and job.media_paths else None, studio.jobs.media_dir)
    state.update(owner=owner, reference=None, problem=None)
    if path is None:
        state["problem"] = "The image's saved copy is not here any more. Remove it and attach another image."
        return
    data = path.read_bytes()
    try:
        state["reference"] = studio.prepare_reference(data, path.name, spec.id, owner)
    except RivyaError as exc:
        state["problem"] = _reference_problem(exc)
    state["preview"] = state["preview"] or thumbnail_bytes(data, PREVIEW)


def _animate_reference(studio: Studio, spec: ModelSpec) -> tuple[Reference | None, str | None, int] | None:
    """The image being animated (reference, problem, its job id), shown with a way to remove it; None if none.

    While it is attached it replaces the file uploader's reference.
    """
    state = session().model(spec.id).animate
    if not state:
        return None
    owner = key_owner()
    waiting = personal_key_choice_pending()
    if not waiting and state["owner"] != owner:  # not yet uploaded for this key (a failure is not retried each rerun)
        _upload_animated(studio, spec, state, owner)
    with st.container(border=True, key="animate-from", horizontal=True, vertical_alignment="center"):
        st.markdown("**Animating:**", width="content")
        if state["preview"]:
            st.image(state["preview"], width=72)
        st.markdown(f"from job #{state['job_id']}", width="content")
        st.button("Remove", key=widget_key(spec.id, "animate-remove"), on_click=_drop_animate, args=(spec.id,),
                  icon=":material/close:", type="tertiary",
                  help="Stop animating this image; a reference image can be attached again.")
    if waiting:
        st.info("Choose which key pays (at the top of the page), then the image is attached.", icon=":material/key:")
    elif state["problem"]:
        st.error(md_escape(state["problem"]), icon=":material/broken_image:")
    return state["reference"], state["problem"], state["job_id"]


# -- prompt library: recent prompts and the team's presets ----------------------------------------------------


def _library_message(model: str, kind: str, text: str, *, tab: str | None = None) -> None:
    """Say what a library action did; ``tab`` keeps that tab open (a rerun would otherwise show the first one)."""
    session().model(model).library_message = (kind, text)
    if tab is not None:
        st.session_state[widget_key(model, "library-tab")] = tab


def _form_filled(model: str) -> None:
    """The form now holds something else: the last press's message and the job it was filled from no longer apply."""
    state = session().model(model)
    state.notice = None
    state.filled = None


def _use_prompt(model: str, prompt: str) -> None:
    st.session_state[widget_key(model, "prompt")] = prompt
    _form_filled(model)
    _library_message(model, "ok", "The prompt was filled in.")


def _apply_preset(model: str, preset_id: int) -> None:
    """Fill the form from a preset; a job made before anything is changed records it."""
    preset = get_preset(current_studio().log, preset_id)
    if preset is None:
        _library_message(model, "error", "That preset no longer exists (someone may have deleted it).", tab="Presets")
        return
    prefill(MODELS[model], preset.prompt, preset.params)
    _form_filled(model)
    session().model(model).preset = preset.id
    _library_message(model, "ok", f"Applied “{preset.name}”.", tab="Presets")


def _save_preset(model: str) -> None:
    name = st.session_state.get(widget_key(model, "preset-name"), "")
    prompt, params = form_values(MODELS[model])
    try:
        preset = save_preset(current_studio().log, name, model, prompt, params, current_person())
    except PresetError as exc:
        _library_message(model, "error", str(exc), tab="Presets")
        return
    session().model(model).preset = preset.id
    st.session_state[widget_key(model, "preset-pick")] = preset.id
    st.session_state[widget_key(model, "preset-name")] = ""
    _library_message(model, "ok", f"Saved “{preset.name}” for the whole team.", tab="Presets")


def _rename_preset(model: str, preset_id: int) -> None:
    """The Rename form's submit (its button or Enter): on success the popover closes and the box empties."""
    name_key = widget_key(model, "preset-rename")
    try:
        preset = rename_preset(current_studio().log, preset_id, st.session_state.get(name_key) or "")
    except PresetError as exc:
        _library_message(model, "error", str(exc), tab="Presets")
        return
    st.session_state[name_key] = ""
    st.session_state[widget_key(model, "preset-rename-open")] = False
    # Set again from here, so the browser shows the new label (it keeps the label it showed as the choice).
    st.session_state[widget_key(model, "preset-pick")] = preset.id
    _library_message(model, "ok", f"Renamed to “{preset.name}”.", tab="Presets")


def _delete_preset(model: str, preset_id: int, name: str) -> None:
    delete_preset(current_studio().log, preset_id)
    st.session_state.pop(widget_key(model, "preset-pick"), None)
    st.session_state[widget_key(model, "preset-delete-open")] = False  # else it opens over the next preset's
    _library_message(model, "ok", f"Deleted “{name}”.", tab="Presets")


def _recent_prompts(studio: Studio, model: str) -> None:
    text = st.text_input("Search the team's recent ones", key=widget_key(model, "recent-search"), placeholder="Words to find",
                         icon=":material/search:")
    found = recent_prompts(studio.log, text=text, limit=RECENT_SHOWN)
    if not found:
        st.caption("No prompt has all these words." if text.strip() else "The team's prompts will appear here.")
    for item in found:
        words, use = st.columns([5, 1], vertical_alignment="center")
        words.text(shorten(item.prompt, 90), help=f"{display_name(item.model)}, "
                                             f"job #{item.job_id}")
        use.button("Use", key=widget_key(model, f"recent-{item.job_id}"), on_click=_use_prompt, args=(model, item.prompt),
                   help="Put this prompt in the box (settings stay as they are).")


def _presets(studio: Studio, spec: ModelSpec) -> None:
    model = spec.id
    presets = {p.id: p for p in list_presets(studio.log, model)}
    if presets:
        pick_key = widget_key(model, "preset-pick")
        if st.session_state.get(pick_key) not in presets:
            st.session_state.pop(pick_key, None)

        def label(preset_id: int) -> str:
            preset = presets[preset_id]
            stars = f"  ★ {preset.stars}" if preset.stars else ""
            return f"{preset.name}{stars}" + ("  · starter" if preset.builtin else "")

        chosen = presets[st.selectbox("Preset (most starred results first)", list(presets), format_func=label, key=pick_key)]
        st.text(shorten(chosen.prompt, 160))
        st.caption(md_escape(describe_params(model, chosen.params)))
        with st.container(horizontal=True, key=widget_key(model, "preset-actions")):  # wraps on a phone
            st.button("Apply", key=widget_key(model, "preset-apply"), on_click=_apply_preset, args=(model, chosen.id),
                      type="primary", icon=":material/input:")
            # Keyed and tracked, so a callback can close them; a form, so Enter renames.
            with st.popover("Rename", icon=":material/edit:", key=widget_key(model, "preset-rename-open"), on_change="rerun"), \
                    st.form(widget_key(model, "preset-rename-form"), border=False, enter_to_submit=True):
                st.text_input("New name", key=widget_key(model, "preset-rename"), placeholder=chosen.name,
                              max_chars=PRESET_NAME_MAX_CHARS)
                st.form_submit_button("Rename", on_click=_rename_preset, args=(model, chosen.id), type="primary")
            with st.popover("Delete", icon=":material/delete:", key=widget_key(model, "preset-delete-open"), on_change="rerun"):
                st.markdown(f"Delete “{md_escape(chosen.name)}” for the whole team?")
                st.button("Delete preset", key=widget_key(model, "preset-delete"), on_click=_delete_preset,
                          args=(model, chosen.id, chosen.name), type="primary")
    else:
        st.caption("No presets for this model yet.")
    name, save = st.columns([3, 1], vertical_alignment="bottom")
    name.text_input("Save what the form holds as a preset", key=widget_key(model, "preset-name"),
                    placeholder="Preset name", max_chars=PRESET_NAME_MAX_CHARS)
    save.button("Save", key=widget_key(model, "preset-save"), on_click=_save_preset, args=(model,), width="stretch",
                icon=":material/bookmark_add:")


def _library(studio: Studio, spec: ModelSpec) -> None:
    """Recent prompts and presets (the shipped ones arrive as the ``Studio`` opens), folded away until wanted.

    Keyed and tracked on the server: it stays as the person left it, open after Save, Apply or Rename (an
    unkeyed expander whose arguments change is a new one, folded), and its contents are read only while open.
    """
    state = session().model(spec.id)
    message, state.library_message = state.library_message, None
    library = st.expander("Prompt library", icon=":material/bookmarks:", key=widget_key(spec.id, "library"),
                          on_change="rerun")
    if not library.open:
        return
    with library:
        if message:
            kind, text = message
            (st.success if kind == "ok" else st.error)(md_escape(text))
        # Tracked on the server (key, on_change): a preset action reruns the page and its tab stays open.
        recent, presets = st.tabs(LIBRARY_TABS, key=widget_key(spec.id, "library-tab"), on_change="rerun")
        with recent:
            _recent_prompts(studio, spec.id)
        with presets:
            _presets(studio, spec)


# -- Generate -------------------------------------------------------------------------------------------------


def _balance(studio: Studio) -> int | None:
    """The wallet, or None when it is unknown (shown as —; the service decides at submit)."""
    try:
        return studio.balance(key_owner())
    except RivyaError as exc:
        words = explain(exc)
        st.warning(f"{md_escape(words.title)} {md_escape(words.action)}", icon=":material/cloud_off:")
        return None


def _handle_click(studio: Studio, spec: ModelSpec, prompt: str, params: dict, reference: Reference | None,
                  problem: str | None, *, count: int, parent_id: int | None) -> None:
    """Act on a registered click exactly once (``Studio.submit``): the intent's keys make any repeat a no-op."""
    state = session().model(spec.id)
    if not state.pressed or state.click is None:  # the press's callback sets both
        return
    state.pressed = False
    form = Form(spec.id, prompt, params, reference=reference, reference_problem=problem, count=count,
                parent_id=parent_id, preset_id=state.preset)
    who = Who(current_person(), None if personal_key_choice_pending() else key_owner(), session_id(), spec.category)
    outcome = studio.submit(form, who, state.click.key)
    if outcome.notice == Notice.FIX:
        _notice(spec.id, Notice.FIX,
                "Nothing was sent. Please fix:\n\n" + "\n".join(f"- {md_escape(p)}" for p in outcome.problems))
    elif outcome.notice is not None and outcome.words is not None:
        words = outcome.words
        _notice(spec.id, outcome.notice, f"**{md_escape(words.title)}** {md_escape(words.action)}")
    follow_later(spec.id, outcome.waiting)
    follow(spec.id, outcome.jobs)
    if outcome.jobs:
        state.scroll = "results"  # the new jobs in view (``results_panel``), at every width


def _follow_waiting(studio: Studio, model: str) -> None:
    """Jobs pressed while the log could not be written: once it answers, their rows (found by key) join the panel."""
    state = session().model(model)
    if state.waiting:
        follow(model, [job for key in state.waiting if (job := studio.log.by_key(key)) is not None])
        state.waiting = []


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


def budget_caption(studio: Studio, person: Person | None) -> str | None:
    """The team's budget and, for a signed-in person with one set, theirs: used today and when they reset."""
    settings = studio.settings
    parts = []
    if settings.daily_budget is not None:
        used = studio.used_today()
        parts.append(f"Team budget today: {used:,} of {settings.daily_budget:,} credits used")
    if person is not None and settings.person_daily_budget is not None:
        mine = studio.used_today(person.id)
        parts.append(f"your budget today: {mine:,} of {settings.person_daily_budget:,} used")
    if not parts:
        return None
    text = " · ".join(parts)
    return f"{text[0].upper()}{text[1:]} (resets at midnight {settings.budget_timezone})."


def generate_label(count: int, cost: int) -> str:
    """Generate with what one press makes and costs: "Generate 4 · 16 credits", "Generate · 4 credits" for one."""
    takes = f" {count}" if count > 1 else ""
    return f"Generate{takes} · {count * cost:,} credit{'s' if count * cost != 1 else ''}"


@dataclass(frozen=True)
class Blocker:
    """Why Generate is off, in words shown beside it; ``prompt``: fixed by typing in the prompt box."""

    reason: str
    prompt: bool = False


def _blocker(studio: Studio, spec: ModelSpec, prompt: str, problem: str | None, total: int, balance: int | None, *,
             down: bool) -> Blocker | None:
    """The first thing that stops this form from being sent, or None. Only a hint: ``Studio.submit`` checks it all
    again at the press (the wallet read fresh), so a stale figure here never lets a press through."""
    settings = studio.settings
    if down:
        return Blocker("Generate waits for the job log (the notice at the top says why).")
    if personal_key_choice_pending():
        return Blocker("Choose which key pays (at the top of the page).")
    if not prompt.strip():
        return Blocker(f"Describe the {spec.category} you want in the prompt box.", prompt=True)
    if len(prompt) > spec.max_prompt_length:
        return Blocker("Shorten the prompt to generate.", prompt=True)
    if problem:
        return Blocker("Remove or replace the reference image.")
    if balance is not None and balance < total:
        return Blocker(f"This costs {total:,} credits; the wallet holds {balance:,}. Top up to generate.")
    if settings.daily_budget is not None:
        left = settings.daily_budget - studio.used_today()
        if total > left:
            return Blocker(f"This costs {total:,} credits; {max(left, 0):,} are left of the team's budget today.")
    person = current_person()
    if person is not None and settings.person_daily_budget is not None:
        left = settings.person_daily_budget - studio.used_today(person.id)
        if total > left:
            return Blocker(f"This costs {total:,} credits; {max(left, 0):,} are left of your budget today.")
    return None


def _filled(model: str) -> None:
    """Where the form's settings came from ("Use these settings"), at its top, where the page opens."""
    text = session().model(model).filled
    if text:
        with st.container(key=widget_key(model, "filled")):
            st.success(md_escape(text), icon=":material/input:")


def generate_form(studio: Studio, spec: ModelSpec, *, down: bool) -> None:
    """The form column: library, prompt, reference, settings, and How many beside Generate with its price.

    ``down``: the job log cannot be reached (the main script's notice says so); the form waits with Generate off.
    """
    model = spec.id
    _filled(model)
    if not down:
        _library(studio, spec)
    prompt_key = widget_key(model, "prompt")
    remembered(prompt_key, "")
    # No max_chars: the browser would count UTF-16 units and silently cut an over-long paste.
    prompt = st.text_area(
        "Prompt",
        key=prompt_key,
        height=110,
        placeholder=f"Describe the {spec.category} you want, e.g. a lighthouse on a cliff at dawn, soft mist",
    )
    remember(prompt_key)
    _prompt_length(spec, prompt)
    animated = _animate_reference(studio, spec) if spec.category == "video" else None
    if animated is not None:
        reference, problem, parent_id = animated
    else:
        (reference, problem), parent_id = _reference_input(studio, spec), None
    params = param_widgets(spec, has_reference=reference is not None or problem is not None)
    # Handled before the balance is read, so the balance already shows these jobs.
    _handle_click(studio, spec, prompt, params, reference, problem, count=_count(model), parent_id=parent_id)
    bar = st.container(horizontal=True, vertical_alignment="bottom", key="generate-bar")  # wraps on a phone
    # How many belongs to this page while it is open: it is not kept when the person leaves (the next prompt on
    # another visit starts at one take). It stays after a press, as the button says ("Generate 4 · 16 credits"):
    # resetting it then would turn a double click's second half into a new press of one take.
    bar.segmented_control("How many", HOW_MANY, key=widget_key(model, "count"), required=True, default=1,
                          help="Several takes of the same prompt and settings.")
    count, cost = _count(model), credits_for(model, params)  # the catalog's price: the one source
    total = count * cost
    balance = _balance(studio)
    blocker = _blocker(studio, spec, prompt, problem, total, balance, down=down)
    row = bar.container(horizontal=True, vertical_alignment="center", key="generate-row", width="content")
    row.button(
        generate_label(count, cost), type="primary", key=widget_key(model, "generate"),
        shortcut=SHORTCUT, on_click=_register_click, args=(model,), icon=ICONS.get(spec.category),
        disabled=blocker is not None,
    )
    if blocker is not None:
        # Beside the button, not below the fold; a marker the browser reads while the person types a first prompt.
        with st.container(key=widget_key(model, "waiting-for-prompt" if blocker.prompt else "waiting")):
            st.caption(f":material/info: {md_escape(blocker.reason)}")
        commit_prompt_while_typing(prompt_key, widget_key(model, "waiting-for-prompt"), widget_key(model, "generate"))
    st.markdown(f"Credit balance {credits_text(balance)}")
    _show_notice(model)
    caption = None if down else budget_caption(studio, current_person())
    if caption:
        st.caption(caption)
    if session().model(model).scroll == "form":  # the page opens at its top: the title, what was filled, the form
        session().model(model).scroll = None
        scroll_to_top()


def results_panel(studio: Studio, model: str, *, down: bool) -> None:
    """The panel column: this session's jobs for ``model`` and their results (nothing while the log is down).

    After a press that sent jobs, the panel is brought into view (on a phone it sits under the form)."""
    with st.container(key="results"):
        if down:
            st.caption("Your jobs show here again once the job log can be reached.")
            return
        _follow_waiting(studio, model)
        jobs_panel(studio, model, session().model(model).followed)
    if session().model(model).scroll == "results":
        session().model(model).scroll = None
        scroll_into_view("results")
