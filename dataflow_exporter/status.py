"""What on-call needs to know, built from the store for both the status page (`/`) and the JSON
API (`/api/v1/status`), so the two can never disagree. `status_cache` builds it once per store
change, off the event loop.

Everything here is safe to show: upstream error texts are scrubbed of secrets and anything
credential-shaped (`credential_text.scrub`) before they are cut, and no URL or config value appears.
Control, bidi and zero-width characters in upstream text are shown as `<U+202E>`, never raw, so
a name cannot reorder or hide what the page says. What is kept is bounded: entries per target,
characters per text and per target; the view says how many entries were left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from dataflow_exporter import __version__, backoff, credential_text, visible
from dataflow_exporter.store import Store, TargetState, broken_key, detail_key

# Bumped when a field is removed or changes meaning; new fields may appear in any version.
API_VERSION = "1"
# Upstream error texts are kept whole up to this length (Feldera's run to 8 KiB).
MAX_ERROR_CHARS = 4000
# Once a target's listed error texts reach this many characters, its further errors are cut to
# OVER_BUDGET_ERROR_CHARS: thousands of entities with long errors cannot make the view huge.
MAX_TARGET_ERROR_CHARS = 1_000_000
OVER_BUDGET_ERROR_CHARS = 160
# Entities and failing detail calls listed per target (the store keeps up to MAX_BROKEN_KEPT
# broken entities; detail failures are not capped there, as /metrics counts them all).
MAX_LISTED = 5000
# Names and states are upstream labels: shown whole up to this length.
MAX_NAME_CHARS = 256

Health = Literal["up", "degraded", "down", "pending"]
Data = Literal["current", "last_success", "withheld", "none"]


class ErrorView(msgspec.Struct, frozen=True):
    """Why the target's last poll failed."""

    reason: str
    message: str


class TargetView(msgspec.Struct, frozen=True):
    """One target's poll health."""

    name: str
    system: str
    # up; degraded (up, but holding broken entities); down; pending (no poll finished yet)
    health: Health
    stale: bool
    # current: from the last poll; last_success: the last good poll's, the target is down now;
    # withheld: too old, gone from /metrics; none: no poll has succeeded yet.
    data: Data
    last_success: float | None
    last_poll: float | None
    last_poll_duration_seconds: float
    last_error: ErrorView | None
    consecutive_failures: int
    backoff_factor: int
    retry_after_seconds: float | None
    next_poll: float | None
    series: int
    entities: dict[str, int]
    broken: int
    # Broken entities and failing detail calls not listed: beyond the store's cap or the
    # view's (MAX_LISTED).
    broken_omitted: int
    capability_gaps: list[str]


class BrokenView(msgspec.Struct, frozen=True):
    """One entity that is not healthy, in the upstream's own words."""

    system: str
    target: str
    kind: str
    names: dict[str, str]
    state: str
    error: str
    since: float | None
    # upstream: the upstream's own state-change time; exporter: when the exporter first saw it.
    since_source: Literal["upstream", "exporter"]
    # False when the target is down now: the entity was broken as of its last good poll.
    current: bool


class StatusView(msgspec.Struct, frozen=True):
    """The whole status: every target, and every broken entity across them."""

    api_version: str
    exporter_version: str
    generated_at: float
    config_reload_successful: bool
    targets: list[TargetView]
    broken: list[BrokenView]


def _health(state: TargetState) -> Health:
    if not state.polled:
        return "pending"
    if not state.up:
        return "down"
    return "degraded" if state.broken or state.detail_failures else "up"


def _data(state: TargetState, stale: bool) -> Data:
    if state.snapshot is None:
        return "none"
    if stale:
        return "withheld"
    return "current" if state.up else "last_success"


def attention_order(state: TargetState) -> tuple[int, str]:
    """Down targets first, then degraded, then pending, then the rest, each by name."""
    rank = {"down": 0, "degraded": 1, "pending": 2, "up": 3}[_health(state)]
    return rank, state.name


def _valid(text: str) -> str:
    """Upstream text as valid UTF-8: a lone surrogate (JSON allows `\\ud800`) becomes `?`."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def name_text(text: str) -> str:
    """An upstream name or state as it may be shown: valid, every control visible, cut."""
    return _cut(visible.mark(_valid(text[: MAX_NAME_CHARS * 2])), MAX_NAME_CHARS)


def shown_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Upstream text as it may be shown: scrubbed, then cut (scrubbing first, so a cut never
    leaves half a credential unrecognised), with every control visible."""
    # One character more than shown, so `_cut` knows the text went on and says so.
    shown = credential_text.shorten(_valid(text), limit + 1)
    return _cut(visible.mark(shown, keep_lines=True), limit)


class TextMemo:
    """Each distinct upstream text is scrubbed once, not once per view: a view reuses the texts
    the previous one showed. Used from one thread at a time (`status_cache` builds one view
    at a time). `pause` runs after each text scrubbed: a worker thread passes `time.sleep(0)`
    there, so the event loop waiting for the interpreter lock gets it at once, not after the
    interpreter's switch interval."""

    def __init__(self, pause: Callable[[], None] | None = None) -> None:
        self._previous: dict[tuple[str, int], str] = {}
        self._current: dict[tuple[str, int], str] = {}
        self._pause = pause

    def shown(self, text: str, limit: int = MAX_ERROR_CHARS) -> str:
        """`shown_text(text, limit)`, from the last view when it showed the same text."""
        key = (text, limit)
        done = self._current.get(key)
        if done is None:
            done = self._previous.get(key)
            if done is None:
                done = shown_text(text, limit)
                if self._pause is not None:
                    self._pause()
            self._current[key] = done
        return done

    def next_view(self) -> None:
        """Start a new view: texts the last one did not show are forgotten."""
        self._previous, self._current = self._current, {}


def _target(state: TargetState, now: float, listed: int, memo: TextMemo) -> TargetView:
    stale = state.stale(now)
    error = None
    if state.last_error_reason:
        error = ErrorView(state.last_error_reason, memo.shown(state.last_error or ""))
    broken = len(state.broken) + len(state.detail_failures)
    return TargetView(
        name=state.name,
        system=state.system,
        health=_health(state),
        stale=stale,
        data=_data(state, stale),
        last_success=state.last_success,
        last_poll=state.last_poll_at,
        last_poll_duration_seconds=round(state.last_duration, 4),
        last_error=error,
        consecutive_failures=state.consecutive_failures,
        backoff_factor=backoff.factor(state.consecutive_failures),
        retry_after_seconds=state.retry_after,
        next_poll=state.next_poll_at,
        series=state.snapshot.series if state.snapshot is not None and not stale else 0,
        entities={name_text(k): v for k, v in state.snapshot.entities.items()}
        if state.snapshot
        else {},
        broken=broken,
        # A stale target lists nothing, so nothing is left out of its list either.
        broken_omitted=0 if stale else state.broken_omitted + broken - listed,
        capability_gaps=[name for name, served in state.capabilities.items() if not served],
    )


class _Budget:
    """A target's error characters: whole texts until MAX_TARGET_ERROR_CHARS, short after."""

    def __init__(self, memo: TextMemo) -> None:
        self.memo = memo
        self.left = MAX_TARGET_ERROR_CHARS

    def error(self, text: str) -> str:
        shown = self.memo.shown(text, MAX_ERROR_CHARS if self.left > 0 else OVER_BUDGET_ERROR_CHARS)
        self.left -= len(shown)
        return shown


def _broken(state: TargetState, stale: bool, memo: TextMemo) -> list[BrokenView]:
    """The target's broken entities and failing detail calls, at most MAX_LISTED (none once its
    data is stale)."""
    if stale:
        return []
    current = state.up
    budget = _Budget(memo)
    views = []
    for entity in state.broken[:MAX_LISTED]:
        upstream_since = entity.since is not None
        views.append(
            BrokenView(
                system=state.system,
                target=state.name,
                kind=entity.kind,
                names={label: name_text(value) for label, value in entity.names},
                state=name_text(entity.state),
                error=budget.error(entity.error),
                since=entity.since if upstream_since else state.seen_since(broken_key(entity)),
                since_source="upstream" if upstream_since else "exporter",
                current=current,
            )
        )
    room = MAX_LISTED - len(views)
    failures = sorted(state.detail_failures, key=lambda f: (f.endpoint, f.entity))
    for failure in failures[: max(0, room)]:
        views.append(
            BrokenView(
                system=state.system,
                target=state.name,
                kind="detail call",
                names={"entity": name_text(failure.entity), "call": failure.endpoint},
                state=f"failing ({failure.reason.value})",
                error=budget.error(failure.message),
                since=state.seen_since(detail_key(failure)),
                since_source="exporter",
                current=current,
            )
        )
    return views


# States the alert rules page for as critical: failed, unavailable, a fatal error.
_CRITICAL_WORDS = ("FAILED", "UNAVAILABLE", "FATAL")


def severity_order(view: BrokenView) -> int:
    """Critical first (failed, unavailable, fatal, a deployment error), then warnings, then
    failing detail calls; the sort is stable, so targets keep their order within each."""
    if view.kind == "detail call":
        return 2
    state = view.state.upper()
    if any(word in state for word in _CRITICAL_WORDS) or (view.kind == "pipeline" and view.error):
        return 0
    return 1


def status_view(store: Store, now: float, memo: TextMemo | None = None) -> StatusView:
    """The status of every target, those needing attention first (`memo`: the texts the last
    view showed, scrubbed already)."""
    memo = memo or TextMemo()
    memo.next_view()
    targets = []
    broken = []
    for state in sorted(store.targets.values(), key=attention_order):
        entries = _broken(state, state.stale(now), memo)
        broken.extend(entries)
        targets.append(_target(state, now, len(entries), memo))
    broken.sort(key=severity_order)
    return StatusView(
        api_version=API_VERSION,
        exporter_version=__version__,
        generated_at=now,
        config_reload_successful=store.reload_ok,
        targets=targets,
        broken=broken,
    )
