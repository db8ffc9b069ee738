"""The sandbox's own statement of the API contract, read from ``contract.json``.

The fixture is transcribed from the API reference and the model pages, not from
``rivya.catalog``: the sandbox must be able to disagree with the client, so a catalog
mistake shows up as a failing test instead of being agreed with by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

CONTRACT_PATH = Path(__file__).with_name("contract.json")


@dataclass(frozen=True)
class ParamRule:
    """One documented key of ``params``: a ``select`` (one of ``options``) or a ``number``."""

    key: str
    type: str
    default: Any
    options: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    step: int | None = None


@dataclass(frozen=True)
class MediaRule:
    """Reference media a model takes: how many files, which kinds, how big, which types."""

    max_files: int
    kinds: tuple[str, ...]
    max_bytes: int
    mime_types: tuple[str, ...]


@dataclass(frozen=True)
class KindLimit:
    """The Files API's default limit for one ``kind``."""

    max_bytes: int
    mime_types: tuple[str, ...]


@dataclass(frozen=True)
class ModelRule:
    id: str
    display_name: str
    category: str
    base_credits: int
    billing_type: str
    max_prompt_length: int
    prompt_required: bool
    params: tuple[ParamRule, ...]
    reference: MediaRule

    def param(self, key: str) -> ParamRule | None:
        return next((p for p in self.params if p.key == key), None)

    def defaults(self) -> dict[str, Any]:
        return {p.key: p.default for p in self.params}


@dataclass(frozen=True)
class Contract:
    models: dict[str, ModelRule]
    generation_fields: tuple[str, ...]
    reference_items_param: str
    file_kinds: dict[str, KindLimit]
    file_client_request_id_max: int


def _param(raw: dict[str, Any]) -> ParamRule:
    return ParamRule(
        key=raw["key"],
        type=raw["type"],
        default=raw["default"],
        options=tuple(raw.get("options", ())),
        min=raw.get("min"),
        max=raw.get("max"),
        step=raw.get("step"),
    )


def _model(raw: dict[str, Any]) -> ModelRule:
    ref = raw["reference_media"]
    return ModelRule(
        id=raw["id"],
        display_name=raw["display_name"],
        category=raw["category"],
        base_credits=raw["base_credits"],
        billing_type=raw["billing_type"],
        max_prompt_length=raw["max_prompt_length"],
        prompt_required=raw["prompt_required"],
        params=tuple(_param(p) for p in raw["params"]),
        reference=MediaRule(ref["max_files"], tuple(ref["kinds"]), ref["max_bytes"], tuple(ref["mime_types"])),
    )


@lru_cache(maxsize=8)
def load_contract(path: Path = CONTRACT_PATH) -> Contract:
    """Parse a contract fixture (the bundled one by default); a test may pass its own."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    files = raw["files"]
    return Contract(
        models={m["id"]: _model(m) for m in raw["models"]},
        generation_fields=tuple(raw["generation"]["fields"]),
        reference_items_param=raw["generation"]["reference_items_param"],
        file_kinds={kind: KindLimit(v["max_bytes"], tuple(v["mime_types"])) for kind, v in files["kinds"].items()},
        file_client_request_id_max=files["client_request_id_max_length"],
    )
