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
        "return {key: _scrub(value) for key, value in event.items() if value is not None}",
        "return event",
        ("tests/test_log.py",),
    ),
    Mutant(
        "upstream-error-unredacted",
        "dataflow_exporter/errors.py",
        "super().__init__(known_secrets.redact(message))",
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
        "dataflow_exporter/known_secrets.py",
        "    return _redact(text, len(text))\n",
        "    return text\n",
        ("tests/test_known_secrets.py", "tests/guarantees/test_secrets.py"),
    ),
    Mutant(
        "scrubbing-off",
        "dataflow_exporter/credential_text.py",
        "    text = known_secrets.redact(text)\n",
        "    return known_secrets.redact(text)\n",
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
        "dataflow_exporter/backoff.py",
        "min(2 ** (failures - 1), FACTOR_CAP)",
        "2 ** (failures - 1)",
        ("tests/test_backoff.py", "tests/test_daemon.py", "tests/test_scheduler.py"),
    ),
    Mutant(
        "retry-after-ignored",
        "dataflow_exporter/backoff.py",
        "seconds = max(seconds, retry_after)",
        "seconds = seconds",
        ("tests/test_backoff.py", "tests/test_daemon.py", "tests/test_scheduler.py"),
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
        "dataflow_exporter/known_secrets.py",
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
        "shown = credential_text.shorten(_valid(text), limit + 1)",
        "shown = _valid(text)[: limit + 1]",
        (
            "tests/test_status_api.py",
            "tests/test_status_page.py",
            "tests/test_credential_text.py",
        ),
    ),
    # Caps on what a hostile upstream can make the exporter keep, show or log.
    Mutant(
        "broken-entities-uncapped",
        "dataflow_exporter/store.py",
        "state.broken = tuple(map(_kept_entity, broken[:MAX_BROKEN_KEPT]))",
        "state.broken = tuple(map(_kept_entity, broken))",
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
        "time-unchecked-in-peerdb",
        "dataflow_exporter/sources/peerdb.py",
        'lambda: unix_time(created_ms / 1000.0, f"{what}.createdAt") if created_ms else None',
        "lambda: created_ms / 1000.0 if created_ms else None",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "time-unchecked-in-feldera-stats",
        "dataflow_exporter/sources/feldera.py",
        "            unix_seconds,\n",
        "            msecs,\n",
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
        "            if t.time_error\n",
        "            if False\n",
        (
            "tests/guarantees/test_red_team.py::test_an_absurd_upstream_time_fails_only_its_entity_and_the_page_still_answers",
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
        "status-cut-before-scrub",
        "dataflow_exporter/status.py",
        "shown = credential_text.shorten(_valid(text), limit + 1)",
        "shown = credential_text.scrub(_valid(text)[: limit + 1])",
        ("tests/test_status.py",),
    ),
    Mutant(
        "status-scrub-unbounded",
        "dataflow_exporter/status.py",
        "shown = credential_text.shorten(_valid(text), limit + 1)",
        "shown = credential_text.scrub(_valid(text))[: limit + 1]",
        ("tests/test_status.py",),
    ),
    Mutant(
        "visible-format-characters-raw",
        "dataflow_exporter/visible.py",
        '_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})',
        '_INVISIBLE_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})',
        ("tests/test_status.py", "tests/test_visible.py"),
    ),
    Mutant(
        "visible-controls-raw",
        "dataflow_exporter/visible.py",
        '_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})',
        '_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp"})',
        ("tests/test_status.py", "tests/test_visible.py"),
    ),
    Mutant(
        "visible-names-keep-lines",
        "dataflow_exporter/visible.py",
        "pattern = _CANDIDATE_KEEPING_LINES if keep_lines else _CANDIDATE",
        "pattern = _CANDIDATE_KEEPING_LINES",
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
        "MAX_ERROR_CHARS if self.left > 0 else OVER_BUDGET_ERROR_CHARS",
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
        "broken_omitted=0 if stale else state.broken_omitted + broken - listed,",
        "broken_omitted=0 if stale else state.broken_omitted,",
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
        'params = {"offset": str(last),',
        'params = {"offset": str(chosen[last]),',
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
        "return await _stream(request, lambda: (bodies.page,), headers)",
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
    # Issue 21: scrub before every cut, credential shapes, the redaction automaton, escapes.
    Mutant(
        "scrub-bare-bearer-unmasked",
        "dataflow_exporter/credential_text.py",
        '    text = _BEARER.sub(lambda m: m["head"] + MASK, text)\n',
        "",
        ("tests/test_credential_text.py",),
    ),
    Mutant(
        "scrub-names-case-sensitive",
        "dataflow_exporter/credential_text.py",
        "views = [[word.lower() for word in view]",
        "views = [[word for word in view]",
        ("tests/test_credential_text.py",),
    ),
    Mutant(
        "scrub-cut-before-scrub",
        "dataflow_exporter/credential_text.py",
        "return scrub(known_secrets.head(text, read_bound(limit)))[:limit]",
        "return scrub(text[:limit])",
        (
            "tests/test_credential_text.py",
            "tests/guarantees/test_secrets.py",
        ),
    ),
    Mutant(
        "upstream-error-cut-before-scrub",
        "dataflow_exporter/upstream.py",
        "return credential_text.shorten(value, _MESSAGE_LIMIT)",
        "return credential_text.scrub(value[:_MESSAGE_LIMIT])",
        ("tests/guarantees/test_secrets.py",),
    ),
    Mutant(
        "schema-value-cut-before-scrub",
        "dataflow_exporter/sources/base.py",
        "return repr(credential_text.shorten(text, 40))",
        "return repr(text[:40])",
        ("tests/sources/test_base.py",),
    ),
    Mutant(
        "peerdb-error-cut-before-scrub",
        "dataflow_exporter/sources/peerdb.py",
        'message = credential_text.shorten(answer.error_message or "request failed", 200)',
        'message = (answer.error_message or "request failed")[:200]',
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "head-keeps-the-cut-word",
        "dataflow_exporter/known_secrets.py",
        "return _whole_words(_redact(text, bound))",
        "return _redact(text, bound)",
        ("tests/test_known_secrets.py", "tests/test_credential_text.py"),
    ),
    Mutant(
        "redact-overlap-keeps-the-longer-ones-ends",
        "dataflow_exporter/known_secrets.py",
        "end = max(end, last)",
        "end = last",
        ("tests/test_known_secrets.py",),
    ),
    Mutant(
        "redact-shortest-text-boundary",
        "dataflow_exporter/known_secrets.py",
        "if len(text) < _MIN_LENGTH:",
        "if len(text) <= _MIN_LENGTH:",
        ("tests/test_known_secrets.py",),
    ),
    Mutant(
        "redact-window-without-overlap",
        "dataflow_exporter/known_secrets.py",
        "window = text[position : stop + longest - 1]",
        "window = text[position:stop]",
        ("tests/test_known_secrets.py",),
    ),
    Mutant(
        "rotated-secret-never-forgotten",
        "dataflow_exporter/auth.py",
        "while self._retired and now - self._retired[0][0] >= ROTATED_SECRET_GRACE_SECONDS:",
        "while False:",
        ("tests/test_auth.py",),
    ),
    Mutant(
        "rotated-secret-grace-boundary",
        "dataflow_exporter/auth.py",
        "now - self._retired[0][0] >= ROTATED_SECRET_GRACE_SECONDS",
        "now - self._retired[0][0] > ROTATED_SECRET_GRACE_SECONDS",
        ("tests/test_auth.py",),
    ),
    Mutant(
        "log-controls-written-raw",
        "dataflow_exporter/log.py",
        "            EscapeProcessor(keep_newlines),\n",
        "",
        ("tests/test_log.py",),
    ),
    Mutant(
        "log-console-newlines-raw",
        "dataflow_exporter/log.py",
        'keep_newlines = frozenset({"exception"})',
        'keep_newlines = frozenset({"*"})',
        ("tests/test_log.py",),
    ),
    # Issue 23: the status page's alert settings, operator-facing config errors and fixes.
    Mutant(
        "page-ignores-global-alerts",
        "dataflow_exporter/sources/base.py",
        "self.alerts = thresholds.settings(config.alerts)",
        "self.alerts = thresholds.defaults()",
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "etlworks-page-ignores-tuned-threshold",
        "dataflow_exporter/sources/etlworks.py",
        "broken=broken_entities(readings, now, self.alerts),",
        "broken=broken_entities(readings, now),",
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "status-selection-searched-not-whole",
        "dataflow_exporter/thresholds.py",
        "return pattern.fullmatch(state) is not None",
        "return pattern.search(state) is not None",
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "peerdb-batch-age-boundary",
        "dataflow_exporter/sources/peerdb.py",
        "now - end > limits.batch_age:",
        "now - end >= limits.batch_age:",
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "peerdb-slot-lag-boundary",
        "dataflow_exporter/sources/peerdb.py",
        "lag is not None and lag > limits.lag",
        "lag is not None and lag >= limits.lag",
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "peerdb-unknown-ignores-stuck-selection",
        "dataflow_exporter/sources/peerdb.py",
        'return state == "STATUS_UNKNOWN" and alerts.selects("PeerDBMirrorStuck", state)',
        'return state == "STATUS_UNKNOWN"',
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "confluent-pending-boundary",
        "dataflow_exporter/sources/confluent.py",
        "if since is None or now - since <= pending_for:",
        "if since is None or now - since < pending_for:",
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "confluent-lag-boundary",
        "dataflow_exporter/sources/confluent.py",
        'elif state == "ACTIVE" and lag > lag_limit:',
        'elif state == "ACTIVE" and lag >= lag_limit:',
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "etlworks-running-boundary",
        "dataflow_exporter/sources/etlworks.py",
        "now - e.started <= running_limit",
        "now - e.started < running_limit",
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "etlworks-exclusion-ignored",
        "dataflow_exporter/sources/etlworks.py",
        'if alerts.selects("EtlworksFlowRunningTooLong", name, "exclude_flows"):',
        "if False:",
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "feldera-paused-selection-ignored",
        "dataflow_exporter/sources/feldera.py",
        'or alerts.selects("FelderaPipelinePaused", p.status)',
        'or p.status == "Paused"',
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "global-alerts-unchecked-key",
        "dataflow_exporter/thresholds.py",
        "if key not in known:",
        "if False:",
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "config-error-without-target-name",
        "dataflow_exporter/config.py",
        'if depth == 1 and parts[0] == "targets" and names and part in names:',
        "if False:",
        ("tests/test_config.py",),
    ),
    Mutant(
        "unknown-key-without-suggestion",
        "dataflow_exporter/config_messages.py",
        'hint = f" (did you mean {close[0]}?)" if close else ""',
        'hint = ""',
        ("tests/test_config.py",),
    ),
    Mutant(
        "unclosed-env-reference-accepted",
        "dataflow_exporter/config.py",
        'if match.group("bad"):',
        "if False:",
        ("tests/test_config.py",),
    ),
    Mutant(
        "url-api-path-accepted",
        "dataflow_exporter/config_models.py",
        "if path.endswith(api):",
        "if path == api:",
        ("tests/test_config.py",),
    ),
    Mutant(
        "url-port-zero-accepted",
        "dataflow_exporter/config_models.py",
        "    if port == 0:\n",
        "    if False:\n",
        ("tests/test_config.py",),
    ),
    Mutant(
        "instance-label-not-reserved",
        "dataflow_exporter/config_models.py",
        'RESERVED_LABELS = frozenset({"target", "system", "job", "instance"})',
        'RESERVED_LABELS = frozenset({"target", "system", "job"})',
        ("tests/test_config.py",),
    ),
    Mutant(
        "special-secret-file-is-a-mistake",
        "dataflow_exporter/config_messages.py",
        'return f"{path}: not a regular file", True',
        'return f"{path}: not a regular file", False',
        ("tests/test_cli.py",),
    ),
    Mutant(
        "check-ignores-later-files",
        "dataflow_exporter/cli.py",
        "paths = ([args.config_file] if args.config_file else []) + list(args.config)",
        "paths = (([args.config_file] if args.config_file else []) + list(args.config))[:1]",
        ("tests/test_cli.py",),
    ),
    Mutant(
        "check-exits-with-the-last-status",
        "dataflow_exporter/cli.py",
        "return next((s for s in (EXIT_INVALID, EXIT_ENVIRONMENT) if s in statuses), EXIT_OK)",
        "return statuses[-1]",
        ("tests/test_cli.py",),
    ),
    Mutant(
        "stale-target-series-count-kept",
        "dataflow_exporter/self_metrics.py",
        "series = 0 if is_stale or state.snapshot is None else state.snapshot.series",
        "series = 0 if state.snapshot is None else state.snapshot.series",
        ("tests/test_self_metrics.py", "tests/test_exposition_cache.py"),
    ),
    Mutant(
        "reload-logs-config-errors-whole",
        "dataflow_exporter/exporter.py",
        'log.error("config_reload_failed", errors=config_mod.log_form(errors))',
        'log.error("config_reload_failed", errors=errors)',
        ("tests/test_exporter.py",),
    ),
    Mutant(
        "stop-logged-before-start",
        "dataflow_exporter/exporter.py",
        "        scheduler = await self._open()\n        assert self.config is not None\n",
        "        self._started = True\n        scheduler = await self._open()\n"
        "        assert self.config is not None\n",
        ("tests/test_exporter.py",),
    ),
    Mutant(
        "log-keeps-keys-without-value",
        "dataflow_exporter/log.py",
        "for key, value in event.items() if value is not None}",
        "for key, value in event.items()}",
        ("tests/test_log.py",),
    ),
    Mutant(
        "broken-now-in-target-order",
        "dataflow_exporter/status.py",
        "broken.sort(key=severity_order)",
        "broken.sort(key=lambda view: 0)",
        ("tests/test_status.py",),
    ),
    Mutant(
        "deployment-error-not-critical",
        "dataflow_exporter/status.py",
        'or (view.kind == "pipeline" and view.error)',
        "",
        ("tests/test_status.py",),
    ),
    Mutant(
        "simulator-logs-oldest-first",
        "dataflow_exporter/simulator/peerdb.py",
        "in reversed(list(enumerate(rows)))",
        "in enumerate(rows)",
        ("tests/simulator/test_runbook_routes.py",),
    ),
    Mutant(
        "simulator-lacks-single-link",
        "dataflow_exporter/simulator/confluent.py",
        'router.add_get(API + "/{cluster_id}/links/{link}", self.get_link)',
        "pass",
        ("tests/simulator/test_runbook_routes.py",),
    ),
    # Issue 23: what the property runs moved out of the quick loop proved, the quick loop
    # still proves by example.
    Mutant(
        "renderer-keeps-a-changed-value",
        "dataflow_exporter/exposition.py",
        "if value == old.values[i]:",
        "if True:",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "splice-keeps-a-changed-value",
        "dataflow_exporter/exposition.py",
        "itertools.count(), map(operator.ne, values, previous.values)",
        "itertools.count(), map(operator.is_, values, previous.values)",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "moved-lengths-drop-the-newline",
        "dataflow_exporter/exposition.py",
        'array("I", map(_NEXT, map(operator.add, cuts, map(len, texts))))\n'
        "        return _Rendered(keys",
        'array("I", map(operator.add, cuts, map(len, texts)))\n        return _Rendered(keys',
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "moved-repeats-rendered-twice",
        "dataflow_exporter/exposition.py",
        "        if len(set(heads)) != len(heads):\n            return None\n",
        "",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "moved-keeps-a-changed-value",
        "dataflow_exporter/exposition.py",
        "            texts[i] = text\n",
        "            pass\n",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "moved-new-head-keeps-its-stand-ins-cut",
        "dataflow_exporter/exposition.py",
        "heads[i], cuts[i], texts[i] = head, len(head), text",
        "heads[i], texts[i] = head, text",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "moved-takes-any-number-of-label-values",
        "dataflow_exporter/exposition.py",
        "                labels = keys[i]\n                if len(labels) != len(spec.labels):",
        "                labels = keys[i]\n                if False:",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "upstream-direct-path-takes-dot-segments",
        "dataflow_exporter/upstream.py",
        """(?:/(?!\\.\\.?(?:/|$))[""",
        """(?:/[""",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "upstream-direct-path-takes-escapes",
        "dataflow_exporter/upstream.py",
        """!$&'()*+,;=:@]+)+/?""",
        """!$&'()*+,;=:@%]+)+/?""",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "add-many-keeps-absent-values",
        "dataflow_exporter/sources/fields.py",
        "            if None in column:\n",
        "            if False:\n",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "one-hot-many-marks-the-first-state",
        "dataflow_exporter/families.py",
        "            values[first + position] = 1.0\n",
        "            values[first] = 1.0\n",
        ("tests/test_families.py",),
    ),
    Mutant(
        "one-hot-many-takes-unknown-as-the-first",
        "dataflow_exporter/families.py",
        "positions = [index[current] for current in currents]",
        "positions = [index.get(current, 0) for current in currents]",
        ("tests/test_families.py",),
    ),
    Mutant(
        "label-memo-never-reuses",
        "dataflow_exporter/families.py",
        "blocks = [get(key) or add(key, make(key)) for key in keys]",
        "blocks = [make(key) for key in keys]",
        ("tests/test_families.py",),
    ),
    Mutant(
        "label-memo-keeps-entities-gone",
        "dataflow_exporter/families.py",
        "        if len(kept) != len(now):\n",
        "        if False:\n",
        ("tests/test_families.py",),
    ),
    Mutant(
        "confluent-partition-labels-by-topic-only",
        "dataflow_exporter/sources/confluent.py",
        "(label, tuple(map(_PARTITION, t.lags))) for label, t in zip(labels, topics, strict=True)",
        "(label, ()) for label in labels",
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "etlworks-found-flag-inverted",
        "dataflow_exporter/sources/etlworks.py",
        "[1.0 if reading.found else 0.0 for reading in readings]",
        "[0.0 if reading.found else 1.0 for reading in readings]",
        ("tests/sources/etlworks/test_parse.py", "tests/sources/etlworks/test_source.py"),
    ),
    Mutant(
        "etlworks-totals-under-the-wrong-status",
        "dataflow_exporter/sources/etlworks.py",
        "return tuple([(*labels, final) for final in FINISHED])",
        "return tuple([(*labels, final) for final in reversed(FINISHED)])",
        ("tests/sources/etlworks/test_parse.py", "tests/sources/etlworks/test_source.py"),
    ),
    Mutant(
        "etlworks-duration-of-the-wrong-flow",
        "dataflow_exporter/sources/etlworks.py",
        "duration.keys = list(itertools.compress(labels, timed))",
        "duration.keys = list(itertools.compress(labels[::-1], timed[::-1]))",
        ("tests/sources/etlworks/test_parse.py", "tests/sources/etlworks/test_source.py"),
    ),
    Mutant(
        "rfc3339-fast-path-takes-local-times",
        "dataflow_exporter/sources/base.py",
        "if parsed.tzinfo is None or not EARLIEST_TIME <= seconds <= LATEST_TIME:",
        "if not EARLIEST_TIME <= seconds <= LATEST_TIME:",
        (
            "tests/sources/test_fields.py",
            "tests/sources/test_base.py",
            "tests/sources/peerdb/test_parse.py",
            "tests/sources/feldera",
        ),
    ),
    Mutant(
        "rfc3339-fast-path-takes-any-year",
        "dataflow_exporter/sources/base.py",
        "if parsed.tzinfo is None or not EARLIEST_TIME <= seconds <= LATEST_TIME:",
        "if parsed.tzinfo is None:",
        (
            "tests/sources/test_fields.py",
            "tests/sources/test_base.py",
            "tests/sources/peerdb/test_parse.py",
            "tests/sources/feldera",
        ),
    ),
    Mutant(
        "moved-empty-family-renders-a-newline",
        "dataflow_exporter/exposition.py",
        'b"\\n".join(map(operator.add, heads, texts)) + b"\\n" if heads else b""',
        'b"\\n".join(map(operator.add, heads, texts)) + b"\\n"',
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "metrics-one-row-read-from-nothing",
        "dataflow_exporter/sources/fields.py",
        "return Values(self, (readers[0](container, where),))",
        "return Values(self, (None,))",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "reuse-sees-no-change",
        "dataflow_exporter/exposition.py",
        "changes = sum(map(operator.ne, values, previous.values))",
        "changes = 0",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "template-percent-unescaped",
        "dataflow_exporter/exposition.py",
        'heads = (head.replace(b"%", b"%%") for head in _heads(rendered))',
        "heads = _heads(rendered)",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "template-lengths-drop-the-newline",
        "dataflow_exporter/exposition.py",
        'array("I", map(_NEXT, map(operator.add, cuts, map(len, texts))))\n'
        "        return _Rendered(previous",
        'array("I", map(operator.add, cuts, map(len, texts)))\n        return _Rendered(previous',
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-values-takes-ints-as-floats",
        "dataflow_exporter/exposition.py",
        'written.count(b".") == len(texts)',
        "True",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-values-takes-quoted-numbers",
        "dataflow_exporter/exposition.py",
        "and b'\"' not in written",
        "and True",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-values-takes-exponents",
        "dataflow_exporter/exposition.py",
        'and b"e" not in written',
        "and True",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-values-takes-tiny-values",
        "dataflow_exporter/exposition.py",
        'and b"0.0000" not in written',
        "and True",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-values-takes-negative-zero",
        "dataflow_exporter/exposition.py",
        'and b"-0.0" not in written',
        "and True",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-values-takes-a-million",
        "dataflow_exporter/exposition.py",
        "and max(values) < 1e6",
        "and max(values) <= 1e6",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-values-negative-zero-in-loop",
        "dataflow_exporter/exposition.py",
        '(value != 0.0 or texts[i] == b"-0.0")',
        "(value != 0.0)",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-values-exponent-keeps-zeros",
        "dataflow_exporter/exposition.py",
        'digits = (text[:dot] + text[dot + 1 :]).rstrip(b"0")',
        "digits = text[:dot] + text[dot + 1 :]",
        ("tests/test_exposition.py",),
    ),
    # Issue 22 (Feldera, Confluent): storage, checkpoints and link tasks; every state each
    # source calls broken (a PAUSED link, an Unhealthy connector without a fatal error, a 404
    # Etlworks flow), each of which a one-line change could drop unnoticed.
    Mutant(
        "feldera-unhealthy-needs-fatal-error",
        "dataflow_exporter/sources/feldera.py",
        "if not (c.fatal_error or unhealthy):",
        "if not c.fatal_error:",
        ("tests/sources/feldera/test_broken.py",),
    ),
    Mutant(
        "feldera-paused-pipeline-not-broken",
        "dataflow_exporter/sources/feldera.py",
        '            or alerts.selects("FelderaPipelinePaused", p.status)\n',
        "",
        (
            "tests/sources/feldera/test_broken.py",
            "tests/test_thresholds.py",
        ),
    ),
    Mutant(
        "feldera-unavailable-pipeline-not-broken",
        "dataflow_exporter/sources/feldera.py",
        'BROKEN_PIPELINE_STATES = frozenset({"Unavailable", "Failed"})',
        'BROKEN_PIPELINE_STATES = frozenset({"Failed"})',
        ("tests/sources/feldera/test_broken.py",),
    ),
    Mutant(
        "feldera-failed-program-not-broken",
        "dataflow_exporter/sources/feldera.py",
        'if alerts.selects("FelderaProgramFailed", p.program):',
        "if False:",
        (
            "tests/sources/feldera/test_broken.py",
            "tests/test_thresholds.py",
        ),
    ),
    Mutant(
        "feldera-checkpoint-delay-boundary",
        "dataflow_exporter/sources/feldera.py",
        'elif now - since > alerts.number("FelderaCheckpointDelayed", "threshold_seconds"):',
        'elif now - since >= alerts.number("FelderaCheckpointDelayed", "threshold_seconds"):',
        ("tests/sources/feldera/test_checkpoints.py",),
    ),
    Mutant(
        "feldera-storage-required-not-broken",
        "dataflow_exporter/sources/feldera.py",
        'or alerts.selects("FelderaCheckpointPermanentlyFailing", reason, "reasons")',
        'or reason == "UnsupportedInputEndpoint"',
        (
            "tests/sources/feldera/test_checkpoints.py",
            "tests/test_thresholds.py",
        ),
    ),
    Mutant(
        "feldera-unsupported-endpoint-not-broken",
        "dataflow_exporter/sources/feldera.py",
        'or alerts.selects("FelderaCheckpointPermanentlyFailing", reason, "reasons")',
        'or reason == "StorageRequired"',
        (
            "tests/sources/feldera/test_checkpoints.py",
            "tests/test_thresholds.py",
        ),
    ),
    Mutant(
        "feldera-enterprise-feature-broken",
        "dataflow_exporter/sources/feldera.py",
        'or alerts.selects("FelderaCheckpointPermanentlyFailing", reason, "reasons")',
        "or True",
        (
            "tests/sources/feldera/test_checkpoints.py",
            "tests/test_thresholds.py",
        ),
    ),
    Mutant(
        "feldera-unknown-checkpoint-error-not-broken",
        "dataflow_exporter/sources/feldera.py",
        "        if isinstance(reason, Unknown)\n        or alerts",
        "        if False\n        or alerts",
        ("tests/sources/feldera/test_checkpoints.py",),
    ),
    Mutant(
        "feldera-null-permanent-errors-absent",
        "dataflow_exporter/sources/feldera.py",
        "if status.permanent_checkpoint_errors is not UNSET:",
        "if status.permanent_checkpoint_errors:",
        ("tests/sources/feldera/test_checkpoints.py",),
    ),
    Mutant(
        "feldera-checkpoint-start-as-delay",
        "dataflow_exporter/sources/feldera.py",
        '            if checkpoint.activity == "in_progress":',
        '            if checkpoint.activity == "in-progress":',
        ("tests/sources/feldera/test_checkpoints.py",),
    ),
    Mutant(
        "confluent-paused-link-broken",
        "dataflow_exporter/sources/confluent.py",
        'link.state is not None and alerts.selects("ConfluentLinkUnavailable", link.state)',
        'link.state is not None and link.state != "ACTIVE"',
        ("tests/test_thresholds.py",),
    ),
    Mutant(
        "confluent-link-paused-topic-not-broken",
        "dataflow_exporter/sources/confluent.py",
        'IMMEDIATE_TOPIC_ALERTS = ("ConfluentMirrorTopicFailed", "ConfluentMirrorTopicPaused")',
        'IMMEDIATE_TOPIC_ALERTS = ("ConfluentMirrorTopicFailed",)',
        (
            "tests/sources/confluent/test_link_tasks.py",
            "tests/test_thresholds.py",
        ),
    ),
    Mutant(
        "confluent-task-in-error-not-broken",
        "dataflow_exporter/sources/confluent.py",
        '"ConfluentLinkTaskInError", task.state',
        '"ConfluentLinkTaskInError", "ACTIVE"',
        (
            "tests/sources/confluent/test_link_tasks.py",
            "tests/test_thresholds.py",
        ),
    ),
    Mutant(
        "confluent-unknown-task-state-not-broken",
        "dataflow_exporter/sources/confluent.py",
        "if isinstance(task.state, Unknown) or alerts.selects(",
        "if alerts.selects(",
        ("tests/sources/confluent/test_link_tasks.py",),
    ),
    Mutant(
        "confluent-tasks-asked-every-poll",
        "dataflow_exporter/sources/confluent.py",
        "            self.capabilities.lacks(TASKS_CAPABILITY)",
        "            pass",
        ("tests/sources/confluent/test_link_tasks.py",),
    ),
    Mutant(
        "etlworks-404-flow-not-broken",
        "dataflow_exporter/sources/etlworks.py",
        'broken.append(BrokenEntity("flow", names, "not found"))',
        "pass",
        ("tests/sources/etlworks/test_broken.py",),
    ),
    Mutant(
        "confluent-deleted-link-is-a-failure",
        "dataflow_exporter/sources/confluent.py",
        '"link_tasks", call, gone_if=not_found)',
        '"link_tasks", call)',
        ("tests/sources/confluent/test_link_tasks.py",),
    ),
    # Issue 22: PeerDB early warnings (slot WAL, mirror errors) and the audit's edges.
    Mutant(
        "peerdb-lost-slot-not-broken",
        "dataflow_exporter/sources/peerdb.py",
        "if wal_status is not None and limits.wal_lost(wal_status):",
        'if wal_status == "unreserved":',
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-unreserved-slot-not-broken",
        "dataflow_exporter/sources/peerdb.py",
        "if wal_status is not None and limits.wal_lost(wal_status):",
        'if wal_status == "lost":',
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-safe-wal-at-threshold-broken",
        "dataflow_exporter/sources/peerdb.py",
        "if safe is not None and safe < limits.safe_wal:",
        "if safe is not None and safe <= limits.safe_wal:",
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-slot-lag-at-threshold-broken",
        "dataflow_exporter/sources/peerdb.py",
        "lag is not None and lag > limits.lag",
        "lag is not None and lag >= limits.lag",
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-slot-past-lag-not-broken",
        "dataflow_exporter/sources/peerdb.py",
        "lag is not None and lag > limits.lag",
        "False and lag > limits.lag",
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-erroring-window-edge-missed",
        "dataflow_exporter/sources/peerdb.py",
        "now - errors.last.time <= limits.error_window",
        "now - errors.last.time < limits.error_window",
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-erroring-beyond-running",
        "dataflow_exporter/sources/peerdb.py",
        'if m.status != "STATUS_RUNNING":\n        return None',
        "if False:\n        return None",
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-failed-mirror-not-broken",
        "dataflow_exporter/sources/peerdb.py",
        'IMMEDIATE_MIRROR_ALERTS = ("PeerDBMirrorFailed", "PeerDBMirrorPaused")',
        'IMMEDIATE_MIRROR_ALERTS = ("PeerDBMirrorPaused",)',
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-paused-mirror-not-broken",
        "dataflow_exporter/sources/peerdb.py",
        'IMMEDIATE_MIRROR_ALERTS = ("PeerDBMirrorFailed", "PeerDBMirrorPaused")',
        'IMMEDIATE_MIRROR_ALERTS = ("PeerDBMirrorFailed",)',
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-unknown-mirror-not-broken",
        "dataflow_exporter/sources/peerdb.py",
        'return state == "STATUS_UNKNOWN" and alerts.selects("PeerDBMirrorStuck", state)',
        "return False",
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-broken-state-verdict-never-asked",
        "dataflow_exporter/sources/peerdb.py",
        "functools.cache(functools.partial(_broken_mirror_state, alerts=alerts))",
        "lambda _state: False",
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-ended-batch-skipped",
        "dataflow_exporter/sources/peerdb.py",
        "            return Batch(count, NEWEST_BATCH_METRICS.read(",
        "            continue\n            return Batch(count, NEWEST_BATCH_METRICS.read(",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-unknown-value-mirror-not-broken",
        "dataflow_exporter/sources/peerdb.py",
        "if isinstance(m.status, Unknown) or limits.broken_state(m.status):",
        "if limits.broken_state(m.status):",
        ("tests/guarantees/test_broken_entities.py",),
    ),
    Mutant(
        "peerdb-mirror-errors-by-substring",
        "dataflow_exporter/sources/peerdb.py",
        'if row.mirror not in mirrors or row.level != "error":',
        'if not any(n in row.mirror for n in mirrors) or row.level != "error":',
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-warnings-counted-as-errors",
        "dataflow_exporter/sources/peerdb.py",
        'if row.mirror not in mirrors or row.level != "error":',
        "if row.mirror not in mirrors:",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-recent-errors-window-edge-missed",
        "dataflow_exporter/sources/peerdb.py",
        "now - row.time <= RECENT_ERRORS_SECONDS",
        "now - row.time < RECENT_ERRORS_SECONDS",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-log-pages-past-a-short-page",
        "dataflow_exporter/sources/peerdb.py",
        "if len(page) < MIRROR_LOG_PAGE_ROWS:",
        "if False:",
        ("tests/sources/peerdb/test_source.py",),
    ),
    Mutant(
        "peerdb-log-pages-unbounded",
        "dataflow_exporter/sources/peerdb.py",
        "for _ in range(MIRROR_LOG_PAGES):",
        "for _ in range(MIRROR_LOG_PAGES + 1):",
        ("tests/sources/peerdb/test_source.py",),
    ),
    Mutant(
        "peerdb-unknown-wal-status-counted",
        "dataflow_exporter/sources/peerdb.py",
        'NO_WAL_STATUS = frozenset({"", "unknown"})',
        'NO_WAL_STATUS = frozenset({""})',
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-flow-api-port-accepted",
        "dataflow_exporter/sources/peerdb.py",
        "if port == FLOW_API_PORT:",
        "if False:",
        ("tests/test_config.py",),
    ),
    Mutant(
        "peerdb-inventory-404-unexplained",
        "dataflow_exporter/sources/peerdb.py",
        "if exc.status == 404 and self.route_missing(exc):",
        "if False:",
        ("tests/sources/peerdb/test_source.py",),
    ),
    Mutant(
        "peerdb-last-error-forgotten",
        "dataflow_exporter/sources/peerdb.py",
        "remembered = {n: e for n, e in self._last_errors.items() if n in live}",
        "remembered: dict[str, MirrorError] = {}",
        ("tests/sources/peerdb/test_source.py",),
    ),
    Mutant(
        "max-entities-exactly-refused",
        "dataflow_exporter/sources/base.py",
        "if count > limit:",
        "if count >= limit:",
        ("tests/guarantees/test_partial_failures.py",),
    ),
    Mutant(
        "timestamp-zone-unchecked",
        "dataflow_exporter/sources/base.py",
        "if parsed.tzinfo is None:",
        "if False:",
        ("tests/sources/test_base.py",),
    ),
    # Issue 22: Feldera storage growth on the status page, judged over the alert's window.
    Mutant(
        "feldera-storage-growth-at-threshold-broken",
        "dataflow_exporter/sources/feldera.py",
        "        if rate > limit:",
        "        if rate >= limit:",
        ("tests/sources/feldera/test_storage_growth.py", "tests/test_thresholds.py"),
    ),
    Mutant(
        "feldera-storage-judged-too-soon",
        "dataflow_exporter/sources/feldera.py",
        "if now - since < window / 2:",
        "if now - since < window / 4:",
        ("tests/sources/feldera/test_storage_growth.py", "tests/test_thresholds.py"),
    ),
    Mutant(
        "feldera-storage-readings-never-dropped",
        "dataflow_exporter/sources/feldera.py",
        "while now - readings[0][0] > window:",
        "while False:",
        ("tests/sources/feldera/test_storage_growth.py",),
    ),
    Mutant(
        "feldera-storage-history-keeps-gone-pipelines",
        "dataflow_exporter/sources/feldera.py",
        "            del self._readings[gone]",
        "            pass",
        ("tests/sources/feldera/test_storage_growth.py",),
    ),
    # Issue 25: Feldera's answers read through typed shapes; what each shape requires, what it
    # leaves to older releases, how a state decodes, and the tables' family order.
    Mutant(
        "feldera-older-releases-field-required",
        "dataflow_exporter/sources/feldera.py",
        "    ] = None  # from v0.254.0\n",
        "    ]\n",
        ("tests/sources/feldera/test_parse.py",),
    ),
    Mutant(
        "feldera-required-field-defaulted",
        "dataflow_exporter/sources/feldera.py",
        "    storage_bytes: Annotated[Integer, Plain(PIPELINE_STORAGE)]\n",
        "    storage_bytes: Annotated[Integer, Plain(PIPELINE_STORAGE)] = 0\n",
        ("tests/sources/feldera/test_parse.py",),
    ),
    Mutant(
        "feldera-state-decoded-as-text",
        "dataflow_exporter/sources/feldera.py",
        "    deployment_status: Any = None\n",
        "    deployment_status: str | None = None\n",
        ("tests/sources/feldera/test_parse.py",),
    ),
    Mutant(
        "feldera-uptime-not-in-seconds",
        "dataflow_exporter/sources/feldera.py",
        '"Time since the pipeline process started (polled)."), msecs',
        '"Time since the pipeline process started (polled)."), micros',
        ("tests/sources/feldera/test_parse.py",),
    ),
    Mutant(
        "feldera-filled-specs-after-their-field",
        "dataflow_exporter/sources/feldera.py",
        "        rows.extend((*before.get(row.path, ()), row))",
        "        rows.extend((row, *before.get(row.path, ())))",
        ("tests/sources/feldera/test_parse.py",),
    ),
    Mutant(
        "feldera-misplaced-spec-dropped",
        "dataflow_exporter/sources/feldera.py",
        "    if missing:",
        "    if False:",
        ("tests/sources/feldera/test_parse.py",),
    ),
    Mutant(
        "feldera-deployment-error-words-lost",
        "dataflow_exporter/sources/feldera.py",
        "deployment_error=None if error is None else _words(error.message),",
        'deployment_error=None if error is None else "",',
        ("tests/sources/feldera/test_broken.py", "tests/sources/feldera/test_parse.py"),
    ),
    # Issue 24: PeerDB's per-mirror calls skipped only when their answer cannot have changed.
    Mutant(
        "peerdb-kept-rows-age-inclusive",
        "dataflow_exporter/sources/peerdb.py",
        "and now - before.rows_at < REUSE_SECONDS",
        "and now - before.rows_at <= REUSE_SECONDS",
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
        "                if u.keep:\n                    u.after.rows, u.after.rows_at",
        "                if True:\n                    u.after.rows, u.after.rows_at",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-refused-batches-answer-held",
        "dataflow_exporter/sources/peerdb.py",
        "                u.after.batches = None\n",
        "",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-batches-read-before-the-fan-out-ends",
        "dataflow_exporter/sources/peerdb.py",
        "        self._read_answers(details, seen)\n",
        "",
        ("tests/sources/peerdb/test_detail_reuse.py", "tests/sources/peerdb"),
    ),
    Mutant(
        "peerdb-stopped-mirrors-batch-never-kept",
        "dataflow_exporter/sources/peerdb.py",
        "            if u.keep:\n                u.after.batch, u.after.batch_at = batch, u.now",
        "            if False:\n                u.after.batch, u.after.batch_at = batch, u.now",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "details-read-refusal-fails-the-poll",
        "dataflow_exporter/sources/base.py",
        "            self._failed(entity, endpoint, exc, None)\n            return None",
        "            raise",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "rfc3339-fast-path-latest-time-excluded",
        "dataflow_exporter/sources/base.py",
        "if parsed.tzinfo is None or not EARLIEST_TIME <= seconds <= LATEST_TIME:",
        "if parsed.tzinfo is None or not EARLIEST_TIME <= seconds < LATEST_TIME:",
        ("tests/sources/test_base.py",),
    ),
    Mutant(
        "rfc3339-fast-path-takes-a-time-without-zone",
        "dataflow_exporter/sources/base.py",
        "if parsed.tzinfo is None or not EARLIEST_TIME <= seconds <= LATEST_TIME:",
        "if not EARLIEST_TIME <= seconds <= LATEST_TIME:",
        ("tests/sources/test_base.py",),
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
        "peerdb-batches-digest-of-a-prefix",
        "dataflow_exporter/sources/peerdb.py",
        "return hashlib.blake2b(body, digest_size=16).digest()",
        "return hashlib.blake2b(body[:16], digest_size=16).digest()",
        ("tests/sources/peerdb/test_detail_reuse.py", "tests/sources/peerdb/test_parse.py"),
    ),
    Mutant(
        "peerdb-answer-of-the-limit-hashed",
        "dataflow_exporter/sources/peerdb.py",
        "if len(body) <= DIGEST_FROM_BYTES:",
        "if len(body) < DIGEST_FROM_BYTES:",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-list-items-never-reused",
        "dataflow_exporter/sources/peerdb.py",
        "mirrors = [get(item) or _listed_mirror(",
        "mirrors = [None or _listed_mirror(",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-list-item-error-keeps-its-old-place",
        "dataflow_exporter/sources/peerdb.py",
        "for item, m in zip(items, mirrors, strict=True) if not m.time_error",
        "for item, m in zip(items, mirrors, strict=True)",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-rows-answers-never-remembered",
        "dataflow_exporter/sources/peerdb.py",
        "        self._rows_answers.finish()\n",
        "",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "peerdb-batches-answers-never-remembered",
        "dataflow_exporter/sources/peerdb.py",
        "        self._batch_answers.finish()\n",
        "",
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    Mutant(
        "answer-memo-reuses-a-changed-answer",
        "dataflow_exporter/sources/base.py",
        "last[0] == answer.body",
        "last[0] != answer.body",
        ("tests/sources/peerdb/test_detail_reuse.py", "tests/sources/etlworks/test_source.py"),
    ),
    Mutant(
        "peerdb-lag-fast-path-decimal-mebibytes",
        "dataflow_exporter/sources/peerdb.py",
        "@plain_number(1 / MIB)",
        "@plain_number(1 / 1e6)",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "fields-flag-fast-path-always-one",
        "dataflow_exporter/sources/fields.py",
        "return 1.0 if node else 0.0  # `flag`'s own answer",
        "return 1.0  # `flag`'s own answer",
        ("tests/sources/peerdb/test_parse.py", "tests/sources/test_fields.py"),
    ),
    Mutant(
        "peerdb-completed-not-stopped",
        "dataflow_exporter/sources/peerdb.py",
        '{"STATUS_PAUSED", "STATUS_COMPLETED", "STATUS_TERMINATED"}',
        '{"STATUS_PAUSED", "STATUS_TERMINATED"}',
        ("tests/sources/peerdb/test_detail_reuse.py",),
    ),
    # Issue 25: PeerDB's answers read through one typed shape each, plain fields on the shape.
    Mutant(
        "peerdb-ok-false-unchecked",
        "dataflow_exporter/sources/peerdb.py",
        "    if decoded.ok is False:\n        check_ok(decoded, answer.what)\n",
        "",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-ok-false-lost-without-fields",
        "dataflow_exporter/sources/peerdb.py",
        "        check_ok(error, answer.what)\n",
        "",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-mirror-list-may-be-left-out",
        "dataflow_exporter/sources/peerdb.py",
        "    mirrors: list[ListedMirror] | None\n",
        "    mirrors: list[ListedMirror] | None = None\n",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-slot-lag-in-mib",
        "dataflow_exporter/sources/peerdb.py",
        "return as_is(value, what) * MIB",
        "return as_is(value, what)",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-newest-batch-still-running",
        "dataflow_exporter/sources/peerdb.py",
        "        if batch.end_time:\n",
        "        if batch.end_time is not None:\n",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-row-count-left-out-refused",
        "dataflow_exporter/sources/peerdb.py",
        "total_count: Annotated[Integer, Plain(MIRROR_ROWS_SYNCED)] = 0",
        "total_count: Annotated[Integer, Plain(MIRROR_ROWS_SYNCED)]",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-is-cdc-left-out-not-cdc",
        "dataflow_exporter/sources/peerdb.py",
        "    is_cdc: bool | None = True\n",
        "    is_cdc: bool | None = False\n",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-peer-type-code-unnamed",
        "dataflow_exporter/sources/peerdb.py",
        "return DB_TYPES.get(value, str(value))",
        "return str(value)",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-slot-families-reordered",
        "dataflow_exporter/sources/peerdb.py",
        "_FIRST_SLOT_FAMILIES = (SLOT_LAG, SLOT_ACTIVE, SLOT_WAL_STATUS)",
        "_FIRST_SLOT_FAMILIES = (SLOT_LAG, SLOT_ACTIVE)",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "peerdb-batch-fields-reordered",
        "dataflow_exporter/sources/peerdb.py",
        "    end_time: Annotated[str | None, Plain(LAST_BATCH_END, rfc3339)] = None\n"
        "    num_rows: Annotated[Integer | None, Plain(LAST_BATCH_ROWS)] = None\n",
        "    num_rows: Annotated[Integer | None, Plain(LAST_BATCH_ROWS)] = None\n"
        "    end_time: Annotated[str | None, Plain(LAST_BATCH_END, rfc3339)] = None\n",
        ("tests/sources/peerdb/test_parse.py",),
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
        "crc = isal_zlib.crc32_combine(crc, piece.crc, piece.size)",
        "crc = isal_zlib.crc32_combine(piece.crc, crc, piece.size)",
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
        "reuse-splice-at-the-wrong-line",
        "dataflow_exporter/exposition.py",
        "cut_out(block[run : starts[index] + cut])",
        "cut_out(block[run : starts[index]])",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "one-hot-marks-the-wrong-state",
        "dataflow_exporter/families.py",
        "family.values[start + index] = 1.0",
        "family.values[index] = 1.0",
        ("tests/test_families.py",),
    ),
    Mutant(
        "family-pairs-drop-the-last-sample",
        "dataflow_exporter/families.py",
        "        for labels, value in samples:\n            family.add(labels, value)",
        "        for labels, value in list(samples)[:-1]:\n            family.add(labels, value)",
        ("tests/test_families.py",),
    ),
    Mutant(
        "reuse-keeps-values-out-of-step",
        "dataflow_exporter/exposition.py",
        "    if len(values) != len(keys):\n        # The comparisons below",
        "    if False:\n        # The comparisons below",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-big-int-not-made-a-float",
        "dataflow_exporter/exposition.py",
        "exact = float(value)",
        "exact = value",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "reuse-splice-drops-a-newline",
        "dataflow_exporter/exposition.py",
        "run = starts[index + 1] - 1",
        "run = starts[index + 1]",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "reuse-ignores-changed-label-sets",
        "dataflow_exporter/exposition.py",
        "if len(keys) != len(previous.keys) or keys != previous.keys:",
        "if len(keys) != len(previous.keys):",
        ("tests/test_exposition.py",),
    ),
    # Review of the merged change: a kept PeerDB value counts as its route serving, and a
    # walStatus of the wrong type fails that slot's read, not the target.
    Mutant(
        "details-reuse-not-served",
        "dataflow_exporter/sources/base.py",
        "        self._served.add(capability)\n        return True",
        "        return True",
        ("tests/sources/test_base.py",),
    ),
    Mutant(
        "peerdb-wal-status-type-unchecked",
        "dataflow_exporter/sources/peerdb.py",
        "    wal_status: str | None = None  # Postgres' wal_status",
        "    wal_status: Any = None  # Postgres' wal_status",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "scrape-body-built-before-its-slot",
        "dataflow_exporter/server.py",
        "lambda: cache.exposition_parts(openmetrics, gzipped), headers)",
        "lambda parts=cache.exposition_parts(openmetrics, gzipped): parts, headers)",
        ("tests/test_server.py",),
    ),
    Mutant(
        "status-api-target-pages-a-range",
        "dataflow_exporter/status_api.py",
        "        chosen = encoded.places.get(query.target, [])",
        "        places = encoded.places.get(query.target, [])\n"
        "        chosen = range(places[0], places[-1] + 1) if places else []",
        ("tests/test_status_api.py",),
    ),
    Mutant(
        "stale-target-counts-omitted",
        "dataflow_exporter/status.py",
        "broken_omitted=0 if stale else state.broken_omitted + broken - listed,",
        "broken_omitted=state.broken_omitted + (0 if stale else broken - listed),",
        ("tests/test_status.py",),
    ),
    Mutant(
        "rotated-basic-token-forgotten-at-once",
        "dataflow_exporter/auth.py",
        "self._password.retire(\n"
        "                functools.partial(known_secrets.unregister_basic, self._username, seen)\n"
        "            )",
        "known_secrets.unregister_basic(self._username, seen)",
        ("tests/test_auth.py",),
    ),
    # Issue 24: the whole-number shortcut of value formatting, taken by most changed values.
    Mutant(
        "format-whole-keeps-trailing-zeros",
        "dataflow_exporter/exposition.py",
        'tail = digits[1:].rstrip("0")',
        "tail = digits[1:]",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-whole-exponent-off-by-one",
        "dataflow_exporter/exposition.py",
        "exponent = _EXPONENTS[len(digits)]",
        "exponent = _EXPONENTS[len(digits) + 1]",
        ("tests/test_exposition.py",),
    ),
    Mutant(
        "format-whole-shortcut-for-fractions",
        "dataflow_exporter/exposition.py",
        "if whole == exact:",
        "if whole <= exact:",
        ("tests/test_exposition.py",),
    ),
    # Review: the cached pieces of a gzip body are lined up once per build, not per scrape.
    Mutant(
        "gzip-pieces-lined-up-per-scrape",
        "dataflow_exporter/exposition_cache.py",
        "        if cached.lined is None:\n",
        "        if True:\n",
        ("tests/test_exposition_cache.py",),
    ),
    # Issue 25: one JSON library (msgspec), with orjson's refusals and integer range kept.
    Mutant(
        "json-long-integers-kept",
        "dataflow_exporter/upstream.py",
        "if _LONG_RUN not in body.translate(_DIGITS_AS_ZERO):",
        "if True:",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "json-long-integer-run-twenty-digits",
        "dataflow_exporter/upstream.py",
        '_LONG_RUN = b"0" * 19',
        '_LONG_RUN = b"0" * 20',
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "json-integer-range-signed-only",
        "dataflow_exporter/upstream.py",
        "    return value if -(2**63) <= value < 2**64 else float(value)\n\n\ndef _decode",
        "    return value if -(2**63) <= value < 2**63 else float(value)\n\n\ndef _decode",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "json-integer-range-top-inclusive",
        "dataflow_exporter/upstream.py",
        "    return value if -(2**63) <= value < 2**64 else float(value)\n\n\ndef _decode",
        "    return value if -(2**63) <= value <= 2**64 else float(value)\n\n\ndef _decode",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "json-integer-range-bottom-exclusive",
        "dataflow_exporter/upstream.py",
        "    return value if -(2**63) <= value < 2**64 else float(value)\n\n\ndef _decode",
        "    return value if -(2**63) < value < 2**64 else float(value)\n\n\ndef _decode",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "json-lone-surrogate-refused",
        "dataflow_exporter/upstream.py",
        "if _SURROGATE_ESCAPE.search(body):",
        "if False:",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "json-lone-low-surrogate-refused",
        "dataflow_exporter/upstream.py",
        '_SURROGATE_ESCAPE = re.compile(rb"\\\\u[dD][89a-fA-F]")',
        '_SURROGATE_ESCAPE = re.compile(rb"\\\\u[dD][89abAB]")',
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "json-surrogate-fallback-hides-the-cause",
        "dataflow_exporter/upstream.py",
        "pass  # not that: say what else is wrong with it",
        'raise UpstreamError(Reason.DECODE, f"{what}: invalid JSON") from None',
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "json-deep-nesting-escapes",
        "dataflow_exporter/upstream.py",
        "_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)",
        "_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)",
        ("tests/test_upstream.py",),
    ),
    # Issue 24: the request path builds its headers once and resolves a path once.
    Mutant(
        "upstream-shared-headers-mutated",
        "dataflow_exporter/upstream.py",
        "headers = {**headers, **credentials}",
        "headers.update(credentials)",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "upstream-resolved-path-ignores-method",
        "dataflow_exporter/upstream.py",
        "key = (method, path)",
        'key = ("", path)',
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "upstream-resolved-paths-unbounded",
        "dataflow_exporter/upstream.py",
        "if len(self._resolved) >= _RESOLVED_PATHS:",
        "if False:",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "upstream-resolved-paths-one-over",
        "dataflow_exporter/upstream.py",
        "if len(self._resolved) >= _RESOLVED_PATHS:",
        "if len(self._resolved) > _RESOLVED_PATHS:",
        ("tests/test_upstream.py",),
    ),
    Mutant(
        "limiter-exit-frees-while-others-wait",
        "dataflow_exporter/upstream.py",
        "        if self._waiters:\n            self._release()\n"
        "        else:\n            self._free += 1\n",
        "        self._free += 1\n",
        ("tests/test_upstream.py",),
    ),
    # Issue 25: the dashboard generator's layout, tables, colours, thresholds and import.
    Mutant(
        "grid-uneven-share-accepted",
        "grafana/layout.py",
        "if total < sum(weights) or any(GRID_WIDTH * weight % total for weight in weights):",
        "if total < sum(weights):",
        ("tests/grafana/test_layout.py",),
    ),
    Mutant(
        "grid-full-line-refused",
        "grafana/layout.py",
        "if total < sum(weights) or",
        "if total <= sum(weights) or",
        ("tests/grafana/test_layout.py",),
    ),
    Mutant(
        "grid-panel-x-not-advanced",
        "grafana/layout.py",
        "x += width",
        "x = width",
        ("tests/grafana/test_layout.py",),
    ),
    Mutant(
        "grid-lines-not-stacked",
        "grafana/layout.py",
        "y += line.height",
        "y = line.height",
        ("tests/grafana/test_layout.py",),
    ),
    Mutant(
        "grid-row-header-no-height",
        "grafana/layout.py",
        "        y += 1\n",
        "        y += 0\n",
        ("tests/grafana/test_layout.py",),
    ),
    Mutant(
        "grid-panel-id-repeats-row-id",
        "grafana/layout.py",
        '"y": y},\n                        "id": len(panels) + 1,',
        '"y": y},\n                        "id": len(panels),',
        ("tests/grafana/test_layout.py",),
    ),
    Mutant(
        "table-keep-ignored",
        "grafana/panels.py",
        "excluded = {name: True for name in defaults if name not in keep}",
        "excluded = {name: True for name in defaults}",
        ("tests/grafana/test_panels.py",),
    ),
    Mutant(
        "table-status-column-without-system",
        "grafana/panels.py",
        "    if not system:\n",
        "    if not True:\n",
        ("tests/grafana/test_panels.py",),
    ),
    Mutant(
        "state-without-colour-accepted",
        "grafana/colours.py",
        "    if missing:\n",
        "    if False:\n",
        ("tests/grafana/test_colours.py",),
    ),
    Mutant(
        "limit-read-from-another-alert",
        "grafana/limits.py",
        'batch_seconds=int(alerts["PeerDBMirrorNoRecentBatch"]["threshold_seconds"])',
        'batch_seconds=int(alerts["EtlworksFlowRunningTooLong"]["threshold_seconds"])',
        ("tests/grafana/test_limits.py",),
    ),
    Mutant(
        "generator-reads-argv-at-import",
        "grafana/generate.py",
        "SOURCE = Path(__file__).resolve().parent.parent\n",
        "SOURCE = Path(__file__).resolve().parent.parent\nROOT = Path(sys.argv[-1])\n",
        ("tests/guarantees/test_dashboard_generator.py",),
    ),
    # Issue 25: each concept in the room its name promises; an inventory over max_entities
    # counted under its own reason.
    Mutant(
        "max-entities-counted-as-decode",
        "dataflow_exporter/sources/base.py",
        "Reason.MAX_ENTITIES,",
        "Reason.DECODE,",
        ("tests/guarantees/test_partial_failures.py",),
    ),
    Mutant(
        "backoff-before-the-first-failure",
        "dataflow_exporter/backoff.py",
        "if failures > 0 else 1",
        "if failures >= 0 else 1",
        ("tests/test_backoff.py",),
    ),
    Mutant(
        "store-reads-records-from-sources",
        "dataflow_exporter/store.py",
        "from dataflow_exporter.records import BrokenEntity, DetailFailure",
        "from dataflow_exporter.sources.base import BrokenEntity, DetailFailure",
        ("tests/guarantees/test_layering.py",),
    ),
    Mutant(
        "self-metrics-reasons-from-sources",
        "dataflow_exporter/self_metrics.py",
        "from dataflow_exporter.errors import ENTITY_REASONS, Reason",
        "from dataflow_exporter.errors import Reason\n"
        "from dataflow_exporter.sources.base import ENTITY_REASONS",
        ("tests/guarantees/test_layering.py",),
    ),
    Mutant(
        "scheduler-imports-the-registry",
        "dataflow_exporter/scheduler.py",
        "from dataflow_exporter import backoff\n",
        "from dataflow_exporter import backoff\nfrom dataflow_exporter.sources import registry\n",
        ("tests/guarantees/test_layering.py",),
    ),
    # Issue 25: typed shapes. A plain field is one Plain line; the decoder checks each answer
    # once and words refusals in the upstream's names; Etlworks reads its answers that way.
    Mutant(
        "plain-null-value-ignored",
        "dataflow_exporter/sources/fields.py",
        "return self.absent  # the field, or a nested shape holding it, is absent",
        "return None",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "plain-nan-string-exported",
        "dataflow_exporter/sources/fields.py",
        "if math.isfinite(node):",
        "if True:",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "plain-typed-string-not-converted",
        "dataflow_exporter/sources/fields.py",
        "            if type(node) is int:\n",
        "            if type(node) is not float:\n",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "plain-error-not-worded-as-decoder",
        "dataflow_exporter/sources/fields.py",
        "return self.convert(node, at(where, self.path))",
        'return self.convert(node, f"{where}.{self.path}")',
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "plain-listed-spec-not-placed",
        "dataflow_exporter/sources/fields.py",
        "placed.get(row, row) if isinstance(row, MetricSpec) else row for row in expanded",
        "row for row in expanded",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "plain-field-of-two-shapes-accepted",
        "dataflow_exporter/sources/fields.py",
        "elif placed.setdefault(plain.spec, plain) is not plain:",
        "elif placed.setdefault(plain.spec, plain) is None:",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        # The union branch: dropping every nested shape fails Feldera's import instead.
        "plain-nested-shape-dropped",
        "dataflow_exporter/sources/fields.py",
        "typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else",
        "() if typing.get_origin(hint) in (typing.Union, _UnionType) else",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "plain-nested-null-value-lost",
        "dataflow_exporter/sources/fields.py",
        'f"{attr}.{self.attr}", self.convert, self.absent',
        'f"{attr}.{self.attr}", self.convert, None',
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "plain-second-mark-ignored",
        "dataflow_exporter/sources/fields.py",
        "if len(marks) > 1:",
        "if len(marks) > 2:",
        ("tests/sources/test_fields.py",),
    ),
    # Issue 25: the table reads typed shapes only; what its dict-path tests pinned, on shapes.
    Mutant(
        "plain-nested-field-read-as-one-level",
        "dataflow_exporter/sources/fields.py",
        "get = operator.attrgetter(self.attr) if len(self._attrs) == 1 else self._walk",
        "get = operator.attrgetter(self._attrs[0])",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "plain-absent-nested-shape-walked-into",
        "dataflow_exporter/sources/fields.py",
        "return None  # a nested shape holding the field is absent",
        "pass",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "plain-nested-path-in-attribute-names",
        "dataflow_exporter/sources/fields.py",
        'self.spec, f"{name}.{self.path}", f"{attr}.{self.attr}"',
        'self.spec, f"{attr}.{self.path}", f"{attr}.{self.attr}"',
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "table-absent-value-sampled",
        "dataflow_exporter/sources/fields.py",
        "if value is not None:",
        "if True:",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "table-other-tables-values-added",
        "dataflow_exporter/sources/fields.py",
        "if values.table is not self._table:",
        "if False:",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "table-metric-listed-twice-accepted",
        "dataflow_exporter/sources/fields.py",
        "if len(set(names)) != len(names):",
        "if False:",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "typed-truncated-body-is-schema",
        "dataflow_exporter/sources/typed.py",
        "            decode_json(bytes(body), where)\n            raise worded(exc, where)",
        "            raise worded(exc, where)",
        ("tests/sources/test_typed.py",),
    ),
    Mutant(
        "typed-enum-value-uncut",
        "dataflow_exporter/sources/typed.py",
        "message = quoting + credential_text.shorten(message.removeprefix(quoting), 40)",
        "pass",
        ("tests/sources/test_typed.py",),
    ),
    Mutant(
        "typed-decoder-strict",
        "dataflow_exporter/sources/typed.py",
        "shape, strict=False",
        "shape, strict=True",
        ("tests/sources/test_typed.py",),
    ),
    Mutant(
        "etlworks-null-retries-not-zero",
        "dataflow_exporter/sources/etlworks.py",
        "    retries: Annotated[float | None, Plain(LAST_RETRIES, as_is, absent=0.0)] = None",
        "    retries: Annotated[float | None, Plain(LAST_RETRIES, as_is)] = None",
        ("tests/sources/etlworks/test_parse.py",),
    ),
    Mutant(
        "etlworks-retries-family-moved",
        "dataflow_exporter/sources/etlworks.py",
        "    LAST_DURATION,\n    LAST_RETRIES,\n",
        "    LAST_DURATION,\n",
        ("tests/sources/etlworks/test_parse.py",),
    ),
    Mutant(
        "etlworks-negative-flow-id-accepted",
        "dataflow_exporter/sources/etlworks.py",
        "id: Annotated[int, msgspec.Meta(ge=0)]",
        "id: int",
        ("tests/sources/etlworks/test_parse.py",),
    ),
    Mutant(
        "etlworks-odd-flow-name-fails-the-list",
        "dataflow_exporter/sources/etlworks.py",
        "    name: object = None\n",
        "    name: str | None = None\n",
        ("tests/sources/etlworks/test_parse.py",),
    ),
    Mutant(
        "etlworks-empty-token-accepted",
        "dataflow_exporter/sources/etlworks.py",
        "if not token:",
        "if False:",
        ("tests/sources/etlworks/test_parse.py",),
    ),
    Mutant(
        "etlworks-lost-shape-passes-for-never-ran",
        "dataflow_exporter/sources/etlworks.py",
        'raise SchemaError(f"{what}: no status, auditId or flowId")',
        "return None",
        ("tests/sources/etlworks/test_parse.py",),
    ),
    # Issue 25: one spelling of a field's place, whoever names it.
    Mutant(
        "field-path-joined-with-colon-inside-entity",
        "dataflow_exporter/sources/typed.py",
        'return f"{where}.{path}"',
        'return f"{where}: {path}"',
        ("tests/sources/test_typed.py",),
    ),
    Mutant(
        "field-index-path-joined-with-dot",
        "dataflow_exporter/sources/typed.py",
        'if not path.startswith("[") and ": " in where:',
        'if ": " in where:',
        ("tests/sources/test_typed.py",),
    ),
    # Issue 25: Confluent's answers decoded once through typed shapes, plain fields on them.
    Mutant(
        "confluent-unknown-lag-exported",
        "dataflow_exporter/sources/confluent.py",
        "return value if value >= 0 else None",
        "return value",
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "confluent-partition-lag-takes-the-offset",
        "dataflow_exporter/sources/confluent.py",
        '_LAG = operator.attrgetter("lag")',
        '_LAG = operator.attrgetter("last_source_fetch_offset")',
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "table-value-without-its-labels",
        "dataflow_exporter/sources/fields.py",
        "                add_key(labels)\n                add_value(value)",
        "                add_value(value)",
        ("tests/sources/test_fields.py",),
    ),
    Mutant(
        "confluent-unknown-fetch-offset-exported",
        "dataflow_exporter/sources/confluent.py",
        "if min(values, default=0.0) >= 0:",
        "if min(values, default=0.0) >= -1:",
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "time-unchecked-in-confluent",
        "dataflow_exporter/sources/confluent.py",
        "return unix_time(value / 1000.0, what)",
        "return value / 1000.0",
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "confluent-topic-time-fails-the-poll",
        "dataflow_exporter/sources/confluent.py",
        "        except TimeRangeError as exc:",
        "        except OverflowError as exc:",
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "nan-lag-accepted",
        "dataflow_exporter/sources/typed.py",
        "Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]",
        "Finite = float",
        ("tests/sources/confluent/test_parse.py", "tests/sources/peerdb/test_parse.py"),
    ),
    Mutant(
        "confluent-null-lags-refused",
        "dataflow_exporter/sources/confluent.py",
        "    mirror_lags: list[PartitionLag] | None\n",
        "    mirror_lags: list[PartitionLag]\n",
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "confluent-absent-tasks-read-as-none",
        "dataflow_exporter/sources/confluent.py",
        "if tasks is msgspec.UNSET:",
        "if tasks is None:",
        ("tests/sources/confluent/test_link_tasks.py",),
    ),
    Mutant(
        "confluent-zero-offset-unexported",
        "dataflow_exporter/sources/confluent.py",
        "present = [value >= 0 for value in values]",
        "present = [value > 0 for value in values]",
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "confluent-topic-plain-fields-dropped",
        "dataflow_exporter/sources/confluent.py",
        "topic.add_many(labels, [t.values for t in topics])",
        "pass",
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "confluent-partition-count-converted",
        "dataflow_exporter/sources/confluent.py",
        "Plain(PARTITIONS)]",
        "Plain(PARTITIONS, msecs_time)]",
        ("tests/sources/confluent/test_parse.py",),
    ),
    Mutant(
        "typed-deep-json-crashes",
        "dataflow_exporter/sources/typed.py",
        "        except RecursionError:\n            # JSON nested deeper",
        "        except MemoryError:\n            # JSON nested deeper",
        ("tests/sources/confluent/test_parse.py", "tests/sources/test_typed.py"),
    ),
    Mutant(
        "peerdb-envelope-refusal-hides-the-shapes",
        "dataflow_exporter/sources/peerdb.py",
        "raise refused from None  # the shape's refusal names the field, not the envelope's",
        "raise  # the shape's refusal names the field, not the envelope's",
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "integer-unbounded-overflows",
        "dataflow_exporter/sources/typed.py",
        "Integer = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]",
        "Integer = int",
        (
            "tests/sources/peerdb/test_parse.py",
            "tests/sources/feldera/test_parse.py",
            "tests/sources/confluent/test_parse.py",
        ),
    ),
    Mutant(
        "peerdb-instance-status-null-refused",
        "dataflow_exporter/sources/peerdb.py",
        "    status: str | Integer | None = None  # null or absent: unknown",
        '    status: str | Integer = "INSTANCE_STATUS_UNKNOWN"',
        ("tests/sources/peerdb/test_parse.py",),
    ),
    Mutant(
        "typed-tag-value-unscrubbed",
        "dataflow_exporter/sources/typed.py",
        '_QUOTING = ("Invalid enum value ", "Invalid value ")',
        '_QUOTING = ("Invalid enum value ",)',
        ("tests/sources/test_typed.py",),
    ),
    Mutant(
        "deep-json-worded-by-whoever-fails",
        "dataflow_exporter/upstream.py",
        "        if isinstance(exc, RecursionError):\n",
        "        if False:\n",
        ("tests/test_upstream.py",),
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
