"""Arbitrary prompts and parameters: the client and the sandbox judge them alike, and nothing crashes.

The two sides are independent: ``rivya.catalog.validate`` is the client's reading of the
docs, the sandbox checks against its own fixture (``rivya/sandbox/contract.json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rivya import Generation, InvalidInputError, RivyaClient, ValidationError
from rivya.catalog import MODELS, REFERENCE_ITEMS_KEY, validate
from rivya.sandbox import Sandbox, load_contract

from .conftest import FAST_TIMING

CONTRACT = load_contract()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
valid_values = st.sampled_from(
    [option for spec in MODELS.values() for p in spec.params for option in p.options] + [6, 7, 30, 12.0, 6.5, 31, True]
)
reference_items = st.lists(
    st.fixed_dictionaries(
        {"url": st.sampled_from(["", "http://elsewhere/a.png", 7]), "kind": st.sampled_from(["image", "video", None])},
        optional={"mimeType": st.sampled_from(["image/png", "image/gif", None])},
    ),
    max_size=2,
)
param_keys = st.sampled_from(
    ["aspect_ratio", "enable_pro", "mode", "duration", "resolution", REFERENCE_ITEMS_KEY, "colour", ""]
) | st.text(max_size=8)
any_params = st.one_of(
    st.none(),
    st.dictionaries(param_keys, valid_values | reference_items | json_values, max_size=5),
    json_values,
)
models = st.sampled_from([*MODELS, "flux-pro", ""]) | st.text(max_size=8)


def _edge_values(model_id: str) -> dict[str, st.SearchStrategy[Any]]:
    """Per documented key, the values at the edges as either side states them."""
    spec, rule = MODELS[model_id], CONTRACT.models[model_id]
    edges: dict[str, set[Any]] = {}
    for key, default, options, low, high in (
        *((p.key, p.default, p.options, p.minimum, p.maximum) for p in spec.params),
        *((p.key, p.default, p.options, p.min, p.max) for p in rule.params),
    ):
        values = edges.setdefault(key, {""})
        values.update({default, *options})
        if low is not None and high is not None:
            values.update({low - 1, low, low + 0.5, float(high), high, high + 1})
    return {key: st.sampled_from(sorted(values, key=repr)) for key, values in edges.items()}


_limits = {spec.max_prompt_length for spec in MODELS.values()} | {m.max_prompt_length for m in CONTRACT.models.values()}
edge_prompts = st.sampled_from(["a fox", *(c * n for c in ("x", "🦊") for limit in sorted(_limits) for n in (limit, limit + 1))])
prompts = st.one_of(
    st.text(max_size=200),
    edge_prompts,
    st.sampled_from(["", "   ", "\n\t", "مرحبا بالعالم، ثعلب أحمر", "\x00\x07\x1b[31m"]),
    st.none(),
    st.integers(),
)


near_valid_prompts = st.one_of(edge_prompts, st.text(min_size=1, max_size=40).filter(str.strip))


@st.composite
def near_valid_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """A known model, a usable prompt most of the time, and documented keys at their edges."""
    model = draw(st.sampled_from(sorted(MODELS)))
    return model, draw(near_valid_prompts), draw(st.fixed_dictionaries({}, optional=_edge_values(model)))


@pytest.fixture(scope="module")
def rich_sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=FAST_TIMING, credits=10**9) as server:
        yield server


def sandbox_should_refuse(body: dict[str, Any]) -> bool:
    """The client's verdict, plus the sandbox's documented differences from it.

    - A body that is not strict JSON (NaN, Infinity) is refused before any check.
    - Keys its fixture does not list are ignored by the sandbox (v1 may add params), so
      they are left out of what the client judges.
    - No file was uploaded in this account, so any reference the client lets through
      names a file the sandbox does not have.
    """
    try:
        json.dumps(body, allow_nan=False)
    except ValueError:
        return True
    model, prompt, sent = body["model"], body["prompt"], body.get("params")
    rule = CONTRACT.models.get(model) if isinstance(model, str) else None
    if rule is not None and isinstance(sent, dict):
        sent = {k: v for k, v in sent.items() if k == REFERENCE_ITEMS_KEY or rule.param(k)}
    if validate(model, prompt, sent):
        return True
    return isinstance(sent, dict) and bool(sent.get(REFERENCE_ITEMS_KEY))


def check_both_sides(sandbox: Sandbox, model: Any, prompt: Any, params: Any) -> None:
    """Send it raw and through the client: the sandbox refuses exactly what it should, nothing crashes."""
    problems = validate(model, prompt, params)
    assert isinstance(problems, list) and all(isinstance(p, str) and p.strip() for p in problems)

    body = {"model": model, "prompt": prompt}
    if params is not None:
        body["params"] = params
    reply = requests.post(
        f"{sandbox.url}/api/v1/generations",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {sandbox.api_key}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert reply.status_code in (201, 400), reply.text
    if reply.status_code == 400:
        error = reply.json()["error"]
        assert error["code"] == "validation_failed" and error["message"].strip()
    assert (reply.status_code == 400) == sandbox_should_refuse(body), (problems, reply.text)

    with RivyaClient(sandbox.api_key, sandbox.url, max_retries=0) as client:
        try:
            outcome = client.create_generation(model, prompt, params)
        except InvalidInputError as exc:
            assert (exc.problems and model in MODELS) or "JSON" in str(exc)
        except ValidationError as exc:
            assert exc.message.strip()
        else:
            assert isinstance(outcome, Generation) and outcome.status == "queued"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=models, prompt=prompts, params=any_params)
def test_any_input_gets_a_job_or_a_clear_error(rich_sandbox: Sandbox, model: Any, prompt: Any, params: Any) -> None:
    check_both_sides(rich_sandbox, model, prompt, params)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=near_valid_requests())
def test_client_and_sandbox_agree_at_the_edges(rich_sandbox: Sandbox, request: tuple[str, str, dict[str, Any]]) -> None:
    """Documented values at and around their limits, as each side states them."""
    check_both_sides(rich_sandbox, *request)
