"""Command line: `run` (also the default: `dataflow-exporter --config.file=F`), `check`, `once`,
`simulate` and `demo`, with Prometheus-style flag names shared across them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from dataflow_exporter import __version__, config_messages, known_secrets
from dataflow_exporter import config as config_mod
from dataflow_exporter.config import Config
from dataflow_exporter.config_models import SHARD_RANGE, SHARD_TOGETHER, Shard, parse_duration
from dataflow_exporter.daemon import run_until_signalled, tune_gc
from dataflow_exporter.errors import ConfigError, WebConfigError
from dataflow_exporter.exporter import DEFAULT_LISTEN, Exporter, parse_listen_address
from dataflow_exporter.log import FORMATS, LEVELS, configure, get_logger
from dataflow_exporter.webconfig import WebConfig, load_web_config

DEFAULT_DEMO_LISTEN = "127.0.0.1:9891"
DEFAULT_SIMULATOR_LISTEN = "127.0.0.1:9900"
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3
log = get_logger("dataflow_exporter.cli")

DESCRIPTION = """Prometheus exporter for PeerDB, Feldera, Confluent cluster linking and Etlworks.

`dataflow-exporter --config.file=FILE [flags]` runs the daemon, as `run` does (its flags:
`dataflow-exporter run --help`)."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every flag's help ends with its default; descriptions keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        default = action.default
        if default is None or default == []:
            shown = "none"
        elif isinstance(default, bool):
            shown = "on" if default else "off"
        else:
            shown = str(default).replace("%", "%%")
        return f"{text} (default: {shown})"


class _Explicit(argparse.Action):
    """Stores the value and notes that the user gave the flag (demo falls back to a free port
    only for an address it chose itself)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        explicit: frozenset[str] = getattr(namespace, "explicit", frozenset())
        namespace.explicit = explicit | {self.dest}


def _level(text: str) -> str:
    # `warning` is what earlier versions and Python's logging call it.
    return "warn" if text == "warning" else text


def _add_logging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log.level",
        dest="log_level",
        default="info",
        type=_level,
        choices=LEVELS,
        help="only log messages of this severity or above",
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        default="auto",
        choices=FORMATS,
        help="auto: console lines on a terminal, JSON lines otherwise",
    )


def _add_config_file(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--config.file",
        "--config",
        dest="config_file",
        metavar="FILE",
        required=required,
        default=None,
        help="the config file (YAML)",
    )


def _add_web(parser: argparse.ArgumentParser, listen: str) -> None:
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default=listen,
        action=_Explicit,
        metavar="ADDRESS",
        help="host:port the exporter serves /metrics and its status page on",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config",
        default=None,
        metavar="FILE",
        help="exporter-toolkit web config: TLS and basic auth",
    )
    parser.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="serve POST /-/reload (off: it answers 403; SIGHUP reloads either way)",
    )


def _add_simulator(parser: argparse.ArgumentParser, *aliases: str) -> None:
    parser.add_argument(
        "--simulator.listen-address",
        *aliases,
        dest="simulator_listen",
        default=DEFAULT_SIMULATOR_LISTEN,
        action=_Explicit,
        metavar="ADDRESS",
        help="host:port the simulated upstreams answer on",
    )
    parser.add_argument(
        "--simulator.seed",
        "--seed",
        dest="seed",
        type=int,
        default=1,
        help="random seed of the simulated scenario",
    )
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
    from dataflow_exporter.simulator import SIMULATORS

    options: dict[str, dict[str, Any]] = {name: {} for name in SIMULATORS}
    for setting in settings:
        key, sep, raw = setting.partition("=")
        system, dot, knob = key.partition(".")
        if not sep or not dot or system not in options or not knob.isidentifier():
            raise ValueError(f"invalid --set {setting!r}: expected SYSTEM.KNOB=VALUE")
        options[system][knob] = yaml.safe_load(raw)
    return options


def _add_command(sub: Any, name: str, help_text: str, description: str = "") -> Any:
    return sub.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        formatter_class=_HelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="dataflow-exporter", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"dataflow-exporter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _add_command(sub, "run", "run the exporter daemon (the default command)")
    _add_config_file(run, required=True)
    _add_web(run, DEFAULT_LISTEN)
    run.add_argument(
        "--shard.index",
        dest="shard_index",
        default=None,
        metavar="N",
        help="this replica's shard index, or 'hostname' for a StatefulSet ordinal",
    )
    run.add_argument(
        "--shard.count",
        dest="shard_count",
        type=int,
        default=None,
        metavar="N",
        help="number of shards",
    )
    _add_logging(run)

    check = _add_command(
        sub,
        "check",
        "validate a config file and exit",
        "Validate config files and exit.\n\nExit status, the worst file's: 0 valid; 1 mistakes in "
        "the file; "
        "2 bad command line;\n3 the file is valid but environment variables are unset or files "
        "it names are\nmissing or unreadable (not checked with --syntax-only).",
    )
    _add_config_file(check, required=False)
    check.add_argument(
        "config", nargs="*", metavar="FILE", help="config files to check, each in turn"
    )
    check.add_argument(
        "--syntax-only",
        dest="syntax_only",
        action="store_true",
        help="check the structure only: ignore unset environment variables and the files "
        "the config names (secrets need not be at hand)",
    )
    _add_logging(check)

    once = _add_command(sub, "once", "poll every target once and print the metrics")
    _add_config_file(once, required=True)
    once.add_argument("--openmetrics", action="store_true", help="print OpenMetrics text")
    _add_logging(once)

    simulate = _add_command(sub, "simulate", "serve the simulated upstreams only")
    _add_simulator(simulate, "--listen")
    _add_logging(simulate)

    demo = _add_command(
        sub,
        "demo",
        "run the simulator and the exporter against it",
        "Run the simulator and the exporter against it. If a default port is taken, a free\n"
        "one is used instead; an address given with a flag must be free.",
    )
    _add_web(demo, DEFAULT_DEMO_LISTEN)
    _add_simulator(demo, "--simulator.listen")
    demo.add_argument("--interval", default="5s", help="poll interval of the demo targets")
    _add_logging(demo)
    return parser


def shard_from(index: str | None, count: int | None, hostname: str | None = None) -> Shard | None:
    """The `--shard.*` flags as a Shard; 'hostname' takes the ordinal after the last '-'."""
    if index is None and count is None:
        return None
    shown = index
    if index == "hostname":
        import socket

        name = hostname or socket.gethostname()
        index = name.rsplit("-", 1)[-1]
        shown = f"hostname ({name})"
    given: dict[str, int | str] = {}
    if index is not None:
        # Digits become a number; any other text is left for the model to refuse.
        given["index"] = int(index) if index.isascii() and index.isdigit() else index
    if count is not None:
        given["count"] = count
    try:
        return Shard.model_validate(given)
    except ValidationError as exc:
        loc, message, _ = next(config_messages.translate(exc))
    # The model's words, completed with the flags as the user typed them.
    if message == SHARD_TOGETHER:
        raise ValueError("--shard.index and --shard.count go together")
    if message == SHARD_RANGE:
        raise ValueError(f"invalid shard {index}/{count}: need 0 <= index < count")
    value = shown if loc == ("index",) else count
    raise ValueError(f"--shard.{loc[0]} {value}: {message}")


def _address_in_use(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE


def _listen_error(address: str, flag: str, exc: OSError) -> str:
    """One line that names the address, the problem and the flag that changes it."""
    problem = "is already in use" if _address_in_use(exc) else f"cannot be used ({exc.strerror})"
    return f"{address} {problem}; choose another address with {flag}"


def cmd_run(args: argparse.Namespace) -> int:
    """`run`: the daemon, until SIGTERM/SIGINT; SIGHUP reloads."""
    configure(args.log_level, args.log_format)
    try:
        shard = shard_from(args.shard_index, args.shard_count)
        parse_listen_address(args.listen)
        web_config = load_web_config(args.web_config) if args.web_config else None
    except (ValueError, WebConfigError) as exc:
        log.error("startup_failed", error=str(exc))
        return EXIT_USAGE

    tune_gc()

    async def main() -> int:
        exporter = Exporter(
            args.config_file,
            args.listen,
            web_config,
            shard,
            enable_lifecycle=args.enable_lifecycle,
        )
        try:
            await exporter.start()
        except ConfigError as exc:
            log.error(
                "config_invalid", file=args.config_file, errors=config_mod.log_form(exc.errors)
            )
            await exporter.stop()
            return EXIT_INVALID
        except OSError as exc:
            log.error(
                "listen_failed", error=_listen_error(args.listen, "--web.listen-address", exc)
            )
            await exporter.stop()
            return EXIT_USAGE
        await run_until_signalled(exporter)
        return EXIT_OK

    return asyncio.run(main())


def cmd_check(args: argparse.Namespace) -> int:
    """`check`: for each file given, every mistake with its YAML path, then, apart, what the
    environment lacks. The exit status is the worst file's."""
    configure(args.log_level, args.log_format)
    paths = ([args.config_file] if args.config_file else []) + list(args.config)
    if not paths:
        print("check needs a config file: --config.file=FILE", file=sys.stderr)
        return EXIT_USAGE
    statuses = [_check_one(path, syntax_only=args.syntax_only) for path in paths]
    return next((s for s in (EXIT_INVALID, EXIT_ENVIRONMENT) if s in statuses), EXIT_OK)


def _check_one(path: str, *, syntax_only: bool) -> int:
    report = config_mod.check(path, syntax_only=syntax_only)

    def show(heading: str, lines: list[str]) -> None:
        print(known_secrets.redact(heading), file=sys.stderr)
        for line in lines:
            print(known_secrets.redact(f"  {line}"), file=sys.stderr)

    if report.errors:
        show(f"{path}: {len(report.errors)} error(s)", report.errors)
    if report.environment:
        show(
            f"{path}: {len(report.environment)} problem(s) with the environment "
            f"(unset variables, missing or unreadable files; --syntax-only skips these)",
            report.environment,
        )
    if report.errors:
        return EXIT_INVALID
    if report.environment:
        return EXIT_ENVIRONMENT
    scope = "syntax OK" if syntax_only else "OK"
    print(f"{path}: {scope}, {report.targets} target(s)")
    return EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    """`once`: poll every target once and print the exposition; 0 only if all are up."""
    configure(args.log_level, args.log_format)
    try:
        loaded = config_mod.load(args.config_file)
    except ConfigError as exc:
        for error in exc.errors:
            print(known_secrets.redact(error), file=sys.stderr)
        return EXIT_INVALID

    async def main() -> tuple[bool, bytes]:
        # The process's own metrics describe this short run, not a daemon: left out.
        exporter = Exporter(loaded, runtime_metrics=False)
        try:
            ok = await exporter.poll_once()
            return ok, exporter.exposition(openmetrics=args.openmetrics)
        finally:
            await exporter.stop()

    ok, body = asyncio.run(main())
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
    return EXIT_OK if ok else EXIT_INVALID


def cmd_simulate(args: argparse.Namespace) -> int:
    """`simulate`: the fake upstreams only, until interrupted."""
    from dataflow_exporter.simulator import Simulation

    configure(args.log_level, args.log_format)
    try:
        host, port = parse_listen_address(args.simulator_listen)
        options = simulator_options(args.settings)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE

    async def main() -> int:
        try:
            sim = Simulation(options, host, port, args.seed)
        except TypeError as exc:
            print(f"invalid simulator knob: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            await sim.start()
        except OSError as exc:
            await sim.stop()
            flag = "--simulator.listen-address"
            print(_listen_error(args.simulator_listen, flag, exc), file=sys.stderr)
            return EXIT_USAGE
        print(f"simulator listening on {sim.url}", flush=True)
        for name in sim.systems:
            print(f"  {name}: control API {sim.url}/_sim/{name}/faults", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await sim.stop()
        return EXIT_OK

    return asyncio.run(main())


def demo_config(sim_url: str, systems: dict[str, Any], interval: str) -> dict[str, Any]:
    """The config the demo runs the exporter with, as YAML data."""
    timeout = min(4.0, parse_duration(interval) * 0.8)
    return {
        "global": {"interval": interval, "timeout": f"{timeout:g}s", "stale_after": "1m"},
        "targets": [system.demo_target(sim_url) for system in systems.values()],
    }


T = TypeVar("T")


class _BusyAddressError(Exception):
    """An address the demo cannot listen on, as one line for the user."""


async def _listening(
    args: argparse.Namespace, dest: str, flag: str, what: str, start: Callable[[str], Awaitable[T]]
) -> T:
    """`start(address)` on the address of `dest`; when that address is the default and taken,
    again on a free port. `start` cleans up after itself when it fails."""
    address: str = getattr(args, dest)
    try:
        return await start(address)
    except OSError as exc:
        if dest in getattr(args, "explicit", ()) or not _address_in_use(exc):
            raise _BusyAddressError(_listen_error(address, flag, exc)) from None
    print(f"note: {address} is taken; the {what} uses a free port", flush=True)
    host = parse_listen_address(address)[0]
    return await start(f"[{host}]:0" if ":" in host else f"{host}:0")


async def _start_simulation(args: argparse.Namespace, options: Any) -> Any:
    """The demo's simulator, on a free port if the default one is taken."""
    from dataflow_exporter.simulator import Simulation

    async def start(address: str) -> Simulation:
        host, port = parse_listen_address(address)
        sim = Simulation(options, host, port, args.seed)
        try:
            await sim.start()
        except OSError:
            await sim.stop()
            raise
        return sim

    return await _listening(
        args, "simulator_listen", "--simulator.listen-address", "simulator", start
    )


async def _start_exporter(
    args: argparse.Namespace, config: Config | Path, web_config: WebConfig | None
) -> Exporter:
    """The demo's exporter, on a free port if the default one is taken."""

    async def start(address: str) -> Exporter:
        exporter = Exporter(config, address, web_config, enable_lifecycle=args.enable_lifecycle)
        try:
            await exporter.start()
        except OSError:
            await exporter.stop()
            raise
        return exporter

    return await _listening(args, "listen", "--web.listen-address", "exporter", start)


def cmd_demo(args: argparse.Namespace) -> int:
    """`demo`: the simulator and the exporter against it; prints the URLs."""
    configure(args.log_level, args.log_format)
    try:
        parse_listen_address(args.simulator_listen)
        parse_listen_address(args.listen)
        options = simulator_options(args.settings)
        parse_duration(args.interval)
        web_config = load_web_config(args.web_config) if args.web_config else None
    except (ValueError, WebConfigError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    tune_gc()

    async def main() -> int:
        try:
            sim = await _start_simulation(args, options)
        except _BusyAddressError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            config = config_mod.parse(demo_config(sim.url, sim.systems, args.interval))
            exporter = await _start_exporter(args, config, web_config)
        except (_BusyAddressError, ConfigError, OSError) as exc:
            print(f"demo: {exc}", file=sys.stderr)
            await sim.stop()
            return EXIT_USAGE
        host = parse_listen_address(args.listen)[0]
        scheme = "https" if web_config and web_config.ssl_context else "http"
        base = f"{scheme}://{'127.0.0.1' if host == '0.0.0.0' else host}:{exporter.port}"
        print(
            f"dataflow-exporter demo is running (Ctrl-C to stop)\n"
            f"  status page: {base}/\n"
            f"  metrics:     {base}/metrics\n"
            f"  status API:  {base}/api/v1/status\n"
            f"  simulator:   {sim.url}/  (faults: {sim.url}/_sim/<system>/faults)",
            flush=True,
        )
        await run_until_signalled(exporter, sim.stop)
        return EXIT_OK

    return asyncio.run(main())


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "once": cmd_once,
    "simulate": cmd_simulate,
    "demo": cmd_demo,
}


def with_default_command(argv: Sequence[str]) -> list[str]:
    """`dataflow-exporter --config.file=F ...`, as Prometheus exporters are started, means `run`."""
    args = list(argv)
    if args and args[0].startswith("-") and args[0] not in ("-h", "--help", "--version"):
        return ["run", *args]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `dataflow-exporter` command."""
    args = build_parser().parse_args(with_default_command(sys.argv[1:] if argv is None else argv))
    with contextlib.suppress(KeyboardInterrupt):
        return COMMANDS[args.command](args)
    return 130


if __name__ == "__main__":
    sys.exit(main())
