"""Redaction throughput against the number of registered secret forms.

  .venv/bin/python -m benchmarks.redact            # 4, 64, 65 and 500 forms
  .venv/bin/python -m benchmarks.redact --quick    # fewer repetitions

Every log line, error message and status-page text goes through `known_secrets.redact`, so its cost
per character matters as secrets accumulate (a `*_file` secret rotated many times, hundreds of
targets). Each row is one number of registered forms and one text size, with one known secret in the
middle of the text (so there is work to do): microseconds per call (best of five rounds) and
megabytes per second; then microseconds per call for the same text without the secret (most texts
hold none). Then, with 100 secrets known, the cost of `credential_text.scrub` over a whole upstream
error text against `credential_text.shorten` keeping 200 or 4,000 characters of it (bounded work
however long the text). Compare rows with each other, not with other machines.
"""

from __future__ import annotations

import argparse
import random
import string
import time
from collections.abc import Callable

from dataflow_exporter import credential_text, known_secrets

FORMS = (4, 64, 65, 500)
# A typical upstream error, a big one (the status page's kept text), and a huge one.
SIZES = (200, 8 * 1024, 1024 * 1024)
SENTENCE = (
    "connection refused to host db-primary port 5432 java.sql.SQLException timeout after "
    "30000ms while reading from the replication slot peerflow_slot error: broker not available"
)
WORDS = SENTENCE.split()


def _secret(rng: random.Random) -> str:
    # Letters and digits only: one value gives two forms (itself and its Basic token).
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))


def register_forms(count: int, rng: random.Random) -> str:
    """Register secrets until exactly `count` forms are known; return one of the values."""
    known_secrets.forget_all()
    known = 0
    planted = ""
    while known < count:
        value = _secret(rng)
        new = len(known_secrets.forms(value))
        if known + new > count:
            # One form short: an HTTP Basic token of a user and a password is a single form.
            known_secrets.register_basic("user", value)
            known += 1
            continue
        known_secrets.register(value)
        known += new
        planted = value
    return planted


def text_of(size: int, secret: str, rng: random.Random) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    body = " ".join(words)[:size]
    half = len(body) // 2
    return f"{body[:half]} {secret} {body[half:]}"


def best_of(
    text: str, rounds: int, calls: int, call: Callable[[str], str] = known_secrets.redact
) -> float:
    """Seconds per call, the best of `rounds` rounds of `calls` calls."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call(text)
        best = min(best, (time.perf_counter() - started) / calls)
    return best


# An upstream's error: a Java exception with a connection string, repeated to the size wanted.
ERROR_LINE = (
    "java.sql.SQLException: connection to host db port=5432 user=etl failed: timeout after "
    "30000ms; "
)


def scrub_rows(rounds: int) -> None:
    """`credential_text.scrub` of a whole text against `credential_text.shorten` of it, 100
    secrets known."""
    rng = random.Random(0)
    register_forms(200, rng)
    print(f"\n{'text':>9} {'scrub ms':>10} {'shorten 200 ms':>15} {'shorten 4000 ms':>16}")
    for size in (8 * 1024, 10 * 1024 * 1024):
        text = (ERROR_LINE * (size // len(ERROR_LINE) + 1))[:size]
        whole = best_of(text, 1 if size > 1 << 20 else rounds, 1, credential_text.scrub)
        short = best_of(text, rounds, 20, lambda t: credential_text.shorten(t, 200))
        kept = best_of(text, rounds, 20, lambda t: credential_text.shorten(t, 4000))
        print(f"{size:>9} {whole * 1e3:>10.2f} {short * 1e3:>15.2f} {kept * 1e3:>16.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls")
    args = parser.parse_args()
    rounds = 2 if args.quick else 5
    budget = 0.05 if args.quick else 0.2  # seconds of calls per round, roughly
    print(f"{'forms':>6} {'text':>9} {'us/call':>10} {'MB/s':>8} {'clean us/call':>14}")
    for count in FORMS:
        rng = random.Random(count)
        secret = register_forms(count, rng)
        for size in SIZES:
            text = text_of(size, secret, rng)
            assert secret not in known_secrets.redact(text), "the planted secret was not masked"
            once = best_of(text, 1, 1)
            calls = max(1, int(budget / max(once, 1e-7)))
            seconds = best_of(text, rounds, calls)
            clean = best_of(text.replace(secret, "x" * len(secret)), rounds, calls)
            rate = len(text) / seconds / 1e6
            print(
                f"{count:>6} {len(text):>9} {seconds * 1e6:>10.1f} {rate:>8.1f}"
                f" {clean * 1e6:>14.1f}"
            )
    scrub_rows(rounds)
    known_secrets.forget_all()


if __name__ == "__main__":
    main()
