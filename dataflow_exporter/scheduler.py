"""Background polling: one task per target, owned and cancelled by the `Scheduler`.

Each poller runs its polls one after another (so never two at once), within the target's
`timeout`, then sleeps for the jittered interval, for an exponential backoff after consecutive
failures, and at least as long as an upstream's `Retry-After` asks (`backoff`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from dataflow_exporter import backoff
from dataflow_exporter.config_models import Shard, TargetConfig
from dataflow_exporter.errors import Reason, UpstreamError
from dataflow_exporter.exposition import SeriesRenderer
from dataflow_exporter.log import get_logger
from dataflow_exporter.records import DetailFailure
from dataflow_exporter.snapshot import Snapshot, build_snapshot
from dataflow_exporter.store import Store, TargetState
from dataflow_exporter.upstream import UpstreamClient

if TYPE_CHECKING:
    # Types only: the loaded config hands the scheduler each target's source class.
    from dataflow_exporter.config import Config
    from dataflow_exporter.sources.base import PollResult, Source

log = get_logger("dataflow_exporter.scheduler")

JITTER = 0.1  # +/- 10 % on every sleep, so targets drift apart instead of polling in lockstep
FIRST_POLL_SPREAD_SECONDS = 1.0
# Distinct unknown enum values logged per target; beyond it a misbehaving upstream that invents
# a value per entity cannot grow memory or flood the log (they are still counted).
MAX_UNKNOWN_LOGGED = 1000
# Entities named in one per-poll summary line (`detail_failed`, `detail_recovered`,
# `unknown_value`); the line counts the rest.
LOG_SAMPLE = 5


# Threads that render snapshots: rendering a large poll is CPU work that would otherwise hold
# the event loop (and with it /metrics, every other target's poll and signal handling).
RENDER_THREADS = 2
# A poll with fewer samples renders on the loop in a few milliseconds: cheaper than a thread
# hop, and no contention for the interpreter lock with the loop thread.
RENDER_INLINE_SAMPLES = 5_000


# The exporter's own code: a bug is reported at its last frame here, not in a library below.
_PACKAGE = Path(__file__).resolve().parent


def internal_error(exc: BaseException) -> str:
    """A bug as one line: what went wrong and where in the exporter's code."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if Path(f.filename).is_relative_to(_PACKAGE)] or frames
    where = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else ""
    return f"internal error (please report it): {type(exc).__name__}: {exc}{where}"


class Poller:
    """Polls one target for as long as its config is unchanged."""

    def __init__(
        self,
        config: TargetConfig,
        source: Source[Any],
        client: UpstreamClient,
        store: Store,
        clock: Callable[[], float],
        rng: random.Random,
        renderers: concurrent.futures.Executor | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.client = client
        self.store = store
        self.clock = clock
        self.rng = rng
        self.retry_after: float | None = None
        self._failing: dict[tuple[str, str], DetailFailure] = {}
        self._unknown_logged: set[tuple[str, str]] = set()
        self._capabilities: dict[str, bool] = {}
        self.renderer = SeriesRenderer((("target", config.name), *sorted(config.labels.items())))
        self._renderers = renderers
        # A render cut short by the timeout still runs in its thread; the next one waits for
        # it, as both use `renderer`.
        self._rendering: asyncio.Future[Snapshot] | None = None

    async def poll_once(self) -> bool:
        """One poll: fetch, translate and store; never raises except on cancellation."""
        cfg = self.config
        started = time.monotonic()
        self.retry_after = None
        try:
            # The timeout covers everything up to the swap into the store, rendering included.
            async with asyncio.timeout(cfg.timeout):
                result = await self.source.poll(self.client)
                snapshot = await self._render(result)
        except UpstreamError as exc:
            self.retry_after = exc.retry_after
            return self._failed(exc.reason, str(exc), started)
        except TimeoutError:
            return self._failed(
                Reason.TIMEOUT, f"poll exceeded its {cfg.timeout:g}s timeout", started
            )
        except Exception as exc:  # the poll-loop boundary: a bug must not stop the poller
            # One line per poll, like any failure: a traceback every interval would bury the
            # log. The traceback is there for whoever asks for debug logs to report the bug.
            log.debug("poll_internal_error", target=cfg.name, exc_info=True)
            return self._failed(Reason.INTERNAL, internal_error(exc), started)
        duration = time.monotonic() - started
        failures = tuple(result.detail_failures)
        self._log_changes(failures, result.unknown_values)
        self._log_capabilities(result.capabilities)
        self.store.record_success(
            cfg.name,
            snapshot,
            result.unknown_values,
            duration,
            failures,
            result.capabilities,
            tuple(result.broken),
        )
        if snapshot.dropped:
            log.warning(
                "series_dropped",
                target=cfg.name,
                dropped=snapshot.dropped,
                max_series=cfg.max_series,
            )
        log.info(
            "poll_finished",
            target=cfg.name,
            system=cfg.system,
            outcome="success",
            duration_s=round(duration, 4),
            entities=sum(result.entities.values()),
            series=snapshot.series,
        )
        return True

    def _log_changes(
        self, failures: tuple[DetailFailure, ...], unknown: list[tuple[str, str]]
    ) -> None:
        """Log detail failures that started or changed, those that cleared, and unknown enum
        values seen for the first time: once per change, not once per poll, and at most one
        line of each per poll, with counts and the first `LOG_SAMPLE` entities. A detail call
        that flaps on thousands of entities is a few lines per poll, not one per entity."""
        cfg = self.config
        now = {(f.entity, f.endpoint): f for f in failures}
        started = [
            failure
            for key, failure in now.items()
            if (before := self._failing.get(key)) is None or before.reason != failure.reason
        ]
        if started:
            log.warning(
                "detail_failed",
                target=cfg.name,
                system=cfg.system,
                count=len(started),
                failing=len(now),
                reasons=dict(Counter(f.reason.value for f in started)),
                sample=[
                    {
                        "entity": f.entity,
                        "endpoint": f.endpoint,
                        "reason": f.reason.value,
                        "error": f.message,
                    }
                    for f in started[:LOG_SAMPLE]
                ],
            )
        cleared = [key for key in self._failing if key not in now]
        if cleared:
            log.info(
                "detail_recovered",
                target=cfg.name,
                system=cfg.system,
                count=len(cleared),
                failing=len(now),
                sample=[{"entity": e, "endpoint": p} for e, p in cleared[:LOG_SAMPLE]],
            )
        self._failing = now
        new: list[tuple[str, str]] = []
        for field_name, value in unknown:
            pair = (field_name, value)
            if pair in self._unknown_logged or len(self._unknown_logged) >= MAX_UNKNOWN_LOGGED:
                continue
            self._unknown_logged.add(pair)
            new.append(pair)
        if new:
            log.warning(
                "unknown_value",
                target=cfg.name,
                system=cfg.system,
                count=len(new),
                sample=[{"field": f, "value": v[:200]} for f, v in new[:LOG_SAMPLE]],
            )

    def _log_capabilities(self, capabilities: dict[str, bool]) -> None:
        """Log what the upstream's release lacks when it is learned, and when it is served again
        (an upgrade)."""
        for name, served in capabilities.items():
            if self._capabilities.get(name, True) != served:
                (log.warning if not served else log.info)(
                    "capability_missing" if not served else "capability_served",
                    target=self.config.name,
                    system=self.config.system,
                    capability=name,
                )
        self._capabilities = dict(capabilities)

    async def _render(self, result: PollResult) -> Snapshot:
        """The poll's snapshot; a large one is built in a render thread."""
        if self._rendering is not None and not self._rendering.done():
            await asyncio.wait([self._rendering])
        args = (
            result.families,
            self.renderer.constant_labels,
            self.config.max_series,
            result.entities,
            self.clock(),
            self.renderer,
            # Its blocks that did not change keep their gzip members.
            state.snapshot if (state := self.store.targets.get(self.config.name)) else None,
        )
        if sum(len(family.values) for family in result.families) < RENDER_INLINE_SAMPLES:
            return build_snapshot(*args)
        future = asyncio.get_running_loop().run_in_executor(self._renderers, build_snapshot, *args)
        self._rendering = future
        future.add_done_callback(_retrieve)
        # shield: cancelling the wait must not mark the future cancelled while its thread
        # still runs, or the next render would not wait for it.
        return await asyncio.shield(future)

    def _failed(self, reason: Reason, message: str, started: float) -> bool:
        cfg = self.config
        duration = time.monotonic() - started
        self.store.record_failure(cfg.name, reason, message, duration, self.clock())
        log.warning(
            "poll_finished",
            target=cfg.name,
            system=cfg.system,
            outcome="failure",
            duration_s=round(duration, 4),
            reason=reason.value,
            # Errors name the request path below the URL; with the URL, a path prefix shows too.
            url=cfg.url,
            error=message,
            retry_after_s=self.retry_after,
        )
        return False

    def next_delay(self) -> float:
        """The jittered sleep before the next poll."""
        state = self.store.targets.get(self.config.name)
        failures = state.consecutive_failures if state else 0
        delay = backoff.delay(self.config.interval, failures, self.retry_after)
        return delay * self.rng.uniform(1 - JITTER, 1 + JITTER)

    async def run(self) -> None:
        """Poll until cancelled."""
        spread = min(FIRST_POLL_SPREAD_SECONDS, self.config.interval * JITTER)
        await asyncio.sleep(self.rng.uniform(0, spread))
        while True:
            await self.poll_once()
            delay = self.next_delay()
            self.store.record_schedule(self.config.name, self.clock() + delay, self.retry_after)
            await asyncio.sleep(delay)


def _retrieve(future: asyncio.Future[Snapshot]) -> None:
    """Mark an abandoned render's outcome as seen (its poll already counted the failure)."""
    if not future.cancelled():
        future.exception()


class Scheduler:
    """Owns every poller task: starts them, swaps them on reload, cancels them on stop."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        store: Store,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.pollers: dict[str, Poller] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._shard = Shard()
        self._renderers = concurrent.futures.ThreadPoolExecutor(
            RENDER_THREADS, thread_name_prefix="render"
        )

    def _make_poller(self, target: TargetConfig, kind: type[Source[Any]]) -> Poller:
        source = kind(target, self.clock, self._shard)
        client = UpstreamClient(self.session, target, source.auth())
        return Poller(target, source, client, self.store, self.clock, self.rng, self._renderers)

    def configure(self, config: Config) -> None:
        """Create pollers for a config: keep unchanged targets, replace changed, drop removed."""
        shard_changed = config.shard != self._shard
        self._shard = self.store.shard = config.shard
        wanted = {t.name: t for t in config.targets}
        for name in list(self.pollers):
            old = self.pollers[name].config
            if name not in wanted or shard_changed or old != wanted[name]:
                self._drop(name)
        for name, target in wanted.items():
            if name in self.pollers:
                continue
            kind = config.sources[target.system]
            self.pollers[name] = self._make_poller(target, kind)
            self.store.add(
                TargetState(
                    name,
                    target.system,
                    target.interval,
                    target.stale_after,
                    detail_endpoints=kind.detail_endpoints,
                    unknown_value_fields=kind.unknown_value_fields,
                    configured_at=self.clock(),
                )
            )

    def _drop(self, name: str) -> None:
        self.pollers.pop(name, None)
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
        self.store.remove(name)

    def start(self) -> None:
        """Start a background task for every poller that has none."""
        for name, poller in self.pollers.items():
            if name not in self._tasks:
                self._tasks[name] = asyncio.create_task(poller.run(), name=f"poll:{name}")

    async def apply(self, config: Config) -> None:
        """Reload: reconfigure, start new pollers and wait for dropped ones to finish."""
        before = dict(self._tasks)
        self.configure(config)
        cancelled = [task for name, task in before.items() if self._tasks.get(name) is not task]
        await asyncio.gather(*cancelled, return_exceptions=True)
        self.start()

    async def poll_all_once(self) -> bool:
        """Poll every target once, concurrently; True if all succeeded (the `once` command)."""
        results = await asyncio.gather(*(p.poll_once() for p in self.pollers.values()))
        return all(results)

    async def stop(self) -> None:
        """Cancel every poller task and wait until they are gone."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A render still running finishes on its own; nothing waits for its result.
        self._renderers.shutdown(wait=False, cancel_futures=True)
