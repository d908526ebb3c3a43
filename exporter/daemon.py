"""The running exporter: config, HTTP session, scheduler, store, collector and web server, with
atomic reload (a bad new config keeps the old one) and a clean shutdown.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

from exporter import config as config_mod
from exporter.collector import Collector
from exporter.config import Config, ConfigError
from exporter.http import new_session
from exporter.log import get_logger
from exporter.runtime_metrics import RuntimeMetrics
from exporter.scheduler import Scheduler
from exporter.server import make_app
from exporter.sources.base import Shard
from exporter.store import Store
from exporter.webconfig import WebConfig

log = get_logger("exporter.daemon")

# CPython collects generation 0 every 700 container allocations. Decoding and translating one
# large poll allocates millions, so the default runs hundreds of collections per poll and
# several full ones, each walking every long-lived snapshot. The daemon's data is acyclic and
# freed by reference counting; the cycle collector only needs to run now and then.
GC_THRESHOLDS = (100_000, 10, 10)


def tune_gc() -> None:
    """Collect cycles less often and keep import-time objects out of every full collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def parse_listen_address(address: str) -> tuple[str, int]:
    """`host:port`, `:port` or `[v6]:port` -> (host, port); an empty host means all interfaces."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {address!r}: expected host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


class Exporter:
    """One exporter process's runtime."""

    def __init__(
        self,
        config_path: str | Path,
        listen: str = ":9891",
        web_config: WebConfig | None = None,
        shard: Shard | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config_path = Path(config_path)
        self.listen = listen
        self.web_config = web_config
        self.shard_override = shard
        self.clock = clock
        self.store = Store()
        self.collector = Collector(self.store, clock, RuntimeMetrics())
        self._session: aiohttp.ClientSession | None = None
        self.scheduler: Scheduler | None = None
        self._runner: web.AppRunner | None = None
        self._reload_lock = asyncio.Lock()
        self.port: int | None = None

    def _load(self) -> Config:
        loaded = config_mod.load(self.config_path)
        if self.shard_override is not None:
            loaded = replace(loaded, shard=self.shard_override)
        return loaded

    async def start(self) -> None:
        """Load the config (raises ConfigError), start polling and serving."""
        loaded = self._load()
        self._session = new_session()
        self.scheduler = Scheduler(self._session, self.store, self.clock)
        self.scheduler.configure(loaded)
        self.store.record_reload(True, self.clock())
        self.scheduler.start()
        app = make_app(self.store, self.collector, self.reload, self.web_config)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        host, port = parse_listen_address(self.listen)
        ssl_context = self.web_config.ssl_context if self.web_config else None
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info(
            "exporter_started",
            listen=f"{host}:{self.port}",
            targets=len(loaded.targets),
            tls=ssl_context is not None,
            shard=f"{loaded.shard.index}/{loaded.shard.count}",
        )

    async def reload(self) -> list[str]:
        """Re-read the config file; on error keep the running config. Returns the errors."""
        async with self._reload_lock:
            try:
                loaded = await asyncio.to_thread(self._load)
            except ConfigError as exc:
                self.store.record_reload(False, self.clock())
                log.error("config_reload_failed", errors=exc.errors)
                return exc.errors
            assert self.scheduler is not None
            await self.scheduler.apply(loaded)
            self.store.record_reload(True, self.clock())
            log.info("config_reloaded", targets=len(loaded.targets))
            return []

    async def stop(self) -> None:
        """Stop serving, cancel every poller and close the session."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
        log.info("exporter_stopped")
