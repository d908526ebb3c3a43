"""Command line: `run`, `check`, `once`, `simulate` and `demo`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from exporter import __version__, redact
from exporter import config as config_mod
from exporter.config import ConfigError
from exporter.daemon import Exporter, arm_exit_deadline, parse_listen_address, tune_gc
from exporter.log import configure, get_logger
from exporter.schema import parse_duration
from exporter.sources.base import Shard
from exporter.webconfig import WebConfigError, load_web_config

DEFAULT_LISTEN = ":9891"
DEFAULT_SIMULATOR_LISTEN = "127.0.0.1:9900"
log = get_logger("exporter.cli")


def _add_logging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log.level",
        dest="log_level",
        default="info",
        choices=["debug", "info", "warning", "error"],
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        default="auto",
        choices=["auto", "json", "console"],
        help="auto: console on a terminal, JSON lines otherwise",
    )


def _add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="SYSTEM.KNOB=VALUE",
        help="a simulator knob, e.g. peerdb.mirrors=5000 (repeatable; see docs/simulator.md)",
    )


def simulator_options(settings: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`--set system.knob=value` flags -> keyword arguments per simulated system."""
    from exporter.simulator import SIMULATORS

    options: dict[str, dict[str, Any]] = {name: {} for name in SIMULATORS}
    for setting in settings:
        key, sep, raw = setting.partition("=")
        system, dot, knob = key.partition(".")
        if not sep or not dot or system not in options or not knob.isidentifier():
            raise ValueError(f"invalid --set {setting!r}: expected SYSTEM.KNOB=VALUE")
        options[system][knob] = yaml.safe_load(raw)
    return options


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(prog="dataflow-exporter", description=__doc__)
    parser.add_argument("--version", action="version", version=f"dataflow-exporter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the exporter daemon")
    run.add_argument("--config", required=True, help="config file (YAML)")
    run.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN)
    run.add_argument(
        "--web.config.file",
        dest="web_config",
        default=None,
        help="exporter-toolkit web config: TLS and basic auth",
    )
    run.add_argument(
        "--shard.index",
        dest="shard_index",
        default=None,
        help="this replica's shard index, or 'hostname' for a StatefulSet ordinal",
    )
    run.add_argument("--shard.count", dest="shard_count", type=int, default=None)
    _add_logging(run)

    check = sub.add_parser("check", help="validate a config file and exit")
    check.add_argument("config")

    once = sub.add_parser("once", help="poll every target once and print the metrics")
    once.add_argument("--config", required=True)
    once.add_argument("--openmetrics", action="store_true", help="print OpenMetrics text")
    _add_logging(once)

    simulate = sub.add_parser("simulate", help="serve the simulated upstreams only")
    simulate.add_argument("--listen", default=DEFAULT_SIMULATOR_LISTEN)
    simulate.add_argument("--seed", type=int, default=1)
    _add_set_option(simulate)
    _add_logging(simulate)

    demo = sub.add_parser("demo", help="run the simulator and the exporter against it")
    demo.add_argument("--web.listen-address", dest="listen", default="127.0.0.1:9891")
    demo.add_argument(
        "--simulator.listen", dest="simulator_listen", default=DEFAULT_SIMULATOR_LISTEN
    )
    demo.add_argument("--interval", default="5s", help="poll interval of the demo targets")
    _add_set_option(demo)
    _add_logging(demo)
    return parser


def shard_from(index: str | None, count: int | None, hostname: str | None = None) -> Shard | None:
    """The `--shard.*` flags as a Shard; 'hostname' takes the ordinal after the last '-'."""
    if index is None and count is None:
        return None
    if index is None or count is None:
        raise ValueError("--shard.index and --shard.count go together")
    if index == "hostname":
        import socket

        name = hostname or socket.gethostname()
        index = name.rsplit("-", 1)[-1]
    if not index.isdigit() or count < 1 or int(index) >= count:
        raise ValueError(f"invalid shard {index}/{count}: need 0 <= index < count")
    return Shard(int(index), count)


async def _serve_until_signalled(exporter: Exporter, extra_stop: Any = None) -> None:
    loop = asyncio.get_running_loop()
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
        if extra_stop is not None:
            await extra_stop()


def cmd_run(args: argparse.Namespace) -> int:
    """`run`: the daemon, until SIGTERM/SIGINT; SIGHUP reloads."""
    configure(args.log_level, args.log_format)
    try:
        shard = shard_from(args.shard_index, args.shard_count)
        parse_listen_address(args.listen)
        web_config = load_web_config(args.web_config) if args.web_config else None
    except (ValueError, WebConfigError) as exc:
        log.error("startup_failed", error=str(exc))
        return 2

    tune_gc()

    async def main() -> int:
        exporter = Exporter(args.config, args.listen, web_config, shard)
        try:
            await exporter.start()
        except ConfigError as exc:
            log.error("config_invalid", errors=exc.errors)
            await exporter.stop()
            return 1
        except OSError as exc:
            log.error("listen_failed", error=str(exc))
            await exporter.stop()
            return 2
        await _serve_until_signalled(exporter)
        return 0

    return asyncio.run(main())


def cmd_check(args: argparse.Namespace) -> int:
    """`check`: validate and print every error with its YAML path."""
    try:
        loaded = config_mod.load(args.config)
    except ConfigError as exc:
        print(redact.redact(f"{args.config}: {len(exc.errors)} error(s)"), file=sys.stderr)
        for error in exc.errors:
            print(redact.redact(f"  {error}"), file=sys.stderr)
        return 1
    print(f"{args.config}: OK, {len(loaded.targets)} target(s)")
    return 0


def cmd_once(args: argparse.Namespace) -> int:
    """`once`: poll every target once and print the exposition; 0 only if all are up."""
    configure(args.log_level, args.log_format)
    try:
        loaded = config_mod.load(args.config)
    except ConfigError as exc:
        for error in exc.errors:
            print(redact.redact(error), file=sys.stderr)
        return 1

    async def main() -> tuple[bool, bytes]:
        from exporter.collector import Collector
        from exporter.http import new_session
        from exporter.scheduler import Scheduler
        from exporter.store import Store

        store = Store()
        async with new_session() as session:
            scheduler = Scheduler(session, store)
            scheduler.configure(loaded)
            ok = await scheduler.poll_all_once()
        return ok, Collector(store).exposition(openmetrics=args.openmetrics)

    ok, body = asyncio.run(main())
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
    return 0 if ok else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    """`simulate`: the fake upstreams only, until interrupted."""
    from exporter.simulator import Simulation

    configure(args.log_level, args.log_format)
    try:
        host, port = parse_listen_address(args.listen)
        options = simulator_options(args.settings)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2

    async def main() -> int:
        try:
            sim = Simulation(options, host, port, args.seed)
        except TypeError as exc:
            print(f"invalid simulator knob: {exc}", file=sys.stderr)
            return 2
        await sim.start()
        print(f"simulator listening on {sim.url}", flush=True)
        for name in sim.systems:
            print(f"  {name}: control API {sim.url}/_sim/{name}/faults", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await sim.stop()
        return 0

    return asyncio.run(main())


def demo_config(sim_url: str, systems: dict[str, Any], interval: str) -> dict[str, Any]:
    """The config the demo runs the exporter with."""
    timeout = min(4.0, parse_duration(interval) * 0.8)
    return {
        "global": {"interval": interval, "timeout": f"{timeout:g}s", "stale_after": "1m"},
        "targets": [system.demo_target(sim_url) for system in systems.values()],
    }


def cmd_demo(args: argparse.Namespace) -> int:
    """`demo`: the simulator and the exporter against it; prints the URLs."""
    from exporter.simulator import Simulation

    configure(args.log_level, args.log_format)
    try:
        sim_host, sim_port = parse_listen_address(args.simulator_listen)
        options = simulator_options(args.settings)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    tune_gc()

    async def main() -> int:
        sim = Simulation(options, sim_host, sim_port)
        await sim.start()
        with tempfile.TemporaryDirectory(prefix="dataflow-exporter-demo-") as tmp:
            path = Path(tmp) / "demo.yaml"
            path.write_text(yaml.safe_dump(demo_config(sim.url, sim.systems, args.interval)))
            exporter = Exporter(path, args.listen)
            try:
                await exporter.start()
            except (ConfigError, OSError) as exc:
                print(f"demo failed to start: {exc}", file=sys.stderr)
                await exporter.stop()
                await sim.stop()
                return 1
            host = parse_listen_address(args.listen)[0]
            base = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{exporter.port}"
            print(
                f"dataflow-exporter demo is running (Ctrl-C to stop)\n"
                f"  status page: {base}/\n"
                f"  metrics:     {base}/metrics\n"
                f"  simulator:   {sim.url}  (faults: {sim.url}/_sim/<system>/faults)\n"
                f"  config:      {path}",
                flush=True,
            )
            await _serve_until_signalled(exporter, sim.stop)
        return 0

    return asyncio.run(main())


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "once": cmd_once,
    "simulate": cmd_simulate,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `dataflow-exporter` command."""
    args = build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return COMMANDS[args.command](args)
    return 130


if __name__ == "__main__":
    sys.exit(main())
