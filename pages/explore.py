"""Explore page: one prompt with {a|b} choices and up to two settings to vary, sent as one grid of jobs.

The settings offered come from the catalog (``rivya.explore.axis_params``), so a new model's parameters become axes
here with no page code. A press is ``Studio.submit_grid``: the whole grid checked once, all or none.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import streamlit as st

from rivya.catalog import MODELS, ModelSpec
from rivya.errors import RivyaError
from rivya.explore import GridError, Plan, axis_choices, axis_params, plan_grid, value_label
from rivya.grids import recent_grids
from rivya.presses import GridForm, Notice, Who, next_intent
from rivya.studio import Studio
from ui.access import current_person, key_owner, page_access, personal_key_choice_pending
from ui.form import remember, remembered, widget_key
from ui.generate import budget_caption
from ui.grid import GRID_PARAM, grid_view
from ui.outage import log_down
from ui.services import session_id
from ui.session import session
from ui.text import credits_text, local_time, md_escape, shorten

studio = page_access()  # first, whatever started this script: nothing is drawn before the password

SCOPE = "explore"
SYNTAX = ("Write choices in braces: `a {red|blue|green} kettle` makes one job per colour. "
          "`\\{` and `\\}` are literal braces.")
RECENT_GRIDS = 8


def _key(name: str) -> str:
    return widget_key(SCOPE, name)


def _state_key(model: str) -> str:
    """The session state of this page's presses for ``model`` (its click, notice), apart from the model's own page."""
    return f"{SCOPE}:{model}"


def _fingerprint(model: str) -> str:
    """What a press would send: the model, the prompt, every setting and every varied value."""
    names = [_key(f"{model}:prompt"), *(_key(f"{model}:{p.key}") for p in MODELS[model].params)]
    state = {n: repr(st.session_state.get(n)) for n in names}
    return hashlib.sha256(json.dumps([model, state], sort_keys=True).encode()).hexdigest()


def _register_click(model: str) -> None:
    """Explore's callback: one new intent (the grid's id) per click, except the second half of a double click."""
    state = session().model(_state_key(model))
    intent = next_intent(_fingerprint(model), state.click, time.monotonic())
    if intent is None:
        return
    state.click, state.pressed, state.notice = intent, True, None


def _model_choice() -> ModelSpec:
    key = _key("model")
    remembered(key, next(iter(MODELS)))
    model = st.segmented_control("Model", list(MODELS), key=key, required=True,
                                 format_func=lambda m: MODELS[m].display_name)
    remember(key)
    return MODELS[model or next(iter(MODELS))]


def _settings(spec: ModelSpec) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Every setting the catalog lists for the model, each as a choice of values: one value fixes it, two or more
    vary it (a row or column of the grid). Returns (fixed settings, varied settings)."""
    fixed: dict[str, Any] = {}
    varied: dict[str, list[Any]] = {}
    for param in axis_params(spec.id):
        key = _key(f"{spec.id}:{param.key}")
        remembered(key, [param.default])
        choices = axis_choices(param)
        if param.kind == "select":
            picked = st.pills(param.label, choices, selection_mode="multi", key=key, help=param.help,
                              format_func=lambda v, p=param: value_label(p, v))
        else:
            picked = st.multiselect(param.label, choices, key=key, help=param.help,
                                    format_func=lambda v, p=param: value_label(p, v))
        remember(key)
        values = sorted(picked or [param.default], key=choices.index)  # none picked: the documented default
        if len(values) > 1:
            varied[param.key] = values
        else:
            fixed[param.key] = values[0]
    return fixed, varied


def _press(studio: Studio, form: GridForm) -> None:
    """Act on a registered click exactly once: the intent's keys make any repeat of this press a no-op."""
    state = session().model(_state_key(form.model))
    if not state.pressed or state.click is None:
        return
    state.pressed = False
    who = Who(current_person(), None if personal_key_choice_pending() else key_owner(), session_id(), SCOPE)
    outcome = studio.submit_grid(form, who, state.click.key)
    if outcome.notice == Notice.FIX:
        state.notice = (Notice.FIX, "Nothing was sent. Please fix:\n\n" + "\n".join(f"- {md_escape(p)}"
                                                                               for p in outcome.problems))
    elif outcome.notice is not None and outcome.words is not None:
        state.notice = (outcome.notice, f"**{md_escape(outcome.words.title)}** {md_escape(outcome.words.action)}")
    if outcome.jobs or outcome.waiting:
        st.query_params[GRID_PARAM] = state.click.key  # the grid shows, and the address opens it again


def _show_notice(model: str) -> None:
    notice = session().model(_state_key(model)).notice
    if notice:
        kind, text = notice
        (st.warning if kind == Notice.WARN else st.error)(text, icon=":material/error:")


def _balance(studio: Studio) -> int | None:
    if personal_key_choice_pending():
        return None
    try:
        return studio.balance(key_owner())
    except RivyaError:
        return None


def explore_form(studio: Studio, *, down: bool) -> None:
    """The prompt, the fixed settings, the settings to vary, and what the grid makes and costs before the press."""
    spec = _model_choice()
    prompt_key = _key(f"{spec.id}:prompt")
    remembered(prompt_key, "")
    prompt = st.text_area("Prompt", key=prompt_key, height=120, help=SYNTAX,
                          placeholder="e.g. a {red|blue|green} kettle on a {table|windowsill}")
    remember(prompt_key)
    st.caption(SYNTAX)
    st.caption("Pick one value of a setting to fix it, two or more to vary it (at most two settings).")
    params, settings = _settings(spec)
    form = GridForm(spec.id, prompt, params, settings)
    plan: Plan | None = None
    problems: list[str] = []
    if prompt.strip() or settings:
        try:
            plan = plan_grid(spec.id, prompt, params, settings)
        except GridError as exc:
            problems = exc.problems
    row = st.container(horizontal=True, vertical_alignment="center", key="explore-row")
    row.button("Explore", type="primary", key=_key(f"{spec.id}:go"), on_click=_register_click, args=(spec.id,),
               icon=":material/grid_view:", disabled=down or plan is None)
    price = row.empty()
    _press(studio, form)
    _show_notice(spec.id)
    balance = _balance(studio)
    price.markdown(f"**{plan.summary()}** · balance {credits_text(balance)}" if plan else
                   f"balance {credits_text(balance)}")
    for problem in problems:
        st.warning(md_escape(problem), icon=":material/grid_off:")
    caption = None if down else budget_caption(studio, current_person())
    if caption:
        st.caption(caption)


def grids_list(studio: Studio) -> None:
    """The newest kept grids, each a link that opens it here."""
    grids = recent_grids(studio.log, limit=RECENT_GRIDS)
    if not grids:
        st.caption("Your grids will appear here.")
        return
    st.markdown("**Recent grids**")
    for grid in grids:
        who = f" · {md_escape(grid.person_name)}" if grid.person_name else ""
        st.button(md_escape(shorten(grid.prompt, 80)), key=_key(f"open:{grid.id}"), type="tertiary",
                  icon=":material/grid_view:", on_click=_open, args=(grid.id,),
                  help=f"{grid.cells} jobs · {local_time(grid.created_at)}{who}")


def _open(grid_id: str) -> None:
    st.query_params[GRID_PARAM] = grid_id


def _close() -> None:
    st.query_params.pop(GRID_PARAM, None)


def explore_page(studio: Studio) -> None:
    """The form on the left; the grid named in the address (or the list of grids) on the right."""
    down = log_down()
    st.title("Explore", anchor=False)
    st.caption("One press, a labelled grid of prompt and setting variations.")
    form, panel = st.columns([4, 7], gap="large")
    with form:
        explore_form(studio, down=down)
    with panel:
        if down:
            st.caption("Grids show here again once the job log can be reached.")
            return
        grid_id = st.query_params.get(GRID_PARAM)
        if grid_id:
            st.button("All grids", key=_key("all"), type="tertiary", icon=":material/arrow_back:", on_click=_close)
            grid_view(grid_id, key_prefix=f"{SCOPE}:grid")
        else:
            grids_list(studio)


explore_page(studio)
