"""`GET /api/v1/status`: the status page's content as JSON, for chat-ops bots and scripts.

The document is `status.StatusView` encoded by msgspec, one page of its broken entities at a
time (`?limit=`, `?offset=`, `?target=`; `next` names the following page); its JSON Schema ships
beside this module (`status_api.schema.json`) and is described in docs/status-api.md.
`api_version` changes only when a field is removed or changes meaning; new fields may appear at
any time. `encode` runs once per view (off the event loop); a request only slices and joins the
encoded pieces.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import msgspec

from dataflow_exporter.status import StatusView, status_view
from dataflow_exporter.store import Store

PATH = "/api/v1/status"
SCHEMA_FILE = "status_api.schema.json"
# Broken entities per answer: the default, and the most one request may ask for.
DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class EncodedStatus:
    """A view encoded once: each target and each broken entity as its own JSON bytes."""

    head: dict[str, object]
    target_names: list[str]
    targets: list[bytes]
    broken: list[bytes]
    # Each target's broken entities, as their places in `broken` (the list is in severity
    # order across targets, so one target's entities need not be consecutive).
    places: dict[str, list[int]]


@dataclass(frozen=True, slots=True)
class Query:
    """Which page of the broken entities to answer, and of which target (None: all)."""

    target: str | None = None
    offset: int = 0
    limit: int = DEFAULT_LIMIT


def encode(view: StatusView) -> EncodedStatus:
    """The view as JSON pieces."""
    places: dict[str, list[int]] = {}
    for index, entity in enumerate(view.broken):
        places.setdefault(entity.target, []).append(index)
    head: dict[str, object] = {
        "api_version": view.api_version,
        "exporter_version": view.exporter_version,
        "generated_at": view.generated_at,
        "config_reload_successful": view.config_reload_successful,
    }
    return EncodedStatus(
        head=head,
        target_names=[t.name for t in view.targets],
        targets=[msgspec.json.encode(t) for t in view.targets],
        broken=[msgspec.json.encode(b) for b in view.broken],
        places=places,
    )


def _whole_number(params: Mapping[str, str], name: str, default: int, least: int, most: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    # ASCII digits only (int() takes "²" and other scripts' digits), and few of them.
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and least <= int(text) <= most):
        raise ValueError(
            f"?{name}= must be a whole number from {least} to {most}, not {text[:40]!r}"
        )
    return int(text)


def parse_query(params: Mapping[str, str]) -> Query:
    """The query string's page; ValueError names the parameter that is wrong. A limit of 0
    would name itself as the next page for ever."""
    limit = _whole_number(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _whole_number(params, "offset", 0, 0, 10**9)
    return Query(params.get("target"), offset, limit)


def document_parts(encoded: EncodedStatus, query: Query) -> list[bytes]:
    """The JSON document for `query`, as consecutive pieces (nothing large is copied)."""
    chosen: range | list[int]
    if query.target is None:
        chosen = range(len(encoded.broken))
        targets = encoded.targets
    else:
        chosen = encoded.places.get(query.target, [])
        targets = [
            t
            for name, t in zip(encoded.target_names, encoded.targets, strict=True)
            if name == query.target
        ]
    total = len(chosen)
    first = min(query.offset, total)
    last = min(first + query.limit, total)
    following = None
    if last < total:
        params = {"offset": str(last), "limit": str(query.limit)}
        if query.target is not None:
            params["target"] = query.target
        following = f"{PATH}?{urllib.parse.urlencode(params)}"
    head = msgspec.json.encode(
        {
            **encoded.head,
            "broken_total": total,
            "offset": first,
            "limit": query.limit,
            "next": following,
        }
    )
    parts = [head[:-1], b',"targets":[']
    for index, target in enumerate(targets):
        parts += (b",", target) if index else (target,)
    parts.append(b'],"broken":[')
    for n, index in enumerate(chosen[first:last]):
        parts += (b",", encoded.broken[index]) if n else (encoded.broken[index],)
    parts.append(b"]}")
    return parts


def status_json(store: Store, now: float, query: Query | None = None) -> bytes:
    """The status document as JSON bytes (the first page, unless `query` says otherwise)."""
    return b"".join(document_parts(encode(status_view(store, now)), query or Query()))


def schema_text() -> str:
    """The JSON Schema the document follows."""
    return resources.files("dataflow_exporter").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
