"""The running exporter: config, HTTP session, scheduler, store, cache and web server, with
atomic reload (a bad new config keeps the old one) and a clean shutdown.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

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

log = get_logger("dataflow_exporter.daemon")

# CPython collects generation 0 every 700 container allocations. Decoding and translating one
# large poll allocates millions, so the default runs hundreds of collections per poll and
# several full ones, each walking every long-lived snapshot. The daemon's data is acyclic and
# freed by reference counting; the cycle cache only needs to run now and then.
GC_THRESHOLDS = (100_000, 10, 10)


# glibc gives each thread that allocates its own malloc arena. Render threads allocate a large
# poll's blocks, which outlive the poll, so each arena keeps its high-water mark: a 400k-series
# poll peaked near 100 MiB higher than with one arena. One arena costs render threads some lock
# contention, which the interpreter lock makes moot.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 1


def tune_gc() -> None:
    """Collect cycles less often and keep import-time objects out of every full collection;
    keep malloc to one arena (glibc only; elsewhere nothing changes)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    _limit_malloc_arenas()


def _limit_malloc_arenas() -> None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator manages threads its own way


# How long a stop signal may take to end the process; past it the process exits at once (a
# render thread or a stuck client must not keep a pod in Terminating).
EXIT_DEADLINE_SECONDS = 5.0
# How long stopping waits for requests in flight before closing their connections.
SHUTDOWN_GRACE_SECONDS = 1.0


def arm_exit_deadline(
    signals: Iterable[signal.Signals], seconds: float = EXIT_DEADLINE_SECONDS
) -> None:
    """Make each signal end the process within `seconds` whatever the event loop is doing.

    Call after `loop.add_signal_handler`: the loop's own handling still runs (the signal
    reaches it through its wake-up descriptor), and this Python-level handler, which runs even
    while the loop is busy, starts a timer that exits if the clean shutdown has not finished.
    """
    armed = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if armed.is_set():
            return
        armed.set()
        timer = threading.Timer(seconds, _exit_now, args=(signum,))
        timer.daemon = True
        timer.start()

    for sig in signals:
        signal.signal(sig, on_signal)


def _exit_now(signum: int) -> None:
    os.write(2, f"shutdown took over {EXIT_DEADLINE_SECONDS:g}s; exiting now\n".encode())
    os._exit(128 + signum)


class AcceptErrorFilter:
    """Loop exception handler: running out of descriptors while accepting is logged once, not
    on every retry of the accept loop (asyncio logs a traceback per attempt)."""

    def __init__(self) -> None:
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Log the first accept failure and count the rest; pass anything else on."""
        message = str(context.get("message", ""))
        if message.startswith("socket.accept() out of system resource"):
            if self.suppressed == 0:
                exc = context.get("exception")
                log.error(
                    "accept_failed_out_of_descriptors",
                    error=str(exc) if exc else message,
                    hint="raise the file descriptor limit; new connections wait until then",
                )
            self.suppressed += 1
            return
        loop.default_exception_handler(context)


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
        limits: ServerLimits | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.limits = limits or ServerLimits()
        self.listen = listen
        self.web_config = web_config
        self.shard_override = shard
        self.clock = clock
        self.store = Store()
        self.exposition_cache = ExpositionCache(self.store, clock, RuntimeMetrics())
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
        asyncio.get_running_loop().set_exception_handler(AcceptErrorFilter())
        app = make_app(self.store, self.exposition_cache, self.reload, self.web_config, self.limits)
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
                assert self.scheduler is not None
                await self.scheduler.apply(loaded)
            except ConfigError as exc:
                return self._reload_failed(exc.errors)
            except Exception as exc:  # reload's boundary: the running config must survive
                log.exception("config_reload_crashed")
                return self._reload_failed([f"{self.config_path}: unexpected {type(exc).__name__}"])
            self.store.record_reload(True, self.clock())
            log.info("config_reloaded", targets=len(loaded.targets))
            return []

    def _reload_failed(self, errors: list[str]) -> list[str]:
        self.store.record_reload(False, self.clock())
        log.error("config_reload_failed", errors=errors)
        return errors

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
