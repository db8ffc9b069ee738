"""Arbitrary prompts and parameters: a valid job or a clear error, never a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rivya import Generation, InvalidInputError, RivyaClient, ValidationError
from rivya.catalog import MODELS, validate
from rivya.sandbox import Sandbox

from .conftest import FAST_TIMING

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
valid_values = st.sampled_from(
    [option for spec in MODELS.values() for p in spec.params for option in p.options] + [6, 7, 30, 12.0]
)
param_keys = st.sampled_from(
    ["aspect_ratio", "enable_pro", "mode", "duration", "resolution", "referenceMediaItems", "colour", ""]
) | st.text(max_size=8)
prompts = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["", "   ", "\n\t", "x" * 5000, "x" * 5001, "مرحبا بالعالم، ثعلب أحمر", "🦊" * 5000, "\x00\x07\x1b[31m"]),
    st.none(),
    st.integers(),
)
params = st.one_of(st.none(), st.dictionaries(param_keys, valid_values | json_values, max_size=5), json_values)
models = st.sampled_from([*MODELS, "flux-pro", ""]) | st.text(max_size=8)


@pytest.fixture(scope="module")
def rich_sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=FAST_TIMING, credits=10**9) as server:
        yield server


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=models, prompt=prompts, params=params)
def test_any_input_gets_a_job_or_a_clear_error(rich_sandbox: Sandbox, model, prompt, params) -> None:
    problems = validate(model, prompt, params)
    assert isinstance(problems, list) and all(isinstance(p, str) and p.strip() for p in problems)

    body = {"model": model, "prompt": prompt}
    if params is not None:
        body["params"] = params
    reply = requests.post(
        f"{rich_sandbox.url}/api/v1/generations",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {rich_sandbox.api_key}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert reply.status_code in (201, 400), reply.text
    if reply.status_code == 400:
        error = reply.json()["error"]
        assert error["code"] == "validation_failed" and error["message"].strip()
    if problems:
        assert reply.status_code == 400

    with RivyaClient(rich_sandbox.api_key, rich_sandbox.url, max_retries=0) as client:
        try:
            outcome = client.create_generation(model, prompt, params)
        except InvalidInputError as exc:
            assert (exc.problems and model in MODELS) or "JSON" in str(exc)
        except ValidationError as exc:
            assert exc.message.strip()
        else:
            assert isinstance(outcome, Generation) and outcome.status == "queued"
