"""What the exporter needs as a long-running process, beside the `Exporter` it runs: garbage
collector and malloc tuning, signals (SIGHUP reloads, SIGTERM and SIGINT stop), an exit
deadline for a shutdown that hangs, and quiet handling of a full descriptor table.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from dataflow_exporter.exporter import Exporter
from dataflow_exporter.log import get_logger

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
        timer = threading.Timer(seconds, _exit_now, args=(signum, seconds))
        timer.daemon = True
        timer.start()

    for sig in signals:
        signal.signal(sig, on_signal)


def _exit_now(signum: int, seconds: float) -> None:
    os.write(2, f"shutdown took over {seconds:g}s; exiting now\n".encode())
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


async def run_until_signalled(
    exporter: Exporter, stop_also: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Run a started exporter until SIGTERM or SIGINT, reloading it on SIGHUP; then stop it (and
    `stop_also`). Each reload is a task owned here and cancelled on the way out."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(AcceptErrorFilter())
    stop = asyncio.Event()
    reloads: set[asyncio.Task[list[str]]] = set()

    def on_hup() -> None:
        task = loop.create_task(exporter.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    arm_exit_deadline((signal.SIGTERM, signal.SIGINT))
    try:
        await stop.wait()
        log.info("shutdown_requested")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        for task in list(reloads):
            task.cancel()
        await asyncio.gather(*reloads, return_exceptions=True)
        await exporter.stop()
        if stop_also is not None:
            await stop_also()
