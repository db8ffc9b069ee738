"""The sandbox's checks of create bodies and uploads, driven by its contract fixture.

Written apart from ``rivya.catalog.validate`` on purpose (see ``contract.py``); the wording
of every message is the sandbox's own. Where the docs are silent, the choice made is
noted where the code makes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from .contract import Contract, MediaRule, ModelRule, ParamRule

# The Files API reads a file's signature, not its name (reference section 5). Prefix
# signatures only; the sandbox does not decode the file.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
)
# The docs leave a generation's client_request_id length open; the sandbox applies the
# Files API's documented cap to it too (the stricter reading).
GENERATION_CLIENT_REQUEST_ID_MAX = 128


def sniff(data: bytes) -> str | None:
    """The MIME type a file's leading bytes announce, or None when unrecognised."""
    for offset, magic, mime in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    if data[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav"}.get(data[8:12])
    if data[4:8] == b"ftyp":
        return {b"qt  ": "video/quicktime", b"M4A ": "audio/mp4"}.get(data[8:12], "video/mp4")
    if len(data) >= 2 and data[0] == 0xFF:
        if data[1] & 0xF6 == 0xF0:  # ADTS frame header
            return "audio/aac"
        if data[1] & 0xE0 == 0xE0 and data[1] & 0x06:  # MPEG audio frame header, layer set
            return "audio/mpeg"
    return None


def _number_problem(rule: ParamRule, value: Any) -> str | None:
    # JSON has one number type, so 12.0 is the number 12 (as a JavaScript service sees it).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        return f"params.{rule.key} must be a JSON number; got {type(value).__name__} {value!r}."
    if (rule.min is not None and value < rule.min) or (rule.max is not None and value > rule.max):
        return f"params.{rule.key} is {value!r}, outside the allowed range {rule.min}..{rule.max}."
    if rule.step and (Fraction(value) - Fraction(rule.min or 0)) % Fraction(rule.step):
        return f"params.{rule.key} is {value!r}; allowed values go up in steps of {rule.step} from {rule.min}."
    return None


def _param_problem(rule: ParamRule, value: Any) -> str | None:
    if rule.type == "number":
        return _number_problem(rule, value)
    # A select takes one of its option strings exactly; the docs' own example sends
    # enable_pro as the string "false", so a JSON boolean is refused (the stricter reading).
    if not isinstance(value, str) or value not in rule.options:
        return f"params.{rule.key} accepts {' | '.join(rule.options)}; got {value!r}."
    return None


def _reference_problems(model: ModelRule, items: Any, key: str, uploaded_kind: Callable[[str], str | None]) -> list[str]:
    rule: MediaRule = model.reference
    if not isinstance(items, list):
        return [f"params.{key} must be an array of uploaded files."]
    problems = []
    if len(items) > rule.max_files:
        problems.append(f"params.{key} holds {len(items)} files; {model.id} takes at most {rule.max_files}.")
    for n, item in enumerate(items):
        where = f"params.{key}[{n}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object with url and kind.")
            continue
        url = item.get("url")
        if not isinstance(url, str) or not url:
            problems.append(f"{where}.url is required: the url the Files API returned.")
        if item.get("kind") not in rule.kinds:
            problems.append(f"{where}.kind must be {' or '.join(rule.kinds)} for {model.id}; got {item.get('kind')!r}.")
        # mimeType is optional: absent is fine, but null or an unlisted type is refused
        # (the docs say nothing about null; the stricter reading).
        if "mimeType" in item and item["mimeType"] not in rule.mime_types:
            problems.append(f"{where}.mimeType {item['mimeType']!r} is not one of {', '.join(rule.mime_types)}.")
        if isinstance(url, str) and url:
            kind = uploaded_kind(url)
            if kind is None:
                problems.append(f"{where}.url is not a file uploaded through the Files API by this account.")
            elif kind not in rule.kinds:
                problems.append(f"{where}.url is an uploaded {kind} file; {model.id} takes {' or '.join(rule.kinds)}.")
    return problems


def generation_problems(body: Any, contract: Contract, uploaded_kind: Callable[[str], str | None]) -> list[str]:
    """Everything wrong with a create body; empty when the sandbox accepts it.

    ``uploaded_kind(url)`` is the kind of this account's upload behind ``url``, or None.
    """
    if not isinstance(body, dict):
        return ["The request body must be a JSON object."]
    problems = _top_level_problems(body, contract)
    model_id = body.get("model")
    model = contract.models.get(model_id) if isinstance(model_id, str) else None
    if model is None:
        return [*problems, f"model {model_id!r} is not a generation model here; use one of: {', '.join(contract.models)}."]
    if problem := _prompt_problem(model, body.get("prompt")):
        problems.append(problem)
    if "params" not in body:
        return problems
    params = body["params"]
    # params is optional; sent as null (or anything but an object) it is refused (stricter reading).
    if not isinstance(params, dict):
        return [*problems, f"params must be a JSON object; got {type(params).__name__}."]
    return [*problems, *_params_problems(model, params, contract.reference_items_param, uploaded_kind)]


def _top_level_problems(body: dict[str, Any], contract: Contract) -> list[str]:
    """Fields the create does not take, and a ``client_request_id`` that is not a short string."""
    problems = []
    extra = [k for k in body if k not in contract.generation_fields]
    if extra:
        problems.append(
            f"Unexpected top-level field(s) {', '.join(map(repr, extra))}: model options go inside params, "
            f"reference files inside params.{contract.reference_items_param} after uploading them to /api/v1/files."
        )
    crid = body.get("client_request_id")
    if "client_request_id" in body and not isinstance(crid, str):
        problems.append("client_request_id must be a string.")
    elif isinstance(crid, str) and len(crid) > GENERATION_CLIENT_REQUEST_ID_MAX:
        problems.append(f"client_request_id is longer than {GENERATION_CLIENT_REQUEST_ID_MAX} characters.")
    return problems


def _prompt_problem(model: ModelRule, prompt: Any) -> str | None:
    """What is wrong with the prompt, if anything (one problem at most)."""
    if prompt is not None and not isinstance(prompt, str):
        return f"prompt must be a string; got {type(prompt).__name__}."
    # "Required" is read as: some non-whitespace text (the docs do not say; str.isspace's set).
    if model.prompt_required and (prompt is None or not prompt.strip()):
        return f"prompt is required for {model.id} and may not be blank."
    # The docs give the limit in "characters": counted as Unicode code points, so an emoji
    # is one character (not the two UTF-16 units a JavaScript .length would count).
    if prompt is not None and len(prompt) > model.max_prompt_length:
        return f"prompt has {len(prompt)} characters; {model.id} allows {model.max_prompt_length}."
    return None


def _params_problems(
    model: ModelRule, params: dict[str, Any], ref_key: str, uploaded_kind: Callable[[str], str | None]
) -> list[str]:
    """Every problem with the keys of ``params`` this model checks, in the order they were sent."""
    problems = []
    for key, value in params.items():
        if key == ref_key:
            problems.extend(_reference_problems(model, value, ref_key, uploaded_kind))
            continue
        rule = model.param(key)
        # A key the docs do not list is accepted and ignored: v1 may add new optional
        # params at any time, so a service cannot refuse keys it does not use yet.
        if rule is not None and (problem := _param_problem(rule, value)):
            problems.append(problem)
    return problems


def upload_problems(fields: dict[str, str], data: bytes, contract: Contract) -> tuple[list[str], str]:
    """The first failing rule of a Files API upload (empty when accepted), and the sniffed type."""
    kind = fields.get("kind")
    if kind not in contract.file_kinds:
        return [f"kind must be one of {', '.join(contract.file_kinds)}; got {kind!r}."], ""
    crid = fields.get("client_request_id")
    if crid and len(crid) > contract.file_client_request_id_max:
        return [f"client_request_id may be at most {contract.file_client_request_id_max} characters."], ""
    limit = contract.file_kinds[kind]
    max_bytes, mime_types = limit.max_bytes, limit.mime_types
    model_id = fields.get("model")
    if model_id:
        model = contract.models.get(model_id)
        if model is None:
            return [f"model {model_id!r} is not a model of this API."], ""
        if kind not in model.reference.kinds:
            return [f"{model_id} accepts only {', '.join(model.reference.kinds)} references; this upload is {kind}."], ""
        max_bytes, mime_types = model.reference.max_bytes, model.reference.mime_types
    if not data:
        return ["The uploaded file is empty."], ""
    if len(data) > max_bytes:
        return [f"The file has {len(data)} bytes; the limit is {max_bytes} bytes for this upload."], ""
    detected = sniff(data)
    if detected not in mime_types:
        found = f"looks like {detected}" if detected else "is not a recognised format"
        return [f"The file's content {found}; this upload accepts {', '.join(mime_types)}."], detected or ""
    return [], detected
