"""The simulator's HTTP server: every simulated system on one port (their API paths do not
overlap), plus a control API under `/_sim/` to inject faults and override entity fields.

Index:
  GET    /                            every simulated system's API paths and control endpoints

Control API:
  GET    /_sim/{system}/faults        current faults and request counts
  POST   /_sim/{system}/faults        JSON changes, e.g. {"kind": "status", "status": 503}
  DELETE /_sim/{system}/faults        back to normal
  POST   /_sim/{system}/overrides/{entity}   JSON fields merged into that entity's payload
  DELETE /_sim/{system}/overrides     clear every override
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import msgspec
from aiohttp import web

from dataflow_exporter.simulator.base import SimulatedSystem, json_response
from dataflow_exporter.simulator.faults import fault_middleware

SYSTEMS_KEY = web.AppKey("systems", dict)


def build_app(systems: Mapping[str, SimulatedSystem], seed: int = 1) -> web.Application:
    """An aiohttp application serving `systems` and the control API."""
    rng = random.Random(seed)
    middlewares = [
        fault_middleware(s.prefix, s.faults, s.error_response, s.auth_failure, rng)
        for s in systems.values()
    ]
    app = web.Application(middlewares=middlewares, client_max_size=1024 * 1024)
    app[SYSTEMS_KEY] = dict(systems)
    for system in systems.values():
        system.add_routes(app.router)
    app.router.add_get("/", _index)
    app.router.add_get("/_sim/{system}/faults", _get_faults)
    app.router.add_post("/_sim/{system}/faults", _set_faults)
    app.router.add_delete("/_sim/{system}/faults", _clear_faults)
    app.router.add_post("/_sim/{system}/overrides/{entity}", _set_override)
    app.router.add_delete("/_sim/{system}/overrides", _clear_overrides)
    return app


async def _index(request: web.Request) -> web.Response:
    """What a person opening the simulator's URL wants: which APIs answer here, and how to
    break them."""
    systems: dict[str, SimulatedSystem] = request.app[SYSTEMS_KEY]
    paths = sorted({r.canonical for r in request.app.router.resources()})
    return json_response(
        {
            "simulator": "dataflow-exporter simulated upstreams (docs/simulator.md)",
            "systems": {
                name: {
                    "api": [p for p in paths if p.startswith(system.prefix)],
                    "faults": f"/_sim/{name}/faults",
                    "overrides": f"/_sim/{name}/overrides/{{entity}}",
                }
                for name, system in sorted(systems.items())
            },
        }
    )


def _system(request: web.Request) -> SimulatedSystem:
    systems: dict[str, SimulatedSystem] = request.app[SYSTEMS_KEY]
    name = request.match_info["system"]
    if name not in systems:
        raise web.HTTPNotFound(text=f"no simulated system {name!r}")
    return systems[name]


async def _get_faults(request: web.Request) -> web.Response:
    return json_response(_system(request).faults.describe())


async def _set_faults(request: web.Request) -> web.Response:
    system = _system(request)
    try:
        changes = msgspec.json.decode(await request.read())
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object")
        system.faults.update(changes)
    except (ValueError, msgspec.DecodeError) as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response(system.faults.describe())


async def _clear_faults(request: web.Request) -> web.Response:
    system = _system(request)
    system.faults.reset()
    return json_response(system.faults.describe())


async def _set_override(request: web.Request) -> web.Response:
    system = _system(request)
    try:
        fields = msgspec.json.decode(await request.read())
    except msgspec.DecodeError as exc:
        return json_response({"error": str(exc)}, status=400)
    if not isinstance(fields, dict):
        return json_response({"error": "expected a JSON object"}, status=400)
    system.overrides.setdefault(request.match_info["entity"], {}).update(fields)
    return json_response(system.overrides)


async def _clear_overrides(request: web.Request) -> web.Response:
    system = _system(request)
    system.overrides.clear()
    return json_response({})
