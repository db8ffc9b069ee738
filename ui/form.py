"""Parameter widgets generated from the catalog: a new parameter is a catalog entry, not page code."""

from __future__ import annotations

from typing import Any

import streamlit as st

from rivya.catalog import ModelSpec, Param
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


def form_values(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    """The prompt and every setting the form holds now, as the API expects them (for a button's callback)."""
    prompt = st.session_state.get(widget_key(spec.id, "prompt"), "")
    params = {p.key: to_api(p, st.session_state.get(widget_key(spec.id, p.key), to_widget(p, p.default))) for p in spec.params}
    return prompt, params


def param_widgets(spec: ModelSpec, *, has_reference: bool) -> dict[str, Any]:
    """Draw one widget per parameter, with the documented default; return the API params."""
    params: dict[str, Any] = {}
    for param in spec.params:
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
        if not disabled:
            params[param.key] = to_api(param, st.session_state[key])
    return params
