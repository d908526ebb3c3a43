"""Apply named mutants to a copy of the code, one at a time, and check that the tests kill each.

Each mutant is a bug the suite once let through (or one worth guarding): an exact piece of a
module replaced by a wrong one, and the tests that must fail on it. The checkout is never
touched: the tracked files are copied to a temporary directory, each mutant is applied there,
its tests run from there, and the file is restored before the next one.

    .venv/bin/python scripts/mutation_check.py            # every mutant
    .venv/bin/python scripts/mutation_check.py --list     # names and tests
    .venv/bin/python scripts/mutation_check.py NAME...    # only these

Prints `killed` or `survived` per mutant and exits 1 if any survived (2 if one could not be
applied or its tests did not run). Not part of CI: it takes a few minutes; see docs/testing.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow"]


@dataclass(frozen=True)
class Mutant:
    """`before` (which must occur exactly once in `path`) replaced by `after`."""

    name: str
    path: str
    before: str
    after: str
    tests: tuple[str, ...]


MUTANTS = (
    # The regressions of issue 17: each survived the whole suite before its test was written.
    Mutant(
        "series-dropped-assigned",
        "dataflow_exporter/store.py",
        "state.dropped_total += snapshot.dropped",
        "state.dropped_total = snapshot.dropped",
        ("tests/test_store.py",),
    ),
    Mutant(
        "log-redaction-no-op",
        "dataflow_exporter/log.py",
        "return {key: _scrub(value) for key, value in event.items()}",
        "return event",
        ("tests/test_log.py",),
    ),
    Mutant(
        "upstream-error-unredacted",
        "dataflow_exporter/errors.py",
        "super().__init__(redact.redact(message))",
        "super().__init__(message)",
        ("tests/test_errors.py",),
    ),
    Mutant(
        "stale-boundary-after-success",
        "dataflow_exporter/store.py",
        "return now - self.snapshot.taken_at > self.stale_after",
        "return now - self.snapshot.taken_at >= self.stale_after",
        ("tests/test_store.py",),
    ),
    Mutant(
        "stale-boundary-never-succeeded",
        "dataflow_exporter/store.py",
        "now - configured > self.stale_after",
        "now - configured >= self.stale_after",
        ("tests/test_store.py",),
    ),
    Mutant(
        "shard-by-process-hash",
        "dataflow_exporter/config_models.py",
        'zlib.crc32(key.encode("utf-8", "surrogatepass"))',
        "abs(hash(key))",
        ("tests/guarantees/test_sharding.py",),
    ),
    Mutant(
        "redaction-off",
        "dataflow_exporter/redact.py",
        "    ordered, index = _ordered, _by_prefix\n",
        "    return text\n    ordered, index = _ordered, _by_prefix\n",
        ("tests/test_redact.py", "tests/guarantees/test_secrets.py"),
    ),
    Mutant(
        "scrubbing-off",
        "dataflow_exporter/scrub.py",
        "    text = redact.redact(text)\n",
        "    return redact.redact(text)\n",
        ("tests/guarantees/test_secrets.py",),
    ),
    Mutant(
        "peerdb-flow-codes-swapped",
        "dataflow_exporter/sources/peerdb.py",
        '        "STATUS_PAUSED",\n        "STATUS_PAUSING",\n',
        '        "STATUS_PAUSING",\n        "STATUS_PAUSED",\n',
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "feldera-statuses-swapped",
        "dataflow_exporter/sources/feldera.py",
        '        "Paused",\n        "Running",\n',
        '        "Running",\n        "Paused",\n',
        ("tests/sources/feldera/test_parse.py",),
    ),
    Mutant(
        "confluent-link-states-swapped",
        "dataflow_exporter/sources/confluent.py",
        '("ACTIVE", "FAILED", "UNAVAILABLE", "PAUSED", "UNKNOWN")',
        '("ACTIVE", "UNAVAILABLE", "FAILED", "PAUSED", "UNKNOWN")',
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "etlworks-statuses-swapped",
        "dataflow_exporter/sources/etlworks.py",
        '("queued", "running", "success", "warning", "error", "canceled")',
        '("queued", "running", "success", "error", "warning", "canceled")',
        ("tests/sources/etlworks/test_parse.py",),
    ),
    Mutant(
        "confluent-lag-not-converted",
        "dataflow_exporter/sources/confluent.py",
        'lag=number(entry.get("lag"), f"{what}.lag")',
        'lag=entry.get("lag")',
        ("tests/guarantees/test_properties.py",),
    ),
    # Core modules: counters, caps and boundaries a refactoring could break quietly.
    Mutant(
        "errors-total-assigned",
        "dataflow_exporter/store.py",
        "state.errors_total[reason.value] += 1",
        "state.errors_total[reason.value] = 1",
        ("tests/test_store.py",),
    ),
    Mutant(
        "consecutive-failures-not-counted",
        "dataflow_exporter/store.py",
        "state.consecutive_failures += 1",
        "state.consecutive_failures = 1",
        ("tests/test_store.py", "tests/test_status_api.py", "tests/test_status_page.py"),
    ),
    Mutant(
        "series-cap-keeps-arbitrary-label-sets",
        "dataflow_exporter/snapshot.py",
        "sorted(first.items())[:budget]",
        "list(first.items())[:budget]",
        ("tests/test_snapshot.py", "tests/test_exposition.py"),
    ),
    Mutant(
        "backoff-uncapped",
        "dataflow_exporter/store.py",
        "min(2 ** (failures - 1), BACKOFF_FACTOR_CAP)",
        "2 ** (failures - 1)",
        ("tests/test_daemon.py", "tests/test_scheduler.py"),
    ),
    Mutant(
        "retry-after-ignored",
        "dataflow_exporter/scheduler.py",
        "delay = max(delay, retry_after)",
        "delay = delay",
        ("tests/test_daemon.py", "tests/test_scheduler.py"),
    ),
    Mutant(
        "retry-after-uncapped",
        "dataflow_exporter/upstream.py",
        "return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)",
        "return max(seconds, 0.0)",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "basic-token-form-forgotten",
        "dataflow_exporter/redact.py",
        '    found.add(_basic_token("", value))\n',
        "",
        ("tests/test_errors.py", "tests/guarantees/test_secrets.py"),
    ),
    Mutant(
        "stale-targets-still-exported",
        "dataflow_exporter/exposition_cache.py",
        "if s.stale(now))",
        "if False)",
        ("tests/guarantees/test_staleness.py", "tests/test_daemon.py"),
    ),
    Mutant(
        "status-errors-not-scrubbed",
        "dataflow_exporter/status.py",
        "text = scrub.scrub(_valid(text[:window] if cut else text))",
        "text = _valid(text[:window] if cut else text)",
        ("tests/test_status_api.py", "tests/test_status_page.py", "tests/test_scrub.py"),
    ),
    # Caps on what a hostile upstream can make the exporter keep, show or log.
    Mutant(
        "broken-entities-uncapped",
        "dataflow_exporter/store.py",
        "state.broken = broken[:MAX_BROKEN_KEPT]",
        "state.broken = broken",
        ("tests/test_store.py",),
    ),
    Mutant(
        "status-page-rows-uncapped",
        "dataflow_exporter/status_page.py",
        "if count <= MAX_BROKEN_ROWS:",
        "if True:",
        ("tests/test_status_page.py",),
    ),
    Mutant(
        "unknown-value-logs-uncapped",
        "dataflow_exporter/scheduler.py",
        "if pair in self._unknown_logged or len(self._unknown_logged) >= MAX_UNKNOWN_LOGGED:",
        "if pair in self._unknown_logged:",
        ("tests/test_scheduler.py",),
    ),
    # Issue 23: the image smoke test's budgets, CI's dpkg lock, the served runbooks.
    Mutant(
        "image-added-budget-inclusive",
        "scripts/image_smoke.py",
        "if added > ADDED_BUDGET_MB:",
        "if added >= ADDED_BUDGET_MB:",
        ("tests/test_image_smoke.py",),
    ),
    Mutant(
        "image-total-budget-unchecked",
        "scripts/image_smoke.py",
        "if total > IMAGE_BUDGET_MB:",
        "if False:",
        ("tests/test_image_smoke.py",),
    ),
    Mutant(
        "ci-apt-no-lock-wait",
        ".ci/run",
        'apt_get() { apt-get -o DPkg::Lock::Timeout=300 "$@"; }',
        'apt_get() { apt-get "$@"; }',
        ("tests/test_image_smoke.py",),
    ),
    Mutant(
        "runbooks-repeated-anchor-reused",
        "dataflow_exporter/runbooks.py",
        'ident = f"{slug}-{count}" if count else slug',
        "ident = slug",
        ("tests/test_runbooks.py",),
    ),
    Mutant(
        "runbooks-code-block-heading",
        "dataflow_exporter/runbooks.py",
        "fenced = not fenced",
        "fenced = False",
        ("tests/test_runbooks.py",),
    ),
    Mutant(
        "runbooks-text-unescaped",
        "dataflow_exporter/runbooks.py",
        'parts.append(f"<pre>{html.escape(chr(10).join(text).strip(chr(10)))}</pre>")',
        'parts.append(f"<pre>{chr(10).join(text).strip(chr(10))}</pre>")',
        ("tests/test_runbooks.py",),
    ),
    Mutant(
        "runbooks-not-copied-to-package",
        "alerts/generate.py",
        "    shutil.copyfile(RUNBOOKS, root / PACKAGE_RUNBOOKS)\n",
        "",
        ("tests/test_runbooks.py",),
    ),
    # Issue 21 (edges): absurd upstream times, encoded path escapes in links, per-poll log
    # summaries, the lifecycle endpoint, a route missing by one entity's 404, the login limiter.
    Mutant(
        "link-encoded-escape-allowed",
        "dataflow_exporter/upstream.py",
        "if _ENCODED_ESCAPE.search(url.raw_path):",
        "if False:",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "link-encoded-escape-case-sensitive",
        "dataflow_exporter/upstream.py",
        '_ENCODED_ESCAPE = re.compile(r"%(?:2f|5c|2e)", re.IGNORECASE)',
        '_ENCODED_ESCAPE = re.compile(r"%(?:2f|5c|2e)")',
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "time-before-1970-kept",
        "dataflow_exporter/sources/base.py",
        "if EARLIEST_TIME <= seconds <= LATEST_TIME:  # False for NaN too",
        "if seconds <= LATEST_TIME:",
        ("tests/sources/test_base.py",),
    ),
    Mutant(
        "time-epoch-refused",
        "dataflow_exporter/sources/base.py",
        "if EARLIEST_TIME <= seconds <= LATEST_TIME:  # False for NaN too",
        "if EARLIEST_TIME < seconds <= LATEST_TIME:",
        ("tests/sources/test_base.py",),
    ),
    Mutant(
        "time-end-of-9999-refused",
        "dataflow_exporter/sources/base.py",
        "if EARLIEST_TIME <= seconds <= LATEST_TIME:  # False for NaN too",
        "if EARLIEST_TIME <= seconds < LATEST_TIME:",
        ("tests/sources/test_base.py",),
    ),
    Mutant(
        "time-unchecked-in-etlworks",
        "dataflow_exporter/sources/etlworks.py",
        "return unix_time(found / 1000.0 if abs(found) >= 1e11 else found, what)",
        "return found / 1000.0 if abs(found) >= 1e11 else found",
        ("tests/sources/etlworks/test_parse.py",),
    ),
    Mutant(
        "time-unchecked-in-confluent-typed-path",
        "dataflow_exporter/sources/confluent.py",
        'state_time, time_error = _state_time(item.state_time_ms, f"mirrors.data[{i}]")',
        'state_time, time_error = item.state_time_ms / 1000.0, ""',
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "time-unchecked-in-peerdb",
        "dataflow_exporter/sources/peerdb.py",
        'lambda: unix_time(created_ms / 1000.0, f"{what}.createdAt") if created_ms else None',
        "lambda: created_ms / 1000.0 if created_ms else None",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "time-unchecked-in-feldera-stats",
        "dataflow_exporter/sources/feldera.py",
        '"start_time",\n        unix_seconds,',
        '"start_time",\n        as_is,',
        ("tests/sources/feldera/test_parse.py",),
    ),
    Mutant(
        "inventory-time-fails-the-poll",
        "dataflow_exporter/sources/base.py",
        "    except TimeRangeError as exc:\n        return None, str(exc)",
        "    except OverflowError as exc:\n        return None, str(exc)",
        ("tests/sources/confluent/test_parse.py", "tests/sources/peerdb/test_parse.py"),
    ),
    Mutant(
        "feldera-list-time-fails-the-poll",
        "dataflow_exporter/sources/feldera.py",
        "    except TimeRangeError as exc:",
        "    except OverflowError as exc:",
        ("tests/sources/feldera/test_parse.py",),
    ),
    Mutant(
        "confluent-topic-time-failure-unreported",
        "dataflow_exporter/sources/confluent.py",
        "                if t.time_error\n",
        "                if False\n",
        (
            "tests/guarantees/test_red_team.py::"
            "test_an_absurd_upstream_time_fails_only_its_entity_and_the_page_still_answers",
        ),
    ),
    Mutant(
        "peerdb-mirror-time-failure-unreported",
        "dataflow_exporter/sources/peerdb.py",
        "            if m.time_error\n",
        "            if False\n",
        (
            "tests/guarantees/test_red_team.py::"
            "test_an_absurd_upstream_time_fails_only_its_entity_and_the_page_still_answers",
        ),
    ),
    Mutant(
        "feldera-pipeline-time-failure-unreported",
        "dataflow_exporter/sources/feldera.py",
        "            if p.time_error\n",
        "            if False\n",
        (
            "tests/guarantees/test_red_team.py::"
            "test_an_absurd_upstream_time_fails_only_its_entity_and_the_page_still_answers",
        ),
    ),
    Mutant(
        "page-utc-raises",
        "dataflow_exporter/status_page.py",
        "except (OverflowError, OSError, ValueError):",
        "except OSError:",
        ("tests/test_status_page.py",),
    ),
    Mutant(
        "page-age-raises",
        "dataflow_exporter/status_page.py",
        "if not math.isfinite(now - then):  # rendering never raises, whatever a time holds",
        "if False:",
        ("tests/test_status_page.py",),
    ),
    Mutant(
        "handler-error-reaches-aiohttp",
        "dataflow_exporter/request_errors.py",
        "return web.Response(status=500, text=ANSWER)",
        "raise",
        ("tests/test_request_errors.py",),
    ),
    Mutant(
        "route-missing-from-one-404",
        "dataflow_exporter/sources/base.py",
        "MISSING_ROUTE_MIN_NOT_FOUND = 2",
        "MISSING_ROUTE_MIN_NOT_FOUND = 1",
        ("tests/sources/test_base.py",),
    ),
    Mutant(
        "route-missing-from-half-the-404s",
        "dataflow_exporter/sources/base.py",
        "2 * count > self._calls[name]",
        "2 * count >= self._calls[name]",
        ("tests/sources/test_base.py",),
    ),
    Mutant(
        "route-missing-though-served",
        "dataflow_exporter/sources/base.py",
        "        if name in self._served:\n            return False\n",
        "",
        ("tests/sources/test_base.py",),
    ),
    Mutant(
        "route-missing-by-any-grpc-not-found",
        "dataflow_exporter/sources/peerdb.py",
        'and payload.get("message") == "Not Found"',
        'and payload.get("message") is not None',
        ("tests/sources/peerdb/test_source.py",),
    ),
    Mutant(
        "detail-log-sample-unbounded",
        "dataflow_exporter/scheduler.py",
        "for f in started[:LOG_SAMPLE]",
        "for f in started",
        ("tests/test_scheduler.py",),
    ),
    Mutant(
        "recovered-log-sample-unbounded",
        "dataflow_exporter/scheduler.py",
        "for e, p in cleared[:LOG_SAMPLE]",
        "for e, p in cleared",
        ("tests/test_scheduler.py",),
    ),
    Mutant(
        "reload-always-on",
        "dataflow_exporter/lifecycle.py",
        "    if not enabled:\n        app.router.add_post(PATH, _disabled)\n        return\n",
        "",
        ("tests/test_lifecycle.py",),
    ),
    Mutant(
        "reload-same-site-allowed",
        "dataflow_exporter/lifecycle.py",
        'return fetch_site.strip().lower() not in ("same-origin", "none")',
        'return fetch_site.strip().lower() == "cross-site"',
        ("tests/test_lifecycle.py",),
    ),
    Mutant(
        "reload-foreign-origin-allowed",
        "dataflow_exporter/lifecycle.py",
        "return host.lower() != request.host.lower()",
        "return False",
        ("tests/test_lifecycle.py",),
    ),
    Mutant(
        "reload-form-body-allowed",
        "dataflow_exporter/lifecycle.py",
        'return request.content_type in _SIMPLE_TYPES and "Content-Type" in request.headers',
        "return False",
        ("tests/test_lifecycle.py",),
    ),
    Mutant(
        "reload-not-coalesced",
        "dataflow_exporter/lifecycle.py",
        "        if self._queued is None:\n",
        "        if True:\n",
        ("tests/test_lifecycle.py",),
    ),
    Mutant(
        "reload-error-body-unredacted",
        "dataflow_exporter/lifecycle.py",
        "return web.Response(status=500, text=FAILED)",
        'return web.Response(status=500, text="\\n".join(errors))',
        ("tests/test_lifecycle.py",),
    ),
    Mutant(
        "login-good-not-refunded",
        "dataflow_exporter/webconfig.py",
        "        if ok:\n            self._refund(client)\n",
        "        if ok:\n",
        ("tests/test_webconfig.py",),
    ),
    Mutant(
        "login-table-capped-one-short",
        "dataflow_exporter/webconfig.py",
        "while len(self._buckets) > limits.max_clients:",
        "while len(self._buckets) >= limits.max_clients:",
        ("tests/test_webconfig.py",),
    ),
    Mutant(
        "login-table-uncapped",
        "dataflow_exporter/webconfig.py",
        "while len(self._buckets) > limits.max_clients:",
        "while False:",
        ("tests/test_webconfig.py",),
    ),
    Mutant(
        "login-72-byte-password-refused",
        "dataflow_exporter/webconfig.py",
        "if len(encoded) > MAX_PASSWORD_BYTES:",
        "if len(encoded) >= MAX_PASSWORD_BYTES:",
        ("tests/test_webconfig.py",),
    ),
    Mutant(
        "login-busy-unreachable",
        "dataflow_exporter/webconfig.py",
        "if self._pending >= self._limits.max_pending:",
        "if self._pending > self._limits.max_pending:",
        ("tests/test_webconfig.py",),
    ),
    Mutant(
        "login-busy-spends-a-failure",
        "dataflow_exporter/webconfig.py",
        "            self._refund(client)\n            return Verdict.BUSY\n",
        "            return Verdict.BUSY\n",
        ("tests/test_webconfig.py",),
    ),
    # Issue 21: the status surfaces at incident scale (bounds, scrub before cut, invisible
    # characters, one build per store change, hardening headers, fair slots).
    Mutant(
        "store-error-texts-uncut",
        "dataflow_exporter/store.py",
        "if len(entity.error) <= MAX_TEXT_KEPT:",
        "if True:",
        ("tests/test_store.py",),
    ),
    Mutant(
        "store-error-text-bound-exclusive",
        "dataflow_exporter/store.py",
        "if len(entity.error) <= MAX_TEXT_KEPT:",
        "if len(entity.error) < MAX_TEXT_KEPT:",
        ("tests/test_store.py",),
    ),
    Mutant(
        "status-cut-margin-dropped",
        "dataflow_exporter/status.py",
        'text = text[: max(0, min(limit, len(text) - CUT_MARGIN_CHARS))] + "…"',
        'text = text[:limit] + "…"',
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-scrub-window-unbounded",
        "dataflow_exporter/status.py",
        "cut = len(text) > window",
        "cut = False",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-bidi-overrides-raw",
        "dataflow_exporter/status.py",
        "\\u2028-\\u202e",
        "\\u2028-\\u202d",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-bidi-isolates-raw",
        "dataflow_exporter/status.py",
        "\\u2060-\\u2069",
        "\\u2060-\\u2068",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-c1-controls-raw",
        "dataflow_exporter/status.py",
        "\\x7f-\\x9f",
        "\\x7f-\\x9e",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-zero-width-raw",
        "dataflow_exporter/status.py",
        "\\u200b-\\u200f",
        "\\u200c-\\u200f",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-texts-scrubbed-per-view",
        "dataflow_exporter/status.py",
        "done = self._previous.get(key)",
        "done = None",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-error-budget-ignored",
        "dataflow_exporter/status.py",
        "MAX_ERROR_CHARS if self.left > 0 else SHORT_ERROR_CHARS",
        "MAX_ERROR_CHARS",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-listed-uncapped",
        "dataflow_exporter/status.py",
        "for entity in state.broken[:MAX_LISTED]:",
        "for entity in state.broken:",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-unlisted-not-counted",
        "dataflow_exporter/status.py",
        "broken_omitted=state.broken_omitted + (broken - listed if not stale else 0),",
        "broken_omitted=state.broken_omitted,",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-page-more-ignores-store-cap",
        "dataflow_exporter/status_page.py",
        "- MAX_BROKEN_ROWS) + target.broken_omitted",
        "- MAX_BROKEN_ROWS)",
        ("tests/test_status_page.py",),
    ),
    Mutant(
        "status-view-built-per-request",
        "dataflow_exporter/status_cache.py",
        "key = self._key(now)\n        if self._latest is not None and self._latest.key == key:",
        "key = self._key(now)\n        if False:",
        ("tests/test_status_cache.py", "tests/test_server.py"),
    ),
    Mutant(
        "status-page-without-csp",
        "dataflow_exporter/status_page.py",
        '    "Content-Security-Policy": CONTENT_SECURITY_POLICY,\n',
        "",
        ("tests/test_server.py",),
    ),
    Mutant(
        "status-page-framable",
        "dataflow_exporter/status_page.py",
        '    "X-Frame-Options": "DENY",\n',
        "",
        ("tests/test_server.py",),
    ),
    Mutant(
        "status-api-cacheable",
        "dataflow_exporter/status_api.py",
        'HEADERS = {"Cache-Control": "no-store", ',
        "HEADERS = {",
        ("tests/test_status_api.py",),
    ),
    Mutant(
        "status-api-next-offset-absolute",
        "dataflow_exporter/status_api.py",
        'params = {"offset": str(last - start),',
        'params = {"offset": str(last),',
        ("tests/test_status_api.py",),
    ),
    Mutant(
        "status-api-limit-zero-accepted",
        "dataflow_exporter/status_api.py",
        '"limit", DEFAULT_LIMIT, 1, MAX_LIMIT)',
        '"limit", DEFAULT_LIMIT, 0, MAX_LIMIT)',
        ("tests/test_status_api.py",),
    ),
    Mutant(
        "status-api-limit-bounds-exclusive",
        "dataflow_exporter/status_api.py",
        "least <= int(text) <= most",
        "least < int(text) < most",
        ("tests/test_status_api.py",),
    ),
    Mutant(
        "status-page-bypasses-slots",
        "dataflow_exporter/server.py",
        "return await _stream(request, (bodies.page,), headers)",
        "return await _send(request, (bodies.page,), headers, request.app[LIMITS_KEY])",
        ("tests/test_server.py",),
    ),
    Mutant(
        "slots-no-per-client-share",
        "dataflow_exporter/server.py",
        "_Client(asyncio.Semaphore(self.per_client))",
        "_Client(asyncio.Semaphore(self.total))",
        ("tests/test_server.py",),
    ),
    Mutant(
        "slots-default-share-is-all",
        "dataflow_exporter/server.py",
        "return max(1, self.max_concurrent_scrapes // 2)",
        "return self.max_concurrent_scrapes",
        ("tests/test_server.py",),
    ),
    Mutant(
        "slots-share-beyond-total",
        "dataflow_exporter/server.py",
        "min(self.max_scrapes_per_client, self.max_concurrent_scrapes)",
        "self.max_scrapes_per_client",
        ("tests/test_server.py",),
    ),
    # Issue 24: PeerDB's per-mirror calls skipped only when their answer cannot have changed.
    Mutant(
        "peerdb-kept-rows-age-inclusive",
        "dataflow_exporter/sources/peerdb.py",
        "before.rows is not None and now - before.rows_at < REUSE_SECONDS",
        "before.rows is not None and now - before.rows_at <= REUSE_SECONDS",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-kept-batch-age-inclusive",
        "dataflow_exporter/sources/peerdb.py",
        "now - before.batch_at < REUSE_SECONDS",
        "now - before.batch_at <= REUSE_SECONDS",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-rows-kept-before-they-held",
        "dataflow_exporter/sources/peerdb.py",
        "            if steady:\n                after.rows, after.rows_at = rows, now",
        "            if True:\n                after.rows, after.rows_at = rows, now",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-batches-answer-not-compared",
        "dataflow_exporter/sources/peerdb.py",
        "and after.batches == before.batches",
        "and True",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-failed-batches-counts-as-held",
        "dataflow_exporter/sources/peerdb.py",
        "and (after.batches is not None or not batched)",
        "",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-rows-follow-batches-in-any-state",
        "dataflow_exporter/sources/peerdb.py",
        'follows = stopped or (status == "STATUS_RUNNING" and batched)',
        "follows = stopped or batched",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-failed-counts-as-stopped",
        "dataflow_exporter/sources/peerdb.py",
        '{"STATUS_PAUSED", "STATUS_COMPLETED", "STATUS_TERMINATED"}',
        '{"STATUS_PAUSED", "STATUS_COMPLETED", "STATUS_TERMINATED", "STATUS_FAILED"}',
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-batches-digest-of-raw-bytes",
        "dataflow_exporter/sources/peerdb.py",
        "content = orjson.dumps(orjson.loads(answer.body), option=orjson.OPT_SORT_KEYS)",
        "content = answer.body",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-completed-not-stopped",
        "dataflow_exporter/sources/peerdb.py",
        '{"STATUS_PAUSED", "STATUS_COMPLETED", "STATUS_TERMINATED"}',
        '{"STATUS_PAUSED", "STATUS_TERMINATED"}',
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    # Issue 24: blocks compressed once per poll and lined up into one gzip member per scrape;
    # the reuse of the last poll's rendering, which the per-poll pieces rely on.
    Mutant(
        "snapshot-recompresses-equal-blocks",
        "dataflow_exporter/snapshot.py",
        "return old is new or (old is not None and len(old) == len(new) and old == new)",
        "return old is new",
        ("tests/test_snapshot.py",),
    ),
    Mutant(
        "snapshot-keeps-a-stale-piece",
        "dataflow_exporter/snapshot.py",
        "if piece is None or not _same(old_blocks.get(name), block):",
        "if piece is None:",
        ("tests/test_snapshot.py",),
    ),
    Mutant(
        "gzip-size-not-wrapped",
        "dataflow_exporter/gzip_parts.py",
        "size & 0xFFFFFFFF",
        "size",
        ("tests/test_gzip_parts.py",),
    ),
    Mutant(
        "gzip-empty-piece-kept",
        "dataflow_exporter/gzip_parts.py",
        "        if not piece.size:\n            continue",
        "        if False:\n            continue",
        ("tests/test_gzip_parts.py",),
    ),
    Mutant(
        "crc-combine-swapped",
        "dataflow_exporter/gzip_parts.py",
        "return _multiply(shift2, crc1) ^ crc2",
        "return _multiply(shift2, crc2) ^ crc1",
        ("tests/test_gzip_parts.py",),
    ),
    Mutant(
        "cache-headers-shared-by-formats",
        "dataflow_exporter/exposition_cache.py",
        "head = self._headers.get((spec, openmetrics))",
        "head = self._headers.get((spec, False))",
        ("tests/test_exposition_cache.py",),
    ),
    Mutant(
        "reuse-splice-drops-a-newline",
        "dataflow_exporter/exposition.py",
        "run = start + length - 1",
        "run = start + length",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "reuse-ignores-changed-label-sets",
        "dataflow_exporter/exposition.py",
        "        if labels != key:\n            return None",
        "        if False:\n            return None",
        ("tests/test_exposition.py",),
    ),
)


def _copy_tree(dest: Path) -> None:
    """The tracked and untracked-but-not-ignored files, as `git` sees the checkout now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = ROOT / raw.decode()
        if source.is_file():
            target = dest / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _run(tests: tuple[str, ...], where: Path) -> tuple[int, float, str]:
    started = time.monotonic()
    # The copy comes first on the path, ahead of the editable install of the checkout.
    env = {**os.environ, "PYTHONPATH": str(where), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, *PYTEST, *tests],
        check=False,
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    tail = (done.stdout.strip().splitlines() or [""])[-1]
    return done.returncode, time.monotonic() - started, tail


def _imports_the_copy(where: Path) -> bool:
    code = "import dataflow_exporter, sys; print(dataflow_exporter.__file__)"
    env = {**os.environ, "PYTHONPATH": str(where)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().startswith(str(where))


def main(argv: list[str] | None = None) -> int:
    """Run the chosen mutants; 0 when every one was killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    known = {m.name: m for m in MUTANTS}
    if unknown := [n for n in args.names if n not in known]:
        parser.error(f"unknown mutant(s): {', '.join(unknown)}")
    chosen = [known[n] for n in args.names] if args.names else list(MUTANTS)
    if args.list:
        for m in chosen:
            print(f"{m.name:40} {m.path}  [{' '.join(m.tests)}]")
        return 0

    with tempfile.TemporaryDirectory(prefix="mutation-check-") as tmp:
        where = Path(tmp)
        _copy_tree(where)
        if not _imports_the_copy(where):
            print("the copy's package is not the one imported; aborting", file=sys.stderr)
            return 2
        # Unmutated, every selected test must pass, or a "kill" would mean nothing.
        selected = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        code, seconds, tail = _run(selected, where)
        print(f"{'baseline':40} {'passes' if code == 0 else 'FAILS':9} {seconds:6.1f}s  {tail}")
        if code != 0:
            return 2
        survived = broken = 0
        for m in chosen:
            path = where / m.path
            original = path.read_text(encoding="utf-8")
            if original.count(m.before) != 1:
                print(f"{m.name:40} {'NOT FOUND':9} (the code changed: update the mutant)")
                broken += 1
                continue
            path.write_text(original.replace(m.before, m.after), encoding="utf-8")
            try:
                code, seconds, tail = _run(m.tests, where)
            finally:
                path.write_text(original, encoding="utf-8")
            # pytest: 1 = a test failed (killed); 0 = all passed (survived); else it did not run.
            verdict = {0: "survived", 1: "killed"}.get(code, f"ERROR {code}")
            survived += code == 0
            broken += code not in (0, 1)
            print(f"{m.name:40} {verdict:9} {seconds:6.1f}s  {tail}")
    print(
        f"{len(chosen)} mutants: {len(chosen) - survived - broken} killed, {survived} survived"
        + (f", {broken} not run" if broken else "")
    )
    if broken:
        return 2
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
