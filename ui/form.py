"""Parameter widgets generated from the catalog: a new parameter is a catalog entry, not page code."""

from __future__ import annotations

from typing import Any

import streamlit as st

from rivya.catalog import MODELS, ModelSpec, Param
from rivya.tasklog import Job
from ui.services import PAGE_FOR_CATEGORY
from ui.session import session


def widget_key(scope: str, name: str) -> str:
    """Every widget's ``st.session_state`` key: ``<model or page>:<name>``, one scheme for the whole app."""
    return f"{scope}:{name}"


def _is_switch(param: Param) -> bool:
    return param.kind == "select" and set(param.options) == {"false", "true"}


def to_widget(param: Param, value: Any) -> Any:
    """An API value as its widget holds it."""
    if _is_switch(param):
        return value == "true"
    if param.kind == "number":
        return int(value)
    return value


def to_api(param: Param, value: Any) -> Any:
    """A widget's value as the API expects it (``enable_pro`` as the string "true"/"false")."""
    if _is_switch(param):
        return "true" if value else "false"
    if param.kind == "number":
        return int(value)
    return value


def remembered(key: str, default: Any) -> None:
    """Give a widget its last value back: Streamlit forgets widget values when their page is left."""
    if key not in st.session_state:
        st.session_state[key] = session().kept.get(key, default)


def remember(key: str) -> None:
    """Keep a copy of a widget's value that survives visiting another page."""
    session().kept[key] = st.session_state[key]


def prefill(spec: ModelSpec, prompt: str, params: dict[str, Any]) -> None:
    """Put a job's settings into the form's widgets (before they are drawn)."""
    st.session_state[widget_key(spec.id, "prompt")] = prompt
    for param in spec.params:
        if param.key in params:
            st.session_state[widget_key(spec.id, param.key)] = to_widget(param, params[param.key])


def use_job_settings(job: Job) -> None:
    """Put a job's prompt and settings back in its page's form and open that page; nothing is sent.

    The one way in for "Use these settings" and "Edit and try again" (a button's callback): the last press's message
    goes (it was about another prompt), the form says where its settings came from, and the page opens with the
    form in view.
    """
    spec = MODELS[job.model]
    prefill(spec, job.prompt, job.params)
    state = session().model(spec.id)
    state.notice = None
    state.filled = f"Settings from job #{job.id} are in the form. Change anything, then press Generate."
    state.scroll = "form"
    session().goto_page = PAGE_FOR_CATEGORY[spec.category]


def form_values(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    """The prompt and every setting the form holds now, as the API expects them (for a button's callback)."""
    prompt = st.session_state.get(widget_key(spec.id, "prompt"), "")
    params = {p.key: to_api(p, st.session_state.get(widget_key(spec.id, p.key), to_widget(p, p.default))) for p in spec.params}
    return prompt, params


def _narrow(param: Param) -> bool:
    """Fits half the form's width: a slider, a switch, or a choice of two."""
    return param.kind == "number" or (param.kind == "select" and len(param.options) <= 2)


def _rows(spec: ModelSpec) -> list[tuple[Param, ...]]:
    """The parameters in catalog order, two narrow neighbours sharing a row (a shorter form: Generate in sight)."""
    rows: list[tuple[Param, ...]] = []
    for param in spec.params:
        if rows and len(rows[-1]) == 1 and _narrow(rows[-1][0]) and _narrow(param):
            rows[-1] = (rows[-1][0], param)
        else:
            rows.append((param,))
    return rows


def _param_widget(spec: ModelSpec, param: Param, *, has_reference: bool) -> Any:
    """One parameter's widget; its API value, or None when it is not sent (off while a reference is attached)."""
    key = widget_key(spec.id, param.key)
    remembered(key, to_widget(param, param.default))
    disabled = param.text_only and has_reference
    if _is_switch(param):
        st.toggle(param.label, key=key, help=param.help, disabled=disabled)
        if disabled:
            st.caption(f"{param.label} applies to text-only prompts, so it is off while a reference image is attached.")
    elif param.kind == "select":
        st.radio(param.label, param.options, key=key, help=param.help, horizontal=True, format_func=param.label_for)
    else:
        st.slider(
            param.label, param.minimum, param.maximum, step=param.step, key=key, help=param.help,
            format=f"%d {param.unit}".strip(),
        )
    remember(key)
    return None if disabled else to_api(param, st.session_state[key])


def param_widgets(spec: ModelSpec, *, has_reference: bool) -> dict[str, Any]:
    """Draw one widget per parameter, with the documented default; return the API params."""
    params: dict[str, Any] = {}
    for row in _rows(spec):
        places = st.columns(len(row), gap="medium") if len(row) > 1 else [st.container()]
        for param, place in zip(row, places, strict=True):
            with place:
                value = _param_widget(spec, param, has_reference=has_reference)
            if value is not None:
                params[param.key] = value
    return params
