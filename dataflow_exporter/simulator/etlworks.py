"""A fake Etlworks: token issue and expiry, the flows list and each flow's newest execution, under
`/rest/v1/`, with Spring-style error bodies.

Faithful where it matters: access tokens from `POST /rest/v1/token-auth/issue` expire after
`token_ttl` seconds and are then answered 401 (also on the issue call itself when an expired token
is sent along, as a JWT filter does); an API key never expires; `GET /rest/v1/flows` pages with
`limit` (default 50, at most 200) and `offset` and gives the total in `X-Total-Count`;
`GET /rest/v1/executions/{flowId}` answers a FlowAuditRecord (string status, epoch-ms times, a
`duration` string, `metrics` entries) and 404 for an unknown flow id.

Scenario: a handful of named flows pinned to one status each (a run that hangs for days, one that
fails after two retries, one that warns, one stuck in the queue, one canceled, one that succeeds)
and flows that run every `run_period` seconds: queued, then running, then success, warning, error
or now and then canceled, decided deterministically from the seed and the elapsed time. Tests
override an execution's fields through the control API (entity = the flow id).

Documentation variants (Etlworks is closed source; its docs are the contract): `token_route`
chooses which of the two documented token routes the server has — `issue` (`POST
/rest/v1/token-auth/issue`, the support docs' Authentication API, default) or `token-auth` (`POST
/rest/v1/token-auth`, the newer developer docs' quickstart, 24 h tokens); the other answers 404.
Partial failure: `failing_flows` answer their executions call with a Spring-style 500.

Credential echo, so tests can show the exporter keeps what an upstream echoes off its pages and
logs: `jdbc_password` makes that 500 carry JDBC's own `DriverManager` message, which quotes the
whole JDBC URL (`No suitable driver found for jdbc:postgresql://...&password=...`, a credential
the exporter never saw); `echo_authorization` makes it quote the request's Authorization header
(the exporter's own token or API key). Etlworks is closed source and is not known to echo
headers; the knob stands for any proxy or debug error handler in front of it that does.
"""

from __future__ import annotations

import base64
import http
import math
import random
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from dataflow_exporter.simulator.base import Clock, SimulatedSystem, json_response

API = "/rest/v1"
DEFAULT_PAGE = 50
MAX_PAGE = 200
HANG_SECONDS = 3 * 86400.0
QUEUE_SHARE = 0.05  # of run_period spent queued before each run


@dataclass(frozen=True, slots=True)
class SimFlow:
    """A flow of the scenario; `profile` is "cycle" or the status it is pinned to."""

    id: int
    name: str
    profile: str
    flow_type: str = "database"
    source: str = "source"
    destination: str = "destination"


NAMED = (
    SimFlow(4921, "Load orders to Snowflake", "cycle", "snowflake", "orders", "PUBLIC.ORDERS"),
    SimFlow(5003, "CDC orders (MySQL -> S3)", "hang", "cdc", "mysql.orders", "s3://cdc/orders"),
    SimFlow(5010, "Sync customers to Salesforce", "error", "salesforce", "customers", "Account"),
    SimFlow(5021, "Export invoices to SFTP", "warning", "file", "invoices", "sftp://invoices"),
    SimFlow(5034, "Refresh marketing audiences", "queued", "database", "audiences", "ads"),
    SimFlow(5047, "Purge staging tables", "canceled", "database", "staging", "staging"),
    SimFlow(5052, "Load web events to BigQuery", "success", "bigquery", "events", "web.events"),
)
GENERATED_ID_BASE = 10_000


def _ms(epoch: float) -> int:
    return round(epoch * 1000)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class EtlworksSimulator(SimulatedSystem):
    """The fake Etlworks."""

    name = "etlworks"
    prefix = API + "/"

    def __init__(
        self,
        clock: Clock,
        seed: int = 1,
        flows: int = len(NAMED) + 5,
        login: str | None = "exporter",
        password: str | None = "etlworks-sim-password",
        api_key: str | None = None,
        token_ttl: float = 600.0,
        run_period: float = 300.0,
        token_route: str = "issue",
        failing_flows: tuple[int, ...] = (),
        jdbc_password: str | None = None,
        echo_authorization: bool = False,
    ) -> None:
        super().__init__(clock, seed)
        if token_route not in ("issue", "token-auth"):
            raise ValueError(
                f"etlworks.token_route: expected issue or token-auth, not {token_route!r}"
            )
        self.token_route = token_route
        self.failing_flows = frozenset(int(f) for f in failing_flows)
        self.jdbc_password = jdbc_password
        self.echo_authorization = bool(echo_authorization)
        self.login = login
        self.password = password
        self.api_key = api_key
        self.token_ttl = float(token_ttl)
        self.run_period = float(run_period)
        self.rng = random.Random(seed)
        generated = tuple(
            SimFlow(GENERATED_ID_BASE + i, f"Generated flow {i:05d}", "cycle", "database")
            for i in range(max(0, flows - len(NAMED)))
        )
        self.flows = (*NAMED[: max(0, flows)], *generated)
        self._index = {flow.id: i for i, flow in enumerate(self.flows)}
        # Access token -> expiry (clock time); counters tests assert on.
        self.tokens: dict[str, float] = {}
        self.token_issues = 0
        self.rejected_expired = 0

    # -- scenario ---------------------------------------------------------------------------------

    def execution(self, flow: SimFlow) -> dict[str, Any]:
        """The flow's newest execution now, with any test overrides merged in."""
        if flow.profile == "cycle":
            record = self._cycle_execution(flow)
        else:
            record = self._pinned_execution(flow)
        record.update(self.overrides.get(str(flow.id), {}))
        return record

    def _record(
        self,
        flow: SimFlow,
        audit_id: int,
        status: str,
        started: float | None,
        ended: float | None,
        *,
        retries: int = 0,
        records: int = 0,
    ) -> dict[str, Any]:
        scheduled = flow.profile != "queued"
        metrics = []
        if status in ("success", "warning") or (status == "running" and records):
            metrics.append(
                {
                    "name": f"{flow.source} -> {flow.destination}",
                    "recordsProcessed": records,
                    "recordsAdded": records - records // 10,
                    "recordsUpdated": records // 10,
                    "recordsDeleted": 0,
                    "recordsWithErrors": records // 50 if status == "warning" else 0,
                }
            )
        record: dict[str, Any] = {
            "auditId": audit_id,
            "parentAuditId": audit_id - retries if retries else None,
            "retries": retries or None,
            "flowId": flow.id,
            "flowName": flow.name,
            "eventId": 300 + self._index[flow.id] if scheduled else None,
            "eventName": "Every 5 minutes" if scheduled else None,
            "messageId": None,
            "status": status,
            "started": None if started is None else _ms(started),
            "ended": None if ended is None else _ms(ended),
            "duration": None if ended is None or started is None else f"{ended - started:.3f} sec",
            "metrics": metrics,
            "fileMetrics": [],
        }
        if status == "error":
            record["exception"] = (
                "java.sql.SQLTransientConnectionException: Connection is not available, "
                "request timed out after 30000ms."
            )
        return record

    def _pinned_execution(self, flow: SimFlow) -> dict[str, Any]:
        index = self._index[flow.id]
        audit = 1_840_000 + index * 17
        if flow.profile == "hang":
            return self._record(flow, audit, "running", self.started - HANG_SECONDS, None)
        if flow.profile == "queued":
            return self._record(flow, audit, "queued", self.started - 240.0, None)
        # Finished a while before the simulator started; a run lasting 30 s to 3 min.
        started = self.started - 1800.0 - index * 60.0
        ended = started + 30.0 + 150.0 * self.chance(flow.id, "length")
        retries = 2 if flow.profile == "error" else 0
        records = 0 if flow.profile in ("error", "canceled") else 1000 + index * 137
        return self._record(
            flow, audit, flow.profile, started, ended, retries=retries, records=records
        )

    def _cycle_execution(self, flow: SimFlow) -> dict[str, Any]:
        period = self.run_period
        offset = self.chance(flow.id, "offset") * period
        at = self.elapsed() + offset
        cycle = math.floor(at / period)
        phase = at - cycle * period
        queued_at = self.started - offset + cycle * period
        started = queued_at + QUEUE_SHARE * period
        run_length = (0.1 + 0.4 * self.chance(flow.id, cycle, "length")) * period
        audit = 2_000_000 + cycle * len(self.flows) + self._index[flow.id]
        size = 100 + int(self.chance(flow.id, cycle, "records") * 20_000)
        if phase < QUEUE_SHARE * period:
            return self._record(flow, audit, "queued", queued_at, None)
        if phase < QUEUE_SHARE * period + run_length:
            return self._record(flow, audit, "running", started, None)
        roll = self.chance(flow.id, cycle, "outcome")
        status = (
            "success"
            if roll < 0.75
            else "warning"
            if roll < 0.85
            else "error"
            if roll < 0.97
            else "canceled"
        )
        retries = int(self.chance(flow.id, cycle, "retries") * 3) if status == "error" else 0
        records = 0 if status in ("error", "canceled") else size
        return self._record(
            flow, audit, status, started, started + run_length, retries=retries, records=records
        )

    def _live(self, flow_id: int) -> SimFlow | None:
        index = self._index.get(flow_id)
        if index is None or self.overrides.get(str(flow_id), {}).get("_deleted"):
            return None
        return self.flows[index]

    def demo_target(self, url: str) -> dict[str, Any]:
        """A target polling this simulator (login and password, so the demo exercises tokens)."""
        target: dict[str, Any] = {"name": "etlworks-demo", "system": "etlworks", "url": url}
        if self.login and self.password:
            target.update(login=self.login, password=self.password)
        elif self.api_key:
            target["api_key"] = self.api_key
        return target

    # -- HTTP -------------------------------------------------------------------------------------

    def _spring(self, status: int, message: str, path: str) -> web.Response:
        body = {
            "status": status,
            "error": http.HTTPStatus(status).phrase,
            "message": message,
            "path": path,
        }
        return json_response(body, status)

    def error_response(self, status: int) -> web.Response:
        """Spring Boot's error body."""
        messages = {404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}
        return self._spring(status, messages.get(status, "Request failed"), API + "/")

    def auth_failure(self) -> web.Response:
        """401 with Spring Security's body."""
        return self._spring(
            401, "Full authentication is required to access this resource", API + "/"
        )

    def _secured(self) -> bool:
        return bool(self.api_key or (self.login and self.password))

    def _bearer_problem(self, request: web.Request) -> str | None:
        """Why the request's Bearer token is refused, or None if it is good."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return "Full authentication is required to access this resource"
        token = header[len("Bearer ") :]
        if self.api_key and token == self.api_key:
            return None
        expiry = self.tokens.get(token)
        if expiry is None:
            return "Invalid access token"
        if expiry <= self.clock():
            self.rejected_expired += 1
            return "Access token expired"
        return None

    def _denied(self, request: web.Request) -> web.Response | None:
        if not self._secured():
            return None
        problem = self._bearer_problem(request)
        return None if problem is None else self._spring(401, problem, request.path)

    def _failure_text(self, request: web.Request) -> str:
        """The 500 message of a failing flow, with whatever the credential knobs echo."""
        text = (
            "Could not open JDBC Connection for transaction; nested exception is "
            "java.sql.SQLTransientConnectionException: audit-pool - Connection is not "
            "available, request timed out after 30000ms."
        )
        if self.jdbc_password:
            url = f"jdbc:postgresql://audit-db:5432/etl?user=etl&password={self.jdbc_password}"
            text = f"java.sql.SQLException: No suitable driver found for {url}"
        if self.echo_authorization:
            # First, so that an exporter cutting long messages short still sees it.
            header = request.headers.get("Authorization", "")
            text = f"Request with Authorization: {header} failed: {text}"
        return text

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The endpoints the exporter uses."""
        router.add_post(API + "/token-auth/issue", self.issue_token)
        router.add_post(API + "/token-auth", self.issue_token)
        router.add_get(API + "/flows", self.list_flows)
        router.add_get(API + "/executions/{flow_id}", self.flow_execution)

    def _new_token(self, login: str, expiry: float) -> str:
        self.token_issues += 1
        header = _b64(b'{"alg":"HS512"}')
        claims = _b64(
            msgspec.json.encode({"sub": login, "exp": int(expiry), "jti": self.token_issues})
        )
        return f"{header}.{claims}.{_b64(self.rng.randbytes(24))}"

    async def issue_token(self, request: web.Request) -> web.Response:
        """POST token-auth/issue or token-auth: {login, password} -> {token}."""
        served = API + ("/token-auth/issue" if self.token_route == "issue" else "/token-auth")
        if request.path != served:
            return self._spring(404, "No static resource " + request.path[1:], request.path)
        # The JWT filter runs before the endpoint: a stale token sent along is refused.
        if "Authorization" in request.headers and self._bearer_problem(request):
            return self._spring(401, "Access token expired", request.path)
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return self._spring(400, "Malformed JSON request", request.path)
        if not isinstance(body, dict) or not {"login", "password"} <= set(body):
            return self._spring(400, "login and password are required", request.path)
        if not self.password or (body["login"], body["password"]) != (self.login, self.password):
            return self._spring(401, "Bad credentials", request.path)
        now = self.clock()
        self.tokens = {t: e for t, e in self.tokens.items() if e > now}
        expiry = now + self.token_ttl
        token = self._new_token(str(body["login"]), expiry)
        self.tokens[token] = expiry
        return json_response({"token": token})

    def _flow_item(self, flow: SimFlow) -> dict[str, Any]:
        return {
            "id": flow.id,
            "name": flow.name,
            "description": "",
            "flowType": flow.flow_type,
            "properties": {},
            "transformations": [],
            "mappings": [],
            "connections": [],
            "nestedFlows": [],
            "tags": ["prod"] if flow.profile != "cycle" else [],
        }

    async def list_flows(self, request: web.Request) -> web.Response:
        """GET flows?limit=&offset=."""
        if (denied := self._denied(request)) is not None:
            return denied
        try:
            limit = int(request.query.get("limit", DEFAULT_PAGE))
            offset = int(request.query.get("offset", 0))
        except ValueError:
            return self._spring(400, "limit and offset must be integers", request.path)
        if limit < 1 or offset < 0:
            return self._spring(400, "limit must be positive, offset not negative", request.path)
        live = [f for f in self.flows if self._live(f.id) is not None]
        page = live[offset : offset + min(limit, MAX_PAGE)]
        response = json_response([self._flow_item(f) for f in page])
        response.headers["X-Total-Count"] = str(len(live))
        return response

    async def flow_execution(self, request: web.Request) -> web.Response:
        """GET executions/{flowId}: the flow's newest execution."""
        if (denied := self._denied(request)) is not None:
            return denied
        raw = request.match_info["flow_id"]
        if not raw.isdigit():
            return self._spring(
                400,
                f"Failed to convert value of type 'java.lang.String' to required type "
                f"'long'; For input string: \"{raw[:40]}\"",
                request.path,
            )
        flow = self._live(int(raw))
        if flow is None:
            return self._spring(404, f"Flow with id {raw} not found", request.path)
        if flow.id in self.failing_flows:
            return self._spring(500, self._failure_text(request), request.path)
        return json_response(self.execution(flow))
