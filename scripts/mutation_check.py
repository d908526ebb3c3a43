"""Apply named mutants to a copy of the code, one at a time, and check that the tests kill each.

Each mutant is a bug the suite once let through (or one worth guarding): an exact piece of a
module replaced by a wrong one, and the tests that must fail on it. The checkout is never
touched: the tracked files are copied to a temporary directory, each mutant is applied there,
its tests run from there, and the file is restored before the next one.

    python scripts/mutation_check.py            # every mutant
    python scripts/mutation_check.py --list     # names and tests
    python scripts/mutation_check.py NAME...    # only these

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
        ("tests/sources/confluent/test_parse.py", "tests/guarantees/test_properties.py"),
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
        "text = scrub.scrub(_text(text))",
        "text = _text(text)",
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
        "if len(self._unknown_logged) < MAX_UNKNOWN_LOGGED:",
        "if True:",
        ("tests/test_scheduler.py",),
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
        "        if value != last:",
        "        if False:",
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
