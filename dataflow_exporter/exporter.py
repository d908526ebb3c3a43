"""The composition root: one exporter built from a config, with the HTTP session, scheduler,
store, exposition cache, runtime metrics and web server it owns. `run`, `once`, `demo`, the
tests and the benchmarks all assemble the exporter here and nowhere else.

An `Exporter` polls every target once (`once`, tests, benchmarks), polls in the background and
serves the endpoints (`run`, `demo`), reloads atomically (a bad new config keeps the running
one) and, on `stop`, ends everything it owns: the poller tasks, the render threads, the listener
and the session it opened. Process-level concerns (signals, the exit deadline, GC tuning) live
in `daemon`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

from dataflow_exporter import config as config_mod
from dataflow_exporter.config import Config
from dataflow_exporter.config_models import Shard
from dataflow_exporter.errors import ConfigError
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.log import get_logger
from dataflow_exporter.runtime_metrics import RuntimeMetrics
from dataflow_exporter.scheduler import Scheduler
from dataflow_exporter.server import ServerLimits, make_app
from dataflow_exporter.store import Store
from dataflow_exporter.upstream import new_session
from dataflow_exporter.webconfig import WebConfig

log = get_logger("dataflow_exporter.exporter")

DEFAULT_LISTEN = ":9891"
# How long stopping waits for requests in flight before closing their connections.
SHUTDOWN_GRACE_SECONDS = 1.0


def parse_listen_address(address: str) -> tuple[str, int]:
    """`host:port`, `:port` or `[v6]:port` -> (host, port); an empty host means all interfaces."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {address!r}: expected host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


class Exporter:
    """One exporter's runtime, built from a `Config` or from a config file (read again on
    every reload). Nothing touches the network or starts a task before `poll_once`, `serve`
    or `start`."""

    def __init__(
        self,
        config: Config | str | Path,
        listen: str = DEFAULT_LISTEN,
        web_config: WebConfig | None = None,
        shard: Shard | None = None,
        clock: Callable[[], float] = time.time,
        limits: ServerLimits | None = None,
        *,
        runtime_metrics: bool = True,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        session: aiohttp.ClientSession | None = None,
        store: Store | None = None,
        enable_lifecycle: bool = False,
    ) -> None:
        """`shard` overrides the config's; `runtime_metrics` appends the process's own
        metrics to every body (`once` leaves them out); `trace_configs` observe every upstream
        request of the session the exporter opens; a `session` given is used instead and
        left open; a `store` given is recorded into instead of a new one; `enable_lifecycle`
        serves `POST /-/reload` (`--web.enable-lifecycle`)."""
        self.config_path = None if isinstance(config, Config) else Path(config)
        self.shard_override = shard
        self.config: Config | None = None
        if isinstance(config, Config):
            self.config = self._with_shard(config)
        self.listen = listen
        self.web_config = web_config
        self.clock = clock
        self.limits = limits or ServerLimits()
        self.enable_lifecycle = enable_lifecycle
        self.store = store if store is not None else Store()
        self.exposition_cache = ExpositionCache(
            self.store, clock, RuntimeMetrics() if runtime_metrics else None
        )
        self.scheduler: Scheduler | None = None
        self.port: int | None = None
        self._trace_configs = tuple(trace_configs)
        self._session = session
        self._owns_session = session is None
        self._runner: web.AppRunner | None = None
        self._reload_lock = asyncio.Lock()
        self._started = False
        self._polling = False

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session upstream requests go through (None until first use, and once `stop`
        has closed the one the exporter opened)."""
        return self._session

    def _with_shard(self, loaded: Config) -> Config:
        if self.shard_override is None:
            return loaded
        return replace(loaded, shard=self.shard_override)

    def _load(self) -> Config:
        """The config to run: the file read again, or the one the exporter was built from."""
        if self.config_path is not None:
            return self._with_shard(config_mod.load(self.config_path))
        assert self.config is not None
        return self.config

    async def _open(self) -> Scheduler:
        """The scheduler over the session, made on first use: a session belongs to the running
        event loop, and a config file is read only when the exporter is first used."""
        if self.scheduler is None:
            if self.config is None:
                self.config = await asyncio.to_thread(self._load)
            if self._session is None:
                self._session = new_session(self._trace_configs)
            self.scheduler = Scheduler(self._session, self.store, self.clock)
            self.scheduler.configure(self.config)
        return self.scheduler

    async def poll_once(self, *targets: str) -> bool:
        """Poll every target (or those named) once, concurrently, with no background task;
        True if every poll succeeded. Raises ConfigError for a bad config file."""
        scheduler = await self._open()
        if not targets:
            return await scheduler.poll_all_once()
        unknown = sorted(set(targets) - scheduler.pollers.keys())
        if unknown:
            known = ", ".join(sorted(scheduler.pollers))
            raise ValueError(f"no target named {', '.join(unknown)}; the config has: {known}")
        polls = [scheduler.pollers[name].poll_once() for name in targets]
        return all(await asyncio.gather(*polls))

    def exposition(self, openmetrics: bool = False) -> bytes:
        """The body `/metrics` serves now, uncompressed."""
        return self.exposition_cache.exposition(openmetrics=openmetrics)

    async def serve(self) -> None:
        """Listen on the listen address and serve every endpoint from the store; polling is
        apart (`start` does both). Raises OSError when the address cannot be listened on."""
        app = make_app(
            self.store,
            self.exposition_cache,
            self.reload,
            self.web_config,
            self.limits,
            enable_lifecycle=self.enable_lifecycle,
        )
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.limits.idle_seconds,
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        )
        await self._runner.setup()
        host, port = parse_listen_address(self.listen)
        ssl_context = self.web_config.ssl_context if self.web_config else None
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def start(self) -> None:
        """Poll every target in the background and serve (`run`, `demo`). Raises ConfigError
        for a bad config file and OSError when the address cannot be listened on."""
        scheduler = await self._open()
        assert self.config is not None
        self.store.record_reload(True, self.clock())
        scheduler.start()
        self._polling = True
        await self.serve()
        shard = self.config.shard
        log.info(
            "exporter_started",
            listen=f"{parse_listen_address(self.listen)[0]}:{self.port}",
            targets=len(self.config.targets),
            tls=self.web_config is not None and self.web_config.ssl_context is not None,
            shard=f"{shard.index}/{shard.count}",
        )
        # Only a start that was announced is announced as stopped.
        self._started = True

    async def reload(self, config: Config | None = None) -> list[str]:
        """Apply `config`, or else read the config file again (one built from a `Config` keeps
        it); on any error the running config stays. Returns the errors."""
        async with self._reload_lock:
            try:
                if config is not None:
                    loaded = self._with_shard(config)
                else:
                    loaded = await asyncio.to_thread(self._load)
                if self.scheduler is not None and self._polling:
                    await self.scheduler.apply(loaded)
                elif self.scheduler is not None:
                    self.scheduler.configure(loaded)
                self.config = loaded
            except ConfigError as exc:
                return self._reload_failed(exc.errors)
            except Exception as exc:  # reload's boundary: the running config must survive
                log.exception("config_reload_crashed")
                source = self.config_path or "config"
                return self._reload_failed([f"{source}: unexpected {type(exc).__name__}"])
            self.store.record_reload(True, self.clock())
            log.info("config_reloaded", targets=len(loaded.targets))
            return []

    def _reload_failed(self, errors: list[str]) -> list[str]:
        self.store.record_reload(False, self.clock())
        log.error("config_reload_failed", errors=config_mod.log_form(errors))
        return errors

    async def stop(self) -> None:
        """Stop serving, cancel every poller, end the render threads and close the session the
        exporter opened (one it was given stays open)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.scheduler is not None:
            await self.scheduler.stop()
            self._polling = False
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None
        if self._started:
            log.info("exporter_stopped")
