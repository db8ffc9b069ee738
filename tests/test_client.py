"""The client against the real sandbox over HTTP: endpoints, errors, retries, idempotency."""

from __future__ import annotations

import io
import logging
import time

import pytest

from rivya import (
    APIConnectionError,
    AuthenticationError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RivyaClient,
    ServiceUnavailableError,
    ValidationError,
    WaitTimeoutError,
)
from rivya.client import parse_retry_after
from rivya.sandbox import Sandbox

from .conftest import FAST_POLLS, creates, image_bytes


def test_create_wait_download_image(client: RivyaClient, sandbox: Sandbox) -> None:
    task = client.create_generation("grok-imagine", "a red fox", {"aspect_ratio": "16:9"})
    assert task.status == "queued" and task.reserved_credits == 4 and task.id.startswith("task_")
    seen: list[str] = []
    done = client.wait(task.id, on_update=lambda g: seen.append(g.status))
    assert done.status == "succeeded" and done.is_done and done.final_credits == 4
    assert seen[-1] == "succeeded" and len(seen) == len(set(seen))
    png = client.session.get(done.primary_url, timeout=5)
    from PIL import Image

    assert Image.open(io.BytesIO(png.content)).size == (1024, 576)
    assert client.get_credits().current_credits == 1000 - 4


def test_list_models_is_public(sandbox: Sandbox) -> None:
    anonymous = RivyaClient(api_key="", base_url=sandbox.url)
    models = {m.id: m for m in anonymous.list_models()}
    assert models["grok-imagine"].base_credits == 4
    assert models["grok-imagine-video"].max_prompt_length == 5000
    assert models["grok-imagine-video"].api_status == "available"


def test_failed_task_is_returned_and_refunded(client: RivyaClient) -> None:
    task = client.create_generation("grok-imagine-video", "this one will #fail", {"duration": 6})
    assert client.get_credits().current_credits == 990
    done = client.wait(task.id)
    assert done.status == "failed" and done.error_code == "generation_failed"
    assert done.final_credits == 0
    assert client.get_credits().current_credits == 1000


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        ("missing", "api_key_missing", AuthenticationError),
        ("unknown", "api_key_invalid", AuthenticationError),
        ("revoked", "api_key_revoked", AuthenticationError),
        ("expired", "api_key_expired", AuthenticationError),
        ("scope", "api_scope_denied", PermissionDeniedError),
    ],
)
def test_key_errors(sandbox: Sandbox, status: str, code: str, error_type: type) -> None:
    key = {"missing": "", "unknown": "rvya_sk_nobody"}.get(status, f"rvya_sk_{status}")
    if status in ("revoked", "expired"):
        sandbox.add_key(key, status=status)
    if status == "scope":
        sandbox.add_key(key, scopes=frozenset({"generations:create"}))
    with RivyaClient(key, sandbox.url) as c, pytest.raises(error_type) as info:
        c.get_credits()
    assert info.value.code == code and info.value.status_code in (401, 403)
    assert info.value.request_id and info.value.request_id.startswith("req_")
    assert len([e for e in sandbox.journal if e.path == "/api/v1/credits"]) == 1  # never retried


def test_not_found_validation_and_credit_errors(client: RivyaClient, sandbox: Sandbox) -> None:
    with pytest.raises(NotFoundError) as info:
        client.get_generation("task_doesnotexist")
    assert info.value.status_code == 404
    with pytest.raises(NotFoundError):
        client.get_file("file_nope")
    # An unknown model is not in our catalog, so it reaches the service: a 400, not retried.
    with pytest.raises(ValidationError) as info:
        client.create_generation("flux-pro", "a cat")
    assert info.value.code == "validation_failed" and "flux-pro" in info.value.message
    assert len(creates(sandbox)) == 1
    sandbox.set_credits(3)
    with pytest.raises(InsufficientCreditsError) as info:
        client.create_generation("grok-imagine", "a cat")
    assert "needs 4 credits" in info.value.message
    assert len(sandbox.state.tasks) == 0 and client.get_credits().current_credits == 3


def test_public_api_disabled(client: RivyaClient, sandbox: Sandbox) -> None:
    sandbox.faults.public_api_disabled = True
    client.max_retries = 0
    with pytest.raises(ServiceUnavailableError) as info:
        client.get_credits()
    assert info.value.code == "public_api_disabled" and info.value.status_code == 503


def test_local_validation_sends_nothing(client: RivyaClient, sandbox: Sandbox) -> None:
    with pytest.raises(InvalidInputError) as info:
        client.create_generation("grok-imagine-video", " ", {"duration": 31, "mode": "wild"})
    assert len(info.value.problems) == 3
    assert sandbox.journal == []


def test_idempotent_replay_and_conflict(client: RivyaClient, sandbox: Sandbox) -> None:
    first = client.create_generation("grok-imagine", "a boat", idempotency_key="job-1")
    again = client.create_generation("grok-imagine", "a boat", idempotency_key="job-1")
    assert again.id == first.id
    assert len(sandbox.state.tasks) == 1 and client.get_credits().current_credits == 996
    with pytest.raises(IdempotencyConflictError) as info:
        client.create_generation("grok-imagine", "a different boat", idempotency_key="job-1")
    assert info.value.status_code == 409
    assert len(creates(sandbox)) == 3  # the 409 was not retried


def test_lost_create_response_is_retried_into_one_task(client: RivyaClient, sandbox: Sandbox) -> None:
    sandbox.lose_next_creates(1)
    task = client.create_generation("grok-imagine", "a lighthouse")
    attempts = creates(sandbox)
    assert [e.status for e in attempts] == [0, 200]
    assert attempts[0].idempotency_key == attempts[1].idempotency_key
    assert list(sandbox.state.tasks) == [task.id]
    assert client.get_credits().current_credits == 996


def test_lost_create_without_retries_raises_connection_error(client: RivyaClient, sandbox: Sandbox) -> None:
    client.max_retries = 0
    sandbox.lose_next_creates(1)
    with pytest.raises(APIConnectionError):
        client.create_generation("grok-imagine", "a lighthouse", idempotency_key="lost-1")
    # The caller kept the key, so a later retry recovers the very same task.
    recovered = client.create_generation("grok-imagine", "a lighthouse", idempotency_key="lost-1")
    assert list(sandbox.state.tasks) == [recovered.id]


def test_rate_limit_retry_after_is_waited_out(client: RivyaClient, sandbox: Sandbox) -> None:
    sandbox.rate_limit_next(1, retry_after=1)
    started = time.monotonic()
    assert client.get_credits().current_credits == 1000
    assert time.monotonic() - started >= 0.95
    credits_calls = [e for e in sandbox.journal if e.path == "/api/v1/credits"]
    assert [e.status for e in credits_calls] == [429, 200]
    assert credits_calls[1].at - credits_calls[0].at >= 0.95


def test_rate_limit_beyond_retries_raises_with_retry_after(client: RivyaClient, sandbox: Sandbox) -> None:
    client.max_retries = 0
    sandbox.rate_limit_next(1, retry_after=3)
    with pytest.raises(RateLimitedError) as info:
        client.get_credits()
    assert info.value.retry_after == 3


def test_5xx_is_retried_with_backoff(client: RivyaClient, sandbox: Sandbox) -> None:
    sandbox.fail_next(2)
    task = client.create_generation("grok-imagine", "a kite")
    assert [e.status for e in creates(sandbox)] == [500, 500, 201]
    assert len({e.idempotency_key for e in creates(sandbox)}) == 1
    assert list(sandbox.state.tasks) == [task.id]
    sandbox.fail_next(3)
    with pytest.raises(ServiceUnavailableError) as info:
        client.get_credits()
    assert info.value.status_code == 500 and info.value.code == "internal_error"


def test_connection_refused_is_a_connection_error() -> None:
    with Sandbox() as gone:
        url = gone.url
    with RivyaClient("rvya_sk_x", url, max_retries=1) as c, pytest.raises(APIConnectionError) as info:
        c.get_credits()
    assert "could not reach" in str(info.value)


def test_retry_after_forms() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    from email.utils import formatdate

    assert 8 <= parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10


def test_wait_timeout_does_not_abandon_the_task(sandbox: Sandbox) -> None:
    slow = Sandbox(seed=1).start()
    try:
        with RivyaClient(slow.api_key, slow.url, poll_schedule=FAST_POLLS) as c:
            task = c.create_generation("grok-imagine-video", "a slow river")
            with pytest.raises(WaitTimeoutError) as info:
                c.wait(task.id, timeout=0.5)
            assert info.value.task_id == task.id and info.value.last_status in ("queued", "processing")
            assert slow.state.tasks[task.id].status != "failed"
    finally:
        slow.stop()


def test_wait_keeps_polling_through_faults(client: RivyaClient, sandbox: Sandbox) -> None:
    task = client.create_generation("grok-imagine", "a storm")
    client.max_retries = 0
    sandbox.fail_next(2)
    sandbox.rate_limit_next(1, retry_after=0.2)
    assert client.wait(task.id, timeout=10).status == "succeeded"


def test_wait_cadence_follows_the_guidance() -> None:
    """First poll 2-3 s after submit, then every 5-10 s: measured from the sandbox journal."""
    from rivya.sandbox import Timing

    with Sandbox(timing=Timing(image_queued=1, image_processing=4)) as sb, RivyaClient(sb.api_key, sb.url) as c:
        task = c.create_generation("grok-imagine", "a clock")
        c.wait(task.id, timeout=30)
        create_at = creates(sb)[0].at
        polls = [e.at for e in sb.journal if e.path.startswith("/api/v1/generations/")]
    gaps = [b - a for a, b in zip([create_at, *polls], polls, strict=False)]
    assert 2.0 <= gaps[0] <= 3.2, gaps
    assert all(4.9 <= g <= 10.5 for g in gaps[1:]), gaps
    assert len(polls) == 2


def test_uploads_accept_jpeg_png_webp(client: RivyaClient, sandbox: Sandbox, tmp_path) -> None:
    for fmt, mime in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")):
        path = tmp_path / f"ref.{fmt.lower()}"
        path.write_bytes(image_bytes(fmt))
        uploaded = client.upload_file(path, model="grok-imagine", client_request_id=f"up-{fmt}")
        assert uploaded.mime_type == mime and uploaded.size == path.stat().st_size
        assert uploaded.url.endswith(uploaded.id)
        assert uploaded.as_reference_item() == {"url": uploaded.url, "kind": "image", "name": path.name, "mimeType": mime}
        assert client.get_file(uploaded.id).url == uploaded.url
    with open(path, "rb") as fh:
        assert client.upload_file(fh, model="grok-imagine-video").name == "ref.webp"


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (image_bytes("GIF"), "anim.gif", "image/gif"),
        (b"just some words, honestly", "notes.png", "not a recognised format"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024 + 1 - 8), "huge.png", "limit is 10485760 bytes"),
    ],
)
def test_uploads_refuse_by_content_and_size(client: RivyaClient, sandbox: Sandbox, data: bytes, name: str, expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        client.upload_file(data, model="grok-imagine", filename=name, mime_type="image/png")
    assert expected in info.value.message
    assert sandbox.state.files == {}


def test_upload_kind_and_model_checks(client: RivyaClient) -> None:
    with pytest.raises(ValidationError, match="accepts only image"):
        client.upload_file(image_bytes(), kind="video", model="grok-imagine")
    with pytest.raises(ValidationError, match="kind must be one of"):
        client.upload_file(image_bytes(), kind="document")
    with pytest.raises(InvalidInputError):
        client.upload_file(image_bytes(), client_request_id="x" * 129)


def test_reference_image_reaches_the_task(client: RivyaClient, sandbox: Sandbox) -> None:
    ref = client.upload_file(image_bytes("JPEG"), model="grok-imagine-video", filename="me.jpg")
    task = client.create_generation("grok-imagine-video", "wave hello", {"referenceMediaItems": [ref.as_reference_item()]})
    assert sandbox.state.tasks[task.id].params["referenceMediaItems"][0]["url"] == ref.url
    with pytest.raises(ValidationError, match="not a file uploaded"):
        client.create_generation(
            "grok-imagine", "x", {"referenceMediaItems": [{"url": "http://elsewhere/a.png", "kind": "image"}]}
        )


def test_the_key_never_leaks(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    secret = "rvya_sk_supersecret_0123456789"
    sandbox.add_key(secret)
    caplog.set_level(logging.DEBUG)
    with RivyaClient(secret, sandbox.url, max_retries=1) as c:
        assert secret not in repr(c) and secret not in str(c)
        sandbox.fail_next(5)
        errors: list[Exception] = []
        for call in (c.get_credits, lambda: c.get_generation("task_nope"), lambda: c.create_generation("x", "y")):
            try:
                call()
            except Exception as exc:
                errors.append(exc)
        assert len(errors) == 3
        assert "Bearer" not in c.session.headers.get("Authorization", "")
    with RivyaClient(secret, "http://127.0.0.1:9", max_retries=0) as down:
        with pytest.raises(APIConnectionError) as info:
            down.get_credits()
        errors.append(info.value)
    for exc in errors:
        assert secret not in str(exc) and secret not in repr(exc) and secret not in repr(getattr(exc, "body", ""))
    assert caplog.records and all(secret not in r.getMessage() for r in caplog.records)
