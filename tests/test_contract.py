"""The client's catalog says what the docs say, field by field.

``rivya/sandbox/contract.json`` is transcribed by hand from the API reference and the two
model pages; the catalog is written separately. A slip in either shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rivya import constants
from rivya.catalog import MODELS, REFERENCE_ITEMS_KEY

FIXTURE = Path(__file__).resolve().parent.parent / "rivya" / "sandbox" / "contract.json"
RAW = json.loads(FIXTURE.read_text(encoding="utf-8"))
DOCUMENTED = {m["id"]: m for m in RAW["models"]}
PARAMS = [(model_id, p) for model_id, m in DOCUMENTED.items() for p in m["params"]]


def test_the_catalog_has_exactly_the_documented_models() -> None:
    assert sorted(MODELS) == sorted(DOCUMENTED)


@pytest.mark.parametrize("model_id", sorted(DOCUMENTED))
def test_model_facts(model_id: str) -> None:
    spec, doc = MODELS[model_id], DOCUMENTED[model_id]
    ours = {
        "display_name": spec.display_name,
        "category": spec.category,
        "base_credits": spec.base_credits,
        "billing_type": spec.billing_type,
        "max_prompt_length": spec.max_prompt_length,
        "prompt_required": spec.prompt_required,
    }
    assert ours == {field: doc[field] for field in ours}
    assert sorted(p.key for p in spec.params) == sorted(p["key"] for p in doc["params"])


@pytest.mark.parametrize(("model_id", "doc"), PARAMS, ids=[f"{m}.{p['key']}" for m, p in PARAMS])
def test_param_facts(model_id: str, doc: dict[str, Any]) -> None:
    param = MODELS[model_id].param(doc["key"])
    assert param is not None, f"{model_id} lacks the documented parameter {doc['key']}"
    assert param.kind == doc["type"]
    # The type matters too: enable_pro's default is the string "false", duration's the number 6.
    assert (type(param.default), param.default) == (type(doc["default"]), doc["default"])
    assert sorted(param.options) == sorted(doc.get("options", []))
    assert (param.minimum, param.maximum, param.step) == (doc.get("min"), doc.get("max"), doc.get("step"))


@pytest.mark.parametrize("model_id", sorted(DOCUMENTED))
def test_reference_media_rule(model_id: str) -> None:
    rule, doc = MODELS[model_id].reference, DOCUMENTED[model_id]["reference_media"]
    assert rule.max_files == doc["max_files"] and rule.max_bytes == doc["max_bytes"]
    assert sorted(rule.kinds) == sorted(doc["kinds"])
    assert sorted(rule.mime_types) == sorted(doc["mime_types"])


def test_request_shape_and_files_api_limits() -> None:
    assert RAW["generation"]["reference_items_param"] == REFERENCE_ITEMS_KEY
    assert RAW["files"]["client_request_id_max_length"] == constants.MAX_CLIENT_REQUEST_ID
