"""The command line, as a user runs it (a subprocess) and as Prometheus users expect it: flag
names, defaults in help, the default command, log levels and formats, `check` as the example
config documents it, and demo's ports."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

from dataflow_exporter import cli
from dataflow_exporter.log import configure, get_logger
from dataflow_exporter.simulator import Simulation
from tests.support.helpers import promtool_check_metrics, value
from tests.support.ports import free_port

# Tests that start the command as a subprocess are marked slow: each start costs about a second.
CLI = [sys.executable, "-m", "dataflow_exporter.cli"]
SECRET = "cli-secret-5d2c8e"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.yaml"
COMMANDS = ("run", "check", "once", "simulate", "demo")


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no sub-commands")


def flags(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            yield action


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(cli.with_default_command(argv))


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    async with Simulation({"peerdb": {"password": SECRET}}) as s:
        yield s


def config_file(tmp_path: Path, url: str, password: str = SECRET) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "global": {"interval": "2s", "timeout": "1s"},
                "targets": [{"name": "pg", "system": "peerdb", "url": url, "password": password}],
            }
        )
    )
    return path


async def run_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


@pytest.mark.slow
async def test_check_accepts_a_good_config(tmp_path: Path) -> None:
    result = await run_cli("check", str(config_file(tmp_path, "http://peerdb:3000")))
    assert result.returncode == 0
    assert "OK, 1 target(s)" in result.stdout


@pytest.mark.slow
async def test_check_lists_every_error_with_its_path_and_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "targets:\n"
        f"  - {{name: a, system: peerdb, url: 'http://p', password: {SECRET}, extra: 1}}\n"
        "  - {name: a, system: peerdb}\n"
    )
    result = await run_cli("check", str(path))
    assert result.returncode == 1
    assert "targets[0] (name: a).extra: unknown key" in result.stderr
    assert "targets[1] (name: a).url: required key is missing" in result.stderr
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.slow
async def test_once_prints_metrics_that_promtool_accepts(sim: Simulation, tmp_path: Path) -> None:
    result = await run_cli(
        "once", "--config", str(config_file(tmp_path, sim.url)), "--log.format", "json"
    )
    assert result.returncode == 0, result.stderr
    assert (
        value(
            result.stdout,
            "peerdb_mirror_status",
            mirror="users_mysql_to_ch",
            status="STATUS_FAILED",
        )
        == 1
    )
    assert SECRET not in result.stdout + result.stderr
    promtool_check_metrics(result.stdout)


@pytest.mark.slow
async def test_once_exits_1_when_a_target_is_down(sim: Simulation, tmp_path: Path) -> None:
    result = await run_cli(
        "once", "--config", str(config_file(tmp_path, sim.url, "wrong-password"))
    )
    assert result.returncode == 1
    assert value(result.stdout, "dataflow_exporter_target_up", target="pg") == 0
    assert "wrong-password" not in result.stderr


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def _wait_for(url: str, deadline: float = 15) -> str:
    end = time.monotonic() + deadline
    while True:
        try:
            return _get(url)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


@pytest.mark.slow
async def test_run_reloads_on_sighup_and_stops_cleanly_on_sigterm(
    sim: Simulation, tmp_path: Path
) -> None:
    port = free_port()
    path = config_file(tmp_path, sim.url)
    proc = await asyncio.create_subprocess_exec(
        *CLI, "run", "--config", str(path), "--web.listen-address", f"127.0.0.1:{port}",
        "--log.format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.to_thread(_wait_for, f"http://127.0.0.1:{port}/-/ready")
        data = yaml.safe_load(path.read_text())
        data["targets"].append(
            {"name": "pg2", "system": "peerdb", "url": sim.url, "password": SECRET}
        )
        path.write_text(yaml.safe_dump(data))
        proc.send_signal(signal.SIGHUP)
        for _ in range(100):
            text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
            if value(text, "dataflow_exporter_target_up", target="pg2") is not None:
                break
            await asyncio.sleep(0.1)
        assert value(text, "dataflow_exporter_target_polls_total", target="pg2") is not None
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    logs = err.decode() + out.decode()
    assert proc.returncode == 0
    assert '"event": "config_reloaded"' in logs
    assert '"event": "exporter_stopped"' in logs
    assert "Traceback" not in logs and "Task was destroyed" not in logs and "Unclosed" not in logs
    assert SECRET not in logs


@pytest.mark.slow
async def test_demo_serves_the_simulated_upstreams_and_prints_its_urls() -> None:
    port, sim_port = free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        *CLI, "demo", "--web.listen-address", f"127.0.0.1:{port}",
        "--simulator.listen", f"127.0.0.1:{sim_port}", "--interval", "1s",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert "demo is running" in banner
        status_line = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
        assert f"http://127.0.0.1:{port}/" in status_line
        await asyncio.to_thread(_wait_for, f"http://127.0.0.1:{port}/-/ready")
        text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
        assert value(text, "dataflow_exporter_target_up", target="peerdb-demo") == 1
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0


@pytest.mark.slow
async def test_run_collects_cycles_rarely_and_freezes_start_up_objects(tmp_path: Path) -> None:
    # A fresh interpreter, as `dataflow-exporter run` starts; a config error ends it right after.
    probe = (
        "import gc, sys; from dataflow_exporter import cli; "
        "from dataflow_exporter.daemon import GC_THRESHOLDS; "
        "rc = cli.main(['run', '--config', sys.argv[1]]); "
        "print(rc, gc.get_threshold() == GC_THRESHOLDS, gc.get_freeze_count() > 0)"
    )
    missing = str(tmp_path / "missing.yaml")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, missing, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert out.decode().split() == ["1", "True", "True"]


# Flags, log options and `check` as Prometheus users expect them.


def test_config_file_without_a_command_means_run() -> None:
    args = parse("--config.file=exporter.yaml", "--web.listen-address=:9999")
    assert (args.command, args.config_file, args.listen) == ("run", "exporter.yaml", ":9999")


@pytest.mark.parametrize(
    "argv", [["run", "--config", "c.yaml"], ["run", "--config.file", "c.yaml"]]
)
def test_run_and_config_stay_as_aliases(argv: list[str]) -> None:
    args = parse(*argv)
    assert (args.command, args.config_file) == ("run", "c.yaml")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("level", ["debug", "info", "warn", "error"])
def test_every_command_takes_the_prometheus_log_levels(command: str, level: str) -> None:
    extra = ["--config.file=c.yaml"] if command in ("run", "once") else []
    assert parse(command, *extra, f"--log.level={level}").log_level == level


def test_log_level_warning_is_read_as_warn() -> None:
    assert parse("simulate", "--log.level", "warning").log_level == "warn"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_every_command_takes_logfmt_and_json(command: str, fmt: str) -> None:
    extra = ["--config.file=c.yaml"] if command in ("run", "once") else []
    assert parse(command, *extra, f"--log.format={fmt}").log_format == fmt


def test_logfmt_lines_carry_the_event_and_level_filtering_holds() -> None:
    out = io.StringIO()
    configure("warn", "logfmt", out)
    log = get_logger("test")
    log.info("hidden_at_warn")
    log.warning("poll_finished", target="pg one", outcome="failure")
    assert out.getvalue().splitlines() == [
        line for line in out.getvalue().splitlines() if "event=poll_finished" in line
    ]
    assert 'target="pg one"' in out.getvalue() and "level=warning" in out.getvalue()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_help_shows_its_default(command: str) -> None:
    parser = subparsers()[command]
    text = " ".join(parser.format_help().split())
    options = text[text.index("options:") :]
    # Each flag's entry runs from its name to the next flag's name.
    starts = sorted(options.index(f" {a.option_strings[0]} ") for a in flags(parser))
    entries = [options[a:b] for a, b in zip(starts, [*starts[1:], len(options)], strict=True)]
    assert len(entries) == len(list(flags(parser))) > 0
    assert all("(default: " in entry for entry in entries), entries


# Where each flag belongs: a command that has the concept uses exactly this name.
SHARED = {
    "--config.file": ("run", "check", "once"),
    "--log.level": COMMANDS,
    "--log.format": COMMANDS,
    "--web.listen-address": ("run", "demo"),
    "--web.config.file": ("run", "demo"),
    "--simulator.listen-address": ("simulate", "demo"),
    "--simulator.seed": ("simulate", "demo"),
    "--set": ("simulate", "demo"),
}


@pytest.mark.parametrize("flag", sorted(SHARED))
def test_shared_flags_have_the_same_name_in_every_command(flag: str) -> None:
    having = tuple(c for c, p in subparsers().items() if flag in p._option_string_actions)
    assert sorted(having) == sorted(SHARED[flag])


def test_a_flag_name_means_one_thing_across_commands() -> None:
    meaning: dict[str, tuple[str, object]] = {}
    for command, parser in subparsers().items():
        for action in flags(parser):
            for name in action.option_strings:
                seen = meaning.setdefault(name, (action.dest, action.help))
                assert seen == (action.dest, action.help), (command, name)


# `check`, as config.example.yaml tells its reader to run it.


def example_check_commands() -> list[list[str]]:
    header = [line for line in EXAMPLE.read_text().splitlines() if line.startswith("#")]
    found = [re.search(r"dataflow-exporter (check .*)$", line) for line in header]
    return [m.group(1).split() for m in found if m]


def test_the_example_config_names_its_check_commands() -> None:
    assert {tuple(c[:2]) for c in example_check_commands()} == {
        ("check", "--syntax-only"),
        ("check", "--config.file=config.example.yaml"),
    }


@pytest.mark.slow
async def test_the_example_configs_syntax_check_passes_without_its_secrets() -> None:
    (command,) = [c for c in example_check_commands() if "--syntax-only" in c]
    env = {k: v for k, v in os.environ.items() if not k.endswith(("PASSWORD", "API_KEY", "SECRET"))}
    proc = await asyncio.create_subprocess_exec(
        *CLI, *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "syntax OK, 4 target(s)" in out.decode()


@pytest.mark.slow
async def test_the_example_configs_full_check_passes_with_its_variables_set() -> None:
    (command,) = [c for c in example_check_commands() if "--syntax-only" not in c]
    names = set(re.findall(r"\$\{([A-Z_]+)\}", EXAMPLE.read_text()))
    env = {**os.environ, **{name: f"value-of-{name.lower()}" for name in names}}
    proc = await asyncio.create_subprocess_exec(
        *CLI, *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.slow
async def test_check_lists_unset_variables_and_missing_files_apart_with_exit_3(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "targets:\n"
        "  - {name: a, system: peerdb, url: 'http://p:3000', password: '${DFX_UNSET_A}'}\n"
        f"  - {{name: b, system: peerdb, url: 'http://p:3000', password_file: {tmp_path}/gone}}\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "DFX_UNSET_A"}
    result = await run_cli("check", "--config.file", str(path), env=env)
    assert result.returncode == 3
    heading, *lines = result.stderr.splitlines()
    assert "2 problem(s) with the environment" in heading and "error(s)" not in result.stderr
    assert lines == [
        "  targets[0] (name: a).password: environment variable DFX_UNSET_A is not set",
        f"  targets[1] (name: b).password_file: {tmp_path}/gone: no such file",
    ]
    syntax = await run_cli("check", "--syntax-only", str(path), env=env)
    assert (syntax.returncode, syntax.stderr) == (0, "")


@pytest.mark.slow
async def test_check_reports_mistakes_first_with_exit_1(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "targets:\n"
        "  - {name: a, system: peerdb, url: 'http://p:80800', password: '${DFX_UNSET_B}'}\n",
    )
    result = await run_cli("check", str(path), "--syntax-only")
    assert result.returncode == 1
    assert result.stderr.splitlines()[1] == (
        "  targets[0] (name: a).url: has an invalid port: expected a number from 1 to 65535"
    )


@pytest.mark.slow
async def test_check_without_a_file_says_which_flag_is_missing() -> None:
    result = await run_cli("check")
    assert result.returncode == 2
    assert "--config.file" in result.stderr


# The daemon started the Prometheus way, and demo's ports.


@pytest.mark.slow
async def test_config_file_flag_alone_runs_the_daemon(tmp_path: Path) -> None:
    path = write(tmp_path, "targets: [{name: a, system: peerdb, url: 'http://127.0.0.1:9'}]\n")
    proc = await asyncio.create_subprocess_exec(
        *CLI, f"--config.file={path}", "--web.listen-address=127.0.0.1:0", "--log.format=json",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        started: dict[str, str] = {}
        while started.get("event") != "exporter_started":
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert line, "the daemon exited before it started serving"
            started = json.loads(line)
        url = f"http://{started['listen']}/-/healthy"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
        assert body == b"Healthy.\n"
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield int(held.getsockname()[1])


def demo_args(*argv: str) -> argparse.Namespace:
    return parse("demo", *argv)


@pytest.fixture
async def stop_afterwards() -> AsyncIterator[list[object]]:
    started: list[object] = []
    yield started
    for thing in started:
        await thing.stop()  # type: ignore[attr-defined]


async def test_demo_simulator_moves_to_a_free_port_when_its_default_is_taken(
    busy_port: int, stop_afterwards: list[object], capsys: pytest.CaptureFixture[str]
) -> None:
    args = demo_args()
    args.simulator_listen = f"127.0.0.1:{busy_port}"  # as if this were the default
    sim = await cli._start_simulation(args, cli.simulator_options([]))
    stop_afterwards.append(sim)
    assert sim.port not in (0, busy_port)
    assert f"127.0.0.1:{busy_port} is taken" in capsys.readouterr().out


async def test_demo_exporter_moves_to_a_free_port_when_its_default_is_taken(
    busy_port: int, tmp_path: Path, stop_afterwards: list[object]
) -> None:
    args = demo_args()
    args.listen = f"127.0.0.1:{busy_port}"
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(cli.demo_config("http://127.0.0.1:9", {}, "5s") | {
        "targets": [{"name": "a", "system": "peerdb", "url": "http://127.0.0.1:9"}]
    }))  # fmt: skip
    exporter = await cli._start_exporter(args, config, None)
    stop_afterwards.append(exporter)
    assert exporter.port not in (None, 0, busy_port)


@pytest.mark.slow
async def test_demo_names_a_busy_address_given_by_flag_and_its_flag(busy_port: int) -> None:
    result = await run_cli("demo", f"--simulator.listen-address=127.0.0.1:{busy_port}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"demo: 127.0.0.1:{busy_port} is already in use; "
        "choose another address with --simulator.listen-address"
    ]


@pytest.mark.slow
async def test_run_with_an_unusable_config_logs_each_problem_unmasked_and_no_stop(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "targets:\n"
        "  - {name: f, system: feldera, url: 'http://127.0.0.1:1', api_key: '${DFX_UNSET_C}'}\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "DFX_UNSET_C"}
    result = await run_cli("run", "--config", str(path), "--web.listen-address",
                           "127.0.0.1:0", "--log.format", "json", env=env)  # fmt: skip
    assert result.returncode == 1
    (line,) = [json.loads(row) for row in result.stderr.splitlines()]
    assert line["event"] == "config_invalid"
    assert line["errors"] == [
        {
            "at": "targets[0] (name: f).api_key",
            "problem": "environment variable DFX_UNSET_C is not set",
        }
    ]


GOOD_TARGET = "targets: [{name: p, system: peerdb, url: 'http://p:3000'}]\n"


def test_check_checks_every_file_given_and_exits_with_the_worst(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad, unset = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "unset.yaml"
    good.write_text(GOOD_TARGET)
    bad.write_text("targets: 3\n")
    unset.write_text(
        "targets: [{name: p, system: peerdb, url: 'http://p:3000', password: '${DFX_NOPE_9}'}]\n"
    )
    assert cli.main(["check", "--config.file", str(good), str(bad)]) == cli.EXIT_INVALID
    out = capsys.readouterr()
    assert f"{good}: OK, 1 target(s)" in out.out
    assert f"{bad}: 1 error(s)" in out.err
    assert cli.main(["check", str(unset), str(good)]) == cli.EXIT_ENVIRONMENT
    assert cli.main(["check", str(unset), str(bad), str(good)]) == cli.EXIT_INVALID
    assert cli.main(["check", str(good), str(good)]) == cli.EXIT_OK


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_check_counts_a_secret_file_that_is_no_regular_file_as_the_environment(
    tmp_path: Path, kind: str
) -> None:
    special = tmp_path / kind
    if kind == "directory":
        special.mkdir()
    else:
        os.mkfifo(special)
    config = tmp_path / "c.yaml"
    config.write_text(
        "targets: [{name: p, system: peerdb, url: 'http://p:3000', "
        f"password_file: '{special}'}}]\n"
    )
    assert cli.main(["check", str(config)]) == cli.EXIT_ENVIRONMENT
    assert cli.main(["check", "--syntax-only", str(config)]) == cli.EXIT_OK
