"""The status page and the `/api/v1/status` document, built once per store change, off the
event loop.

A view scrubs and encodes thousands of upstream error texts: built per request on the event
loop, it held `/-/healthy` and `/metrics` for seconds. Here it is built in a worker thread from a
copy of the store taken on the loop, at most one build at a time, and kept until the store
changes or a target turns stale (the key `/metrics` uses): requests in between, the page's own
auto-refresh included, are served the same bytes. Texts the previous view showed are not
scrubbed again (`status.TextMemo`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass

from dataflow_exporter import status_api
from dataflow_exporter.status import TextMemo, status_view
from dataflow_exporter.status_page import render_page
from dataflow_exporter.store import Store

Key = tuple[int, frozenset[str]]


@dataclass(frozen=True, slots=True)
class StatusBodies:
    """One view, rendered: the page's bytes and the API document's pieces."""

    key: Key
    generated_at: float
    page: bytes
    api: status_api.EncodedStatus


def _yield_to_the_loop() -> None:
    time.sleep(0)  # releases the interpreter lock: the event loop runs first if it waits


class StatusCache:
    """Builds the status bodies for `store` as of `clock`, in `executor` (None: the event
    loop's default executor)."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.executor = executor
        self.builds = 0  # how many views were built (a test and a benchmark read it)
        self._memo = TextMemo(pause=_yield_to_the_loop)
        self._latest: StatusBodies | None = None
        self._building: asyncio.Future[StatusBodies] | None = None

    def _key(self, now: float) -> Key:
        stale = frozenset(n for n, s in self.store.targets.items() if s.stale(now))
        return self.store.version, stale

    async def bodies(self) -> StatusBodies:
        """The bodies for the store as it is now: cached, joined while being built, or built."""
        now = self.clock()
        key = self._key(now)
        if self._latest is not None and self._latest.key == key:
            return self._latest
        if self._building is not None:
            # One build at a time. One under way may be of an older store: wait for it, then
            # take what is current (a build started meanwhile is newer than this request).
            await asyncio.wait([self._building])
            now = self.clock()
            key = self._key(now)
            if self._latest is not None and self._latest.key == key:
                return self._latest
        if self._building is None:
            self._building = self._start(key, now)
        # shield: a client that goes away must not cancel the build others wait for.
        return await asyncio.shield(self._building)

    def _start(self, key: Key, now: float) -> asyncio.Future[StatusBodies]:
        copy = self.store.copy()  # on the loop: the store changes only here
        future = asyncio.get_running_loop().run_in_executor(
            self.executor, self._build, key, copy, now
        )
        future.add_done_callback(self._built)
        return future

    def _build(self, key: Key, store: Store, now: float) -> StatusBodies:
        view = status_view(store, now, self._memo)
        page = render_page(view, now).encode("utf-8", "replace")
        return StatusBodies(key, now, page, status_api.encode(view))

    def _built(self, future: asyncio.Future[StatusBodies]) -> None:
        if self._building is future:
            self._building = None
        if not future.cancelled() and future.exception() is None:
            self.builds += 1
            self._latest = future.result()
