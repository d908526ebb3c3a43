"""The one interface every upstream module implements, and the policies they share.

A source is created per target and lives as long as the target's config is unchanged, so it may
remember state across polls (tokens, last success times, seen executions, what the upstream's
version serves). `poll` does the I/O through the `UpstreamClient` it is given; parsing and family
building are pure functions in the source's module.

A poll reads an *inventory* (the list of mirrors, pipelines, links and topics, flows), which
decides which entities exist and whether the target is up, and then *details* (one entity's
counters, stats, executions). The policies every source follows live here, once:

- A failed inventory fails the poll. A failed detail fails that detail only (`Details.fetch`):
  the entity keeps what the inventory says, the detail's series are absent, and the failure is
  reported as a `DetailFailure`. Failures that are about the whole target (timeout, connection,
  TLS, credentials, rate limit) still fail the poll.
- A 404 means "gone" only where the upstream really means that entity no longer exists
  (`gone_if`); a 404 from a route an older release lacks is a missing capability, learned
  once and re-checked now and then (`Capabilities`), never a vanished entity. A route is
  missing only when the upstream says so for the route (`Source.route_missing`) or when most
  of a poll's calls to it answer 404 at once; one entity's 404 fails that entity's detail.
- Every upstream time is read through `unix_time`: one outside 1970..9999 is a broken field
  of its entity, never a poll's failure for one entity's sake. In a detail answer it fails the
  detail; in an inventory the entity keeps the rest and the source reports it as that entity's
  failure of the inventory call (`entity_time`).
- Detail calls go through a bounded worker pool (`fan_out`), not one task per entity.
- Pagination follows one cap policy (`collect_pages`): beyond the cap the poll fails, because a
  partial inventory would look like deleted entities.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar, TypeVarTuple

from dataflow_exporter import credential_text, thresholds
from dataflow_exporter.auth import Auth
from dataflow_exporter.config_models import Filter, Shard, TargetConfig
from dataflow_exporter.errors import (
    ENTITY_REASONS,
    Reason,
    SchemaError,
    TimeRangeError,
    UpstreamError,
)
from dataflow_exporter.families import Family, LabelMemo, MetricSpec

# Re-exported (`as`): the four sources import the records they fill from here.
from dataflow_exporter.records import BrokenEntity as BrokenEntity  # noqa: PLC0414
from dataflow_exporter.records import DetailFailure as DetailFailure  # noqa: PLC0414
from dataflow_exporter.upstream import Answer, UpstreamClient

Clock = Callable[[], float]
C = TypeVar("C", bound=TargetConfig)


@dataclass(slots=True)
class PollResult:
    """What one successful poll produced."""

    families: list[Family]
    # Entities per state, for the status page (e.g. {"mirrors/STATUS_RUNNING": 3}).
    entities: dict[str, int] = field(default_factory=dict)
    # (field, value) pairs seen outside the known enums; counted by the core.
    unknown_values: list[tuple[str, str]] = field(default_factory=list)
    # Detail calls that failed; their entities are still exported from the inventory.
    detail_failures: list[DetailFailure] = field(default_factory=list)
    # What the upstream's version serves, by capability name (False: this release lacks it).
    capabilities: dict[str, bool] = field(default_factory=dict)
    # Entities that are failed, paused, unhealthy, erroring, stuck or past an alert threshold.
    broken: list[BrokenEntity] = field(default_factory=list)


class Source(ABC, Generic[C]):
    """One upstream system: its config model, its metric specs and how to poll it."""

    system: ClassVar[str]
    config_model: ClassVar[type[TargetConfig]]
    specs: ClassVar[tuple[MetricSpec, ...]]
    # The kinds of detail call the source makes (the `endpoint` label of detail failures).
    detail_endpoints: ClassVar[tuple[str, ...]] = ()
    # The enum fields the source counts unknown values of (the `field` label), so the core
    # exports their counters at 0 from the start: `increase()` and alerts need the series
    # before the first unknown value.
    unknown_value_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: C, clock: Clock = time.time, shard: Shard | None = None) -> None:
        self.config = config
        self.clock = clock
        self.shard = shard or Shard()
        self.capabilities = Capabilities(clock)
        # The alert settings that call an entity broken: the shipped ones and global.alerts.
        self.alerts = thresholds.settings(config.alerts)
        # The label sets of the last poll's families, for the next poll to reuse.
        self.labels = LabelMemo()

    def admit(self, count: int, what: str) -> None:
        """Fail the poll as soon as the inventory is read if it lists more selected entities
        than `max_entities`: a poll's cost is bounded before any detail call is spent."""
        limit = self.config.max_entities
        if count > limit:
            raise UpstreamError(
                Reason.MAX_ENTITIES,
                f"{what}: {count} selected, more than max_entities ({limit}); raise "
                "max_entities or narrow the target with include/exclude",
            )

    def details(self) -> Details:
        """A fresh record of one poll's detail calls, bounded by the target's concurrency."""
        return Details(self.capabilities, self.config.max_concurrency, self.route_missing)

    def route_missing(self, exc: UpstreamError) -> bool:
        """True if a 404 says the route itself is missing (the upstream's release lacks it),
        whichever entity it was asked about; False leaves it to the majority rule of
        `Details`."""
        return False

    def auth(self) -> Auth | None:
        """Credentials for this target's requests (None: anonymous)."""
        return None

    @abstractmethod
    async def poll(self, client: UpstreamClient) -> PollResult:
        """Fetch the upstream's current state and translate it into families."""


# Characters a path segment keeps as they are (RFC 3986 unreserved); the common case is checked
# first because quoting every entity name of every poll showed up in profiles.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")


def selector(selection: Filter | tuple[str, ...]) -> Callable[[str], bool]:
    """Which names a target's selection picks: a filter's patterns, or exactly the listed names
    (a set, so a check per entity stays O(1) at thousands of names)."""
    if isinstance(selection, Filter):
        return selection.matches
    return frozenset(selection).__contains__


def api_path(root: str, *segments: str) -> str:
    """`root` followed by each segment percent-encoded as one path segment (`/` included)."""
    return "/".join(
        [
            root,
            *(s if _UNRESERVED.fullmatch(s) else _quote_segment(s) for s in segments),
        ]
    )


def _quote_segment(segment: str) -> str:
    # A name with a lone surrogate (valid in JSON, not in UTF-8) is sent back as the bytes the
    # upstream's own UTF-16 escape stands for, rather than failing the poll.
    return urllib.parse.quote(segment.encode("utf-8", "surrogatepass"), safe="")


# Checks of values a source reads itself: each raises SchemaError naming the field.


def string(value: Any, what: str) -> str:
    """`value` as a JSON string."""
    if not isinstance(value, str):
        raise SchemaError(f"{what}: expected a string, got {type(value).__name__}")
    return value


def _shown(text: str) -> str:
    """An upstream string quoted for an error message: scrubbed, then cut."""
    return repr(credential_text.shorten(text, 40))


def number(value: Any, what: str) -> float:
    """A JSON number, or a number encoded as a string (protojson int64); a string must give a
    finite number (`"1e400"` or `"-inf"` would become an infinite value or timestamp)."""
    if isinstance(value, bool):
        raise SchemaError(f"{what}: expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(int(value.strip()))
        except OverflowError:
            raise SchemaError(f"{what}: number out of range: {_shown(value)}") from None
        except ValueError:
            try:
                result = float(value)
            except ValueError:
                raise SchemaError(f"{what}: expected a number, got {_shown(value)}") from None
            if math.isnan(result):
                raise SchemaError(f"{what}: expected a number, got NaN") from None
            if math.isinf(result):
                raise SchemaError(f"{what}: number out of range: {_shown(value)}") from None
            return result
    raise SchemaError(f"{what}: expected a number, got {type(value).__name__}")


def optional_number(value: Any, what: str) -> float | None:
    """A number, or None for null/absent."""
    return None if value is None else number(value, what)


def boolean(value: Any, what: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise SchemaError(f"{what}: expected a boolean, got {type(value).__name__}")
    return value


# The times an upstream may report, in Unix seconds: from 1970-01-01 to the end of 9999 (UTC).
# Any time outside is a broken field, not a time: refused where it is parsed, like any field of
# the wrong type, so no later step (a threshold, "since" on the status page, the exposition)
# meets 1e300, infinity or a year before the epoch. The bounds are fixed rather than relative
# to the clock: parsers stay pure functions of the answer, and an upstream whose clock is off
# by years still has its times exported as they are.
EARLIEST_TIME = 0.0
LATEST_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def unix_time(seconds: float, what: str) -> float:
    """Unix seconds an upstream reported, checked to be a time (see `EARLIEST_TIME`)."""
    if EARLIEST_TIME <= seconds <= LATEST_TIME:  # False for NaN too
        return seconds
    raise TimeRangeError(
        f"{what}: time out of range: {seconds!r} s is not between 1970-01-01 and 9999-12-31"
    )


def entity_time(read: Callable[[], float | None]) -> tuple[float | None, str]:
    """A time read from one entity of an inventory, or (None, why) when it is out of range.

    In a detail answer a broken time fails that entity's detail like any broken field. In an
    inventory it would fail the whole poll and blind the target for one entity's field, so
    the entity keeps everything else, the time is absent, and the source reports `why` as
    that entity's schema failure of the inventory call (a `DetailFailure`).
    """
    try:
        return read(), ""
    except TimeRangeError as exc:
        return None, str(exc)


def rfc3339_seconds(text: str) -> float | None:
    """An RFC 3339 timestamp with a time zone, in range, as epoch seconds; None for any other
    text, which `timestamp` refuses in words. `timestamp`'s answer without its error paths,
    for a table's rows (`fields.Row.read`) to try first."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        seconds = parsed.timestamp()
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None or not EARLIEST_TIME <= seconds <= LATEST_TIME:
        return None
    return seconds


def timestamp(value: Any, what: str) -> float | None:
    """An RFC 3339 timestamp string as epoch seconds (None for null or empty)."""
    if value is None or value == "":
        return None
    text = string(value, what)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SchemaError(f"{what}: invalid timestamp {_shown(text)}") from None
    if parsed.tzinfo is None:
        raise SchemaError(f"{what}: timestamp {_shown(text)} has no time zone")
    try:
        seconds = parsed.timestamp()
    except OverflowError:  # year 1 in a time zone east of UTC
        seconds = -math.inf
    return unix_time(seconds, what)


T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class AnswerMemo(Generic[T]):
    """The records parsed from each answer of the last successful poll, by request: an answer
    byte-identical to the last one is neither decoded nor parsed again. Parsers given to it
    must be pure functions of the body, and their records immutable (they are shared)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[bytes, T]] = {}
        self._next: dict[str, tuple[bytes, T]] = {}

    def begin(self) -> None:
        """Start a poll (forgets what a failed poll parsed)."""
        self._next = {}

    def finish(self) -> None:
        """End a successful poll: its answers are what the next poll compares with."""
        self._last, self._next = self._next, {}

    def parse(self, key: str, answer: Answer, parse: Callable[[Answer], T]) -> T:
        """`parse(answer)`, or the last poll's records for `key` if its body was the same."""
        last = self._last.get(key)
        record = last[1] if last is not None and last[0] == answer.body else parse(answer)
        self._next[key] = (answer.body, record)
        return record


async def run_all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines concurrently; on failure cancel the rest and raise the first error itself
    (not an ExceptionGroup), so the poll loop sees one classified error."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            for coro in coros:
                tasks.append(group.create_task(coro))
    except BaseExceptionGroup as errors:
        raise _first_leaf(errors) from None
    return [task.result() for task in tasks]


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            leaves.append(exc)
    for leaf in leaves:
        if isinstance(leaf, UpstreamError):
            return leaf
    return leaves[0]


# ---------------------------------------------------------------------------------------------
# Per-entity outcomes: capabilities, detail failures, the worker pool and pagination


# How long a capability learned missing is trusted before one poll asks again: an upgrade of
# the upstream is noticed within this time; an old release costs one poll's 404s per recheck.
CAPABILITY_RECHECK_SECONDS = 600.0

# A route answering 404 without saying it lacks the route is learned missing only when at
# least this many calls to it, and more than half of the poll's calls to it, answered 404 and
# none was served: one entity's 404 (a name a proxy does not route, an entity deleted
# mid-poll) fails that entity's detail instead of hiding every entity's series until the
# recheck. Learning it costs one poll's calls of the route per recheck.
MISSING_ROUTE_MIN_NOT_FOUND = 2


class Capabilities:
    """What this target's upstream release serves, learned from its answers.

    A route an older release lacks answers 404 for every entity; once `Details` has learned
    that (see `MISSING_ROUTE_MIN_NOT_FOUND`) the capability is missing and its calls are
    skipped, until `CAPABILITY_RECHECK_SECONDS` have passed and one poll tries again.
    """

    def __init__(self, clock: Clock, recheck: float = CAPABILITY_RECHECK_SECONDS) -> None:
        self._clock = clock
        self._recheck = recheck
        self._missing: dict[str, float] = {}
        self._asked: set[str] = set()

    def available(self, name: str) -> bool:
        """True if calls for `name` should be made this poll."""
        self._asked.add(name)
        since = self._missing.get(name)
        return since is None or self._clock() - since >= self._recheck

    def lacks(self, name: str) -> None:
        """The upstream answered that it has no such route."""
        self._asked.add(name)
        self._missing[name] = self._clock()

    def has(self, name: str) -> None:
        """The upstream served `name`."""
        self._asked.add(name)
        self._missing.pop(name, None)

    def state(self) -> dict[str, bool]:
        """Every capability asked about so far, and whether the upstream serves it."""
        return {name: name not in self._missing for name in sorted(self._asked)}


def not_found(exc: UpstreamError) -> bool:
    """A 404: for `gone_if` where the upstream answers 404 only for a deleted entity."""
    return exc.status == 404


class _Gone:
    """The entity no longer exists upstream."""

    def __repr__(self) -> str:
        return "GONE"


GONE = _Gone()


class Details:
    """One poll's detail calls: each fails alone, recorded as a `DetailFailure`."""

    def __init__(
        self,
        capabilities: Capabilities,
        limit: int,
        route_missing: Callable[[UpstreamError], bool] = lambda _exc: False,
    ) -> None:
        self.capabilities = capabilities
        self.limit = limit
        self.failures: list[DetailFailure] = []
        self._route_missing = route_missing
        # Per capability, this poll: calls made, whether one was served, whether the upstream
        # said the route is missing, and the entity failures that were 404s.
        self._calls: dict[str, int] = {}
        self._served: set[str] = set()
        self._said_missing: set[str] = set()
        self._not_found: dict[str, list[DetailFailure]] = {}

    async def fetch(
        self,
        entity: str,
        endpoint: str,
        call: Callable[[], Awaitable[T]],
        *,
        gone_if: Callable[[UpstreamError], bool] | None = None,
        capability: str | None = None,
    ) -> T | _Gone | None:
        """`call()`'s result; `GONE` if `gone_if` says the error means the entity was deleted;
        None if the detail failed (recorded) or the upstream's release lacks `capability`
        (its series are then absent).
        """
        if capability is not None:
            if not self.capabilities.available(capability):
                return None
            self._calls[capability] = self._calls.get(capability, 0) + 1
        try:
            result = await call()
        except UpstreamError as exc:
            if gone_if is not None and gone_if(exc):
                return GONE
            self._failed(entity, endpoint, exc, capability)
            return None
        if capability is not None:
            self._served.add(capability)
            self.capabilities.has(capability)
        return result

    def read(self, entity: str, endpoint: str, read: Callable[[*Ts], T], *args: *Ts) -> T | None:
        """`read(*args)`, reading an answer `fetch` got; None if it refuses the answer, which is
        then the entity's failure as a failed call is. For answers read in one pass after the
        fan-out rather than each as it arrives."""
        try:
            return read(*args)
        except UpstreamError as exc:
            self._failed(entity, endpoint, exc, None)
            return None

    def _failed(
        self, entity: str, endpoint: str, exc: UpstreamError, capability: str | None
    ) -> None:
        """Record `exc` as the entity's failure; raise it if it is not the entity's alone."""
        if exc.reason not in ENTITY_REASONS:
            raise exc
        failure = DetailFailure(entity, endpoint, exc.reason, str(exc))
        self.failures.append(failure)
        if exc.status == 404 and capability is not None:
            self._not_found.setdefault(capability, []).append(failure)
            if self._route_missing(exc):
                self._said_missing.add(capability)

    def reused(self, capability: str) -> bool:
        """Whether a value an earlier poll's call to `capability` served may stand for this
        poll's call: only while the release serves the route. A reuse counts as served, since
        the route answered, so this poll's 404s stay their own entities' failures."""
        if not self.capabilities.available(capability):
            return False
        self._served.add(capability)
        return True

    def _lacks(self, name: str, not_found: list[DetailFailure]) -> bool:
        """Whether this poll's 404s say the route is missing: nothing was served, and the
        upstream said so for the route or most calls answered 404 (never one entity's)."""
        if name in self._served:
            return False
        if name in self._said_missing:
            return True
        count = len(not_found)
        return count >= MISSING_ROUTE_MIN_NOT_FOUND and 2 * count > self._calls[name]

    def into(self, result: PollResult) -> PollResult:
        """Attach the failures and the capability state to a poll's result. A route learned
        missing this poll is skipped until the recheck, and its 404s are no entity's failure."""
        for name, not_found in self._not_found.items():
            if self._lacks(name, not_found):
                self.capabilities.lacks(name)
                dropped = {id(failure) for failure in not_found}
                self.failures = [f for f in self.failures if id(f) not in dropped]
        result.detail_failures = self.failures
        result.capabilities = self.capabilities.state()
        return result


async def fan_out(jobs: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run `jobs` with at most `limit` at once, results in order.

    A pool of `limit` workers takes jobs one by one: nothing is created per job before it
    runs, so a timeout or SIGTERM cancels at most `limit` tasks however many entities there
    are. The first error cancels the rest and is raised as itself.
    """
    queue = list(jobs)
    results: list[Any] = [None] * len(queue)
    pending = iter(enumerate(queue))

    async def worker() -> None:
        for index, job in pending:
            results[index] = await job()

    await run_all(worker() for _ in range(min(max(limit, 1), len(queue))))
    return results


Cursor = TypeVar("Cursor")


async def collect_pages(
    first: Cursor,
    fetch: Callable[[Cursor], Awaitable[tuple[list[T], Cursor | None]]],
    max_pages: int,
    what: str,
) -> list[T]:
    """Every record of a paged inventory, following cursors up to `max_pages` pages.

    Beyond the cap the poll fails rather than exporting a partial list, which would make every
    entity on the unread pages lose its series as if it had been deleted; so does a cursor that
    points back to a page already read.
    """
    records: list[T] = []
    cursor = first
    seen: set[Cursor] = set()
    for _ in range(max_pages):
        seen.add(cursor)
        page, following = await fetch(cursor)
        records.extend(page)
        if following is None:
            return records
        cursor = following
        if cursor in seen:
            raise SchemaError(f"{what}: the next page points back to a page already read")
    raise SchemaError(f"{what}: more than {max_pages} pages; the inventory would be partial")
