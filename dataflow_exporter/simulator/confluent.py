"""A fake Confluent Cloud Kafka REST v3: the cluster-linking endpoints the exporter reads.

Faithful where it matters: `ResourceCollection` envelopes (`kind`, `metadata.self`, `next`
null unless `page_size` makes the lists paginate with absolute `next` URLs), items whose
`metadata` has only `self`, `mirror_lags` in no particular order, `last_source_fetch_offset` -1
on partitions nothing has been fetched from, Error bodies (`{"error_code": 40101, "message":
"Authentication failed"}` with 401 on bad credentials, 404 with an Error body for an unknown
link or cluster) and Jetty's HTML page on 429.

Scenario: `dr-link` (ACTIVE) mirrors `orders` (ACTIVE), `payments` (PAUSED, partition 0 never
fetched), `audit-log` (FAILED with SOURCE_TOPIC_MAY_BE_DELETED) and `inventory-changes`, which
cycles PENDING_MIRROR -> ACTIVE -> PENDING_STOPPED -> STOPPED -> deleted every `state_period`
seconds; `partner-link` (UNAVAILABLE, AUTHENTICATION_ERROR) has `partner-events`
(SOURCE_UNAVAILABLE). Further links are ACTIVE; further topics are spread over the ACTIVE links
and pause now and then. Lag grows and drains over `lag_period` seconds on ACTIVE topics and
grows without bound on the others, whose fetch offsets stand still.

Link tasks (`GET links/{link}?include_tasks=true`, LinkTask: `task_name`, `state`, `errors[]`
of `error_code` and `error_message`; the spec leaves `task_name` free, the names here are the
simulator's): `dr-link`'s ConsumerOffsetSync is IN_ERROR (AUTHORIZATION_ERROR) while the link
stays ACTIVE; `partner-link`'s tasks are LINK_UNAVAILABLE; further links' AclSync turns IN_ERROR
now and then (about one `state_period` in ten), the rest are ACTIVE or NOT_CONFIGURED. The
links list carries no tasks, nor does a link asked without `include_tasks=true`.

Releases (`version`): `cloud` (default: Confluent Cloud, the ccloud-sdk-go-v2 kafkarest/v3
spec; `self` URLs without `:443`) or `cp-X.Y.Z`, Confluent Platform's REST as the
kafka-rest-sdk-go kafkarestv3 models show it: `link_state`, `link_error`,
`link_error_message`, `mirror_topic_error`, `include_tasks` and `LinkTask` first appear in its
v0.3.18 models (2024-01, about CP 7.6), so `cp-7.5.0` and older omit them (a link's answer has
no `tasks` key, whatever the query), and know only ACTIVE, FAILED, PAUSED,
STOPPED, PENDING_STOPPED, PENDING_MIRROR and PENDING_SYNCHRONIZE (a topic the newer release
calls LINK_FAILED, LINK_PAUSED or SOURCE_UNAVAILABLE reads ACTIVE there).

Knobs (keyword arguments): `links`, `topics` (both counts, the named ones first), `partitions`
(per topic), `cluster_id`, `api_key` + `api_secret` (require Basic auth), `token` (require
Bearer auth), `page_size`, `link_origin` (scheme://host written into `self`/`next` links instead
of the request's own), `rate_limit` (requests per second before HTML 429s), `state_period`,
`lag_period`.

Overrides (control API): `POST /_sim/confluent/overrides/{topic}` merges fields into every mirror
topic of that name, `.../overrides/link:{name}` into that link; `{"_dropped": true}` removes it,
`{"_dropped_after_list": true}` keeps a link in the list but answers 404 for it alone (deleted
between the two calls).
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import urllib.parse
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dataflow_exporter.simulator.base import Clock, Release, SimulatedSystem, json_response, release

API = "/kafka/v3/clusters"
# The Confluent Platform release whose REST first reports link state, errors and tasks (about
# 7.6; kafka-rest-sdk-go kafkarestv3/v0.3.18, commit 35dc370).
LINK_STATE_SINCE: Release = (7, 6, 0)
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class SimLink:
    """A cluster link of the scenario."""

    name: str
    state: str
    error: str
    error_message: str
    source_cluster_id: str


@dataclass(frozen=True, slots=True)
class SimPartition:
    """How one partition's source grows and how far its mirror falls behind."""

    base: float  # source offset when the simulator started
    rate: float  # messages per second produced to the source
    amplitude: float  # peak lag while mirroring
    phase: float  # seconds into the grow-and-drain cycle at start
    empty: bool  # nothing ever produced: nothing fetched, offset -1


@dataclass(frozen=True, slots=True)
class SimTopic:
    """A mirror topic of the scenario; `behaviour` picks its state over time."""

    link: str
    name: str
    behaviour: str  # active | paused | failed | unavailable | cycle | generated
    partitions: tuple[SimPartition, ...]
    order: tuple[int, ...]  # the order mirror_lags lists the partitions in


NAMED_LINKS = (
    SimLink("dr-link", "ACTIVE", "NO_ERROR", "", "lkc-p96zk2"),
    SimLink(
        "partner-link",
        "UNAVAILABLE",
        "AUTHENTICATION_ERROR",
        "Please check your api key and secret",
        "lkc-9xq1m7",
    ),
)
NAMED_TOPICS = (
    ("dr-link", "orders", "active"),
    ("dr-link", "payments", "paused"),
    ("dr-link", "audit-log", "failed"),
    ("partner-link", "partner-events", "unavailable"),
    ("dr-link", "inventory-changes", "cycle"),
)
# Before the simulator started, for states that are older than it.
_SINCE = {"paused": 2 * 3600.0, "failed": 1800.0, "unavailable": 600.0}
_CYCLE = ("PENDING_MIRROR", "ACTIVE", "PENDING_STOPPED", "STOPPED", None)
_STATUS_LOOKBACK = 8  # epochs searched back for when a generated topic last changed state
_MIRROR_STATUSES = frozenset(
    (
        "ACTIVE",
        "FAILED",
        "LINK_FAILED",
        "LINK_PAUSED",
        "PAUSED",
        "PENDING_STOPPED",
        "SOURCE_UNAVAILABLE",
        "STOPPED",
        "PENDING_MIRROR",
        "PENDING_SYNCHRONIZE",
        "PENDING_SETUP_FOR_RESTORE",
        "PENDING_RESTORE",
    )
)
HTML_429 = (
    '<html> <head> <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/> '
    "<title>Error 429 Too Many Requests</title> </head> <body> <h2>HTTP ERROR 429 Too Many "
    "Requests</h2> <table> <tr> <th>URI:</th> <td>{uri}</td> </tr> <tr> <th>STATUS:</th> "
    "<td>429</td> </tr> <tr> <th>MESSAGE:</th> <td>Too Many Requests</td> </tr> <tr> "
    "<th>SERVLET:</th> <td>default</td> </tr> </table> </body> </html>"
)


# (task_name, state) of a healthy ACTIVE link's tasks.
_TASKS = (
    ("AclSync", "ACTIVE"),
    ("ConsumerOffsetSync", "ACTIVE"),
    ("AutoCreateMirror", "NOT_CONFIGURED"),
    ("TopicConfigsSync", "ACTIVE"),
)


def _task(name: str, state: str, error: tuple[str, str] | None = None) -> dict[str, Any]:
    errors = [] if error is None else [{"error_code": error[0], "error_message": error[1]}]
    return {"task_name": name, "state": state, "errors": errors}


def _triangle(x: float) -> float:
    """0 -> 1 -> 0 over each unit interval: lag that grows, then drains."""
    frac = x % 1.0
    return 2 * frac if frac < 0.5 else 2 - 2 * frac


class ConfluentSimulator(SimulatedSystem):
    """The fake Confluent REST endpoint of one destination cluster."""

    name = "confluent"
    prefix = "/kafka/v3/"

    def __init__(
        self,
        clock: Clock,
        seed: int = 1,
        links: int = 2,
        topics: int = 12,
        partitions: int = 6,
        cluster_id: str = "lkc-sim001",
        api_key: str | None = None,
        api_secret: str | None = None,
        token: str | None = None,
        page_size: int | None = None,
        link_origin: str | None = None,
        rate_limit: float | None = None,
        state_period: float = 60.0,
        lag_period: float = 300.0,
        version: str = "cloud",
    ) -> None:
        super().__init__(clock, seed)
        self.cloud = version == "cloud"
        if not self.cloud and not str(version).startswith("cp-"):
            raise ValueError(f"confluent.version: expected cloud or cp-X.Y.Z, got {version!r}")
        self.plays = (9999, 0, 0) if self.cloud else release(version[3:], "confluent.version")
        self.cluster_id = cluster_id
        self.api_key = api_key
        self.api_secret = api_secret
        self.token = token
        self.page_size = page_size if page_size and page_size > 0 else None
        self.link_origin = link_origin.rstrip("/") if link_origin else None
        self.rate_limit = rate_limit
        self.state_period = state_period
        self.lag_period = lag_period
        self._window = (-1, 0)  # (second, requests in it) for the rate limit
        self._since_cache: tuple[int, dict[str, tuple[str, float]]] = (-1, {})
        self.links = NAMED_LINKS[: max(0, links)] + tuple(
            SimLink(f"link-{i:02d}", "ACTIVE", "NO_ERROR", "", f"lkc-src{i:03d}")
            for i in range(len(NAMED_LINKS), links)
        )
        self.topics = self._make_topics(max(0, topics), max(1, partitions), random.Random(seed))

    def _make_topics(self, count: int, partitions: int, rng: random.Random) -> tuple[SimTopic, ...]:
        link_names = {link.name for link in self.links}
        plan = [t for t in NAMED_TOPICS if t[0] in link_names][:count]
        active = [link.name for link in self.links if link.state == "ACTIVE"]
        if active:
            plan += [
                (active[i % len(active)], f"topic-{i:05d}", "generated")
                for i in range(count - len(plan))
            ]
        return tuple(
            self._make_topic(link, name, behaviour, partitions, rng)
            for link, name, behaviour in plan
        )

    def _make_topic(
        self, link: str, name: str, behaviour: str, count: int, rng: random.Random
    ) -> SimTopic:
        parts = []
        for p in range(count):
            rate = rng.uniform(1.0, 50.0)
            parts.append(
                SimPartition(
                    base=float(rng.randint(100_000, 1_000_000)),
                    rate=rate,
                    # Lag rises at most 0.9x as fast as the source grows: fetch offsets never
                    # go backwards.
                    amplitude=rate * self.lag_period / 2 * rng.uniform(0.0, 0.9),
                    phase=rng.uniform(0.0, self.lag_period),
                    empty=(name == "payments" and p == 0) or rng.random() < 0.02,
                )
            )
        order = list(range(count))
        rng.shuffle(order)
        return SimTopic(link, name, behaviour, tuple(parts), tuple(order))

    def demo_target(self, url: str) -> dict[str, Any]:
        """A target polling this simulator."""
        target: dict[str, Any] = {
            "name": "confluent-demo",
            "system": "confluent",
            "url": url,
            "cluster_id": self.cluster_id,
        }
        if self.api_key and self.api_secret:
            target.update(username=self.api_key, password=self.api_secret)
        elif self.token:
            target["token"] = self.token
        return target

    # -- scenario -------------------------------------------------------------------------------

    def _boundary(self, epoch: int) -> float:
        return self.started + epoch * self.state_period

    def _generated_paused(self, name: str, epoch: int) -> bool:
        return epoch >= 0 and self.chance(name, epoch) < 0.05

    def _generated_state(self, topic: SimTopic, epoch: int) -> tuple[str, float]:
        paused = self._generated_paused(topic.name, epoch)
        since = self.started - 3 * DAY
        for back in range(_STATUS_LOOKBACK):
            if self._generated_paused(topic.name, epoch - back - 1) != paused:
                since = self._boundary(epoch - back)
                break
        return ("PAUSED" if paused else "ACTIVE"), since

    def state_of(self, topic: SimTopic) -> tuple[str, float] | None:
        """(status, since when) of a topic now; None while it is deleted."""
        epoch = max(0, int(self.elapsed() // self.state_period))
        behaviour = topic.behaviour
        if behaviour == "active":
            return "ACTIVE", self.started - 3 * DAY
        if behaviour in _SINCE:
            status = {"paused": "PAUSED", "failed": "FAILED"}.get(behaviour, "SOURCE_UNAVAILABLE")
            return status, self.started - _SINCE[behaviour]
        if behaviour == "cycle":
            cycled = _CYCLE[epoch % len(_CYCLE)]
            return None if cycled is None else (cycled, self._boundary(epoch))
        cached_epoch, cache = self._since_cache
        if cached_epoch != epoch:
            cache = {}
            self._since_cache = (epoch, cache)
        if topic.name not in cache:
            cache[topic.name] = self._generated_state(topic, epoch)
        return cache[topic.name]

    def lags(self, topic: SimTopic, status: str, since: float) -> list[dict[str, int]]:
        """`mirror_lags` now, in the topic's own partition order."""
        now = self.elapsed()
        frozen_at = min(since - self.started, now)
        out = []
        for p in topic.order:
            part = topic.partitions[p]
            produced = part.base + part.rate * now
            if part.empty:
                lag, fetched = 0.0, -1.0
            elif status == "PENDING_MIRROR":
                lag, fetched = produced, -1.0
            elif status == "ACTIVE":
                lag = part.amplitude * _triangle((now + part.phase) / self.lag_period)
                fetched = produced - lag
            else:  # fetching stopped when the state began: the source runs away
                then = part.base + part.rate * frozen_at
                then -= part.amplitude * _triangle((frozen_at + part.phase) / self.lag_period)
                fetched = max(0.0, then)
                lag = produced - fetched
            out.append(
                {
                    "partition": p,
                    "lag": math.floor(lag),
                    "last_source_fetch_offset": math.floor(fetched),
                }
            )
        return out

    def live_links(self) -> list[SimLink]:
        """Links that exist now."""
        return [
            link
            for link in self.links
            if not self.overrides.get(f"link:{link.name}", {}).get("_dropped")
        ]

    def live_topics(self, link: str | None = None) -> list[tuple[SimTopic, str, float]]:
        """(topic, status, since) of every existing mirror topic, of one link or of all."""
        out = []
        for topic in self.topics:
            if link is not None and topic.link != link:
                continue
            if self.overrides.get(topic.name, {}).get("_dropped"):
                continue
            state = self.state_of(topic)
            if state is not None:
                out.append((topic, *state))
        return out

    # -- payloads ---------------------------------------------------------------------------------

    def _origin(self, request: web.Request) -> str:
        return self.link_origin or f"{request.scheme}://{request.host}"

    def _base(self, request: web.Request) -> str:
        return f"{self._origin(request)}{API}/{self.cluster_id}"

    def link_item(
        self, request: web.Request, link: SimLink, topic_names: list[str]
    ) -> dict[str, Any]:
        """One ListLinksResponseData."""
        digest = hashlib.sha256(f"{self.seed}:{link.name}".encode()).digest()
        hexed = digest.hex()
        item: dict[str, Any] = {
            "kind": "KafkaLinkData",
            "metadata": {"self": f"{self._base(request)}/links/{link.name}"},
            "source_cluster_id": link.source_cluster_id,
            "destination_cluster_id": None,
            "remote_cluster_id": link.source_cluster_id,
            "link_name": link.name,
            "link_id": f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:32]}",
            "cluster_link_id": base64.urlsafe_b64encode(digest[:16]).decode().rstrip("="),
            "topic_names": topic_names,
            "link_error": link.error,
            "link_error_message": link.error_message,
            "link_state": link.state,
        }
        if self.plays < LINK_STATE_SINCE:
            for key in ("link_error", "link_error_message", "link_state", "remote_cluster_id"):
                del item[key]
        item.update(self._fields(f"link:{link.name}"))
        return item

    def tasks_of(self, link: SimLink) -> list[dict[str, Any]]:
        """The link's LinkTasks now."""
        if link.state != "ACTIVE":
            state = "LINK_UNAVAILABLE" if link.state == "UNAVAILABLE" else f"LINK_{link.state}"
            return [_task(name, state) for name, _ in _TASKS]
        tasks = [_task(name, state) for name, state in _TASKS]
        if link.name == "dr-link":
            tasks[1] = _task(
                "ConsumerOffsetSync",
                "IN_ERROR",
                ("AUTHORIZATION_ERROR", "Not authorized to describe consumer group 'billing'"),
            )
        elif link.name not in {named.name for named in NAMED_LINKS}:
            epoch = max(0, int(self.elapsed() // self.state_period))
            if self.chance(link.name, "acl", epoch) < 0.1:
                tasks[0] = _task(
                    "AclSync",
                    "IN_ERROR",
                    ("ACL_LIMIT_EXCEEDED", "Cannot create more ACLs on the destination cluster"),
                )
        return tasks

    def mirror_item(
        self, request: web.Request, topic: SimTopic, status: str, since: float
    ) -> dict[str, Any]:
        """One ListMirrorTopicsResponseData."""
        error = "SOURCE_TOPIC_MAY_BE_DELETED" if topic.behaviour == "failed" else "NO_ERROR"
        item: dict[str, Any] = {
            "kind": "KafkaMirrorData",
            "metadata": {"self": f"{self._base(request)}/links/{topic.link}/mirrors/{topic.name}"},
            "link_name": topic.link,
            "mirror_topic_name": topic.name,
            "source_topic_name": topic.name,
            "num_partitions": len(topic.partitions),
            "mirror_lags": self.lags(topic, status, since),
            "mirror_status": status,
            "mirror_topic_error": error,
            "state_time_ms": int(since * 1000),
        }
        if self.plays < LINK_STATE_SINCE:
            del item["mirror_topic_error"]
            if status in ("LINK_FAILED", "LINK_PAUSED", "SOURCE_UNAVAILABLE"):
                item["mirror_status"] = "ACTIVE"
        item.update(self._fields(topic.name))
        return item

    def _fields(self, entity: str) -> dict[str, Any]:
        return {k: v for k, v in self.overrides.get(entity, {}).items() if not k.startswith("_")}

    def _page(
        self, request: web.Request, kind: str, rows: list[Any]
    ) -> tuple[dict[str, Any], list[Any]] | web.Response:
        """The envelope and this page's share of `rows` (all of them unless paginating)."""
        origin = self._origin(request)
        try:
            start = int(request.query.get("page_token", "0"))
        except ValueError:
            return self._error(400, "Invalid page_token")
        size = self.page_size or max(1, len(rows))
        start = max(0, start)
        next_url = None
        if self.page_size and start + size < len(rows):
            query = {**request.query, "page_token": str(start + size)}
            next_url = f"{origin}{request.path}?{urllib.parse.urlencode(query)}"
        envelope = {
            "kind": kind,
            "metadata": {"self": f"{origin}{request.path_qs}", "next": next_url},
            "data": [],
        }
        return envelope, rows[start : start + size]

    # -- HTTP -------------------------------------------------------------------------------------

    def _error(self, status: int, message: str | None, code: int | None = None) -> web.Response:
        return json_response({"error_code": code or status, "message": message}, status)

    def error_response(self, status: int) -> web.Response:
        """Confluent's Error body for a status (HTML for 429, as Jetty's DoSFilter answers)."""
        if status == 429:
            return web.Response(
                status=429, text=HTML_429.format(uri="/kafka/v3"), content_type="text/html"
            )
        codes = {401: 40101, 403: 40301, 503: 50003}
        messages = {
            400: "Bad Request",
            401: "Authentication failed",
            403: "Request is not authorized",
            404: "Not Found",
            503: "Retriable Kafka error",
        }
        return self._error(
            status, messages.get(status, "Internal Server Error"), codes.get(status, status)
        )

    def auth_failure(self) -> web.Response:
        """Bad credentials: 401 with error_code 40101."""
        return self._error(401, "Authentication failed", 40101)

    def _refused(self, request: web.Request) -> web.Response | None:
        """Auth, rate limit and cluster id checks every endpoint makes first."""
        if not self._authorised(request.headers.get("Authorization", "")):
            return self.auth_failure()
        if self.rate_limit is not None:
            second = int(self.clock())
            seen = self._window[1] + 1 if self._window[0] == second else 1
            self._window = (second, seen)
            if seen > self.rate_limit:
                return web.Response(
                    status=429, text=HTML_429.format(uri=request.path), content_type="text/html"
                )
        if request.match_info["cluster_id"] != self.cluster_id:
            return self._error(404, f"Cluster {request.match_info['cluster_id']} not found")
        return None

    def _authorised(self, header: str) -> bool:
        basic = self.api_key is not None and self.api_secret is not None
        if not basic and self.token is None:
            return True
        if basic and header.startswith("Basic "):
            expected = base64.b64encode(f"{self.api_key}:{self.api_secret}".encode()).decode()
            return header[len("Basic ") :] == expected
        return self.token is not None and header == f"Bearer {self.token}"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The endpoints the exporter uses, and the single link and mirror topic the runbooks
        read (docs/runbooks.md)."""
        router.add_get(API + "/{cluster_id}/links", self.list_links)
        router.add_get(API + "/{cluster_id}/links/{link}", self.get_link)
        router.add_get(API + "/{cluster_id}/links/{link}/mirrors", self.list_mirrors)
        router.add_get(API + "/{cluster_id}/links/{link}/mirrors/{topic}", self.get_mirror)

    async def get_link(self, request: web.Request) -> web.Response:
        """GET links/{link}, with its tasks when `include_tasks=true` (from CP 7.6)."""
        if (refused := self._refused(request)) is not None:
            return refused
        name = request.match_info["link"]
        found = [sim for sim in self.live_links() if sim.name == name]
        if not found:
            return self._error(404, f"Cluster link '{name}' does not exist.")
        (link,) = found
        if self.overrides.get(f"link:{name}", {}).get("_dropped_after_list"):
            return self._error(404, f"Cluster link '{name}' does not exist.")
        topics = [topic.name for topic, _, _ in self.live_topics(name)]
        item = self.link_item(request, link, topics)
        if self.plays >= LINK_STATE_SINCE and request.query.get("include_tasks") == "true":
            item.setdefault("tasks", self.tasks_of(link))
        return json_response(item)

    async def get_mirror(self, request: web.Request) -> web.Response:
        """GET links/{link}/mirrors/{topic}: one ListMirrorTopicsResponseData, as in the list."""
        if (refused := self._refused(request)) is not None:
            return refused
        name, wanted = request.match_info["link"], request.match_info["topic"]
        if name not in {sim.name for sim in self.live_links()}:
            return self._error(404, f"Cluster link '{name}' does not exist.")
        row = next((r for r in self.live_topics(name) if r[0].name == wanted), None)
        if row is None:
            return self._error(404, f"Topic '{wanted}' is not a mirror topic of link '{name}'.")
        return json_response(self.mirror_item(request, *row))

    async def list_links(self, request: web.Request) -> web.Response:
        """GET links."""
        if (refused := self._refused(request)) is not None:
            return refused
        paged = self._page(request, "KafkaLinkDataList", self.live_links())
        if isinstance(paged, web.Response):
            return paged
        envelope, rows = paged
        names: dict[str, list[str]] = {}
        for topic, _, _ in self.live_topics():
            names.setdefault(topic.link, []).append(topic.name)
        envelope["data"] = [
            self.link_item(request, link, names.get(link.name, [])) for link in rows
        ]
        return json_response(envelope)

    async def list_mirrors(self, request: web.Request) -> web.Response:
        """GET links/{link}/mirrors, and links/-/mirrors for every link of the cluster."""
        if (refused := self._refused(request)) is not None:
            return refused
        link = request.match_info["link"]
        if link != "-" and link not in {sim.name for sim in self.live_links()}:
            return self._error(404, f"Cluster link '{link}' does not exist.")
        wanted = request.query.get("mirror_status")
        if wanted is not None and wanted not in _MIRROR_STATUSES:
            return self._error(400, f"Invalid mirror_status: {wanted[:40]}")
        rows = [
            row
            for row in self.live_topics(None if link == "-" else link)
            if wanted is None or row[1] == wanted
        ]
        paged = self._page(request, "KafkaMirrorDataList", rows)
        if isinstance(paged, web.Response):
            return paged
        envelope, page = paged
        envelope["data"] = [self.mirror_item(request, *row) for row in page]
        return json_response(envelope)
