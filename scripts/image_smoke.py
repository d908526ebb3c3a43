"""Build the container image from the unchanged Dockerfile with podman, run it, and check it.

    .venv/bin/python scripts/image_smoke.py

Where no registry is reachable the Dockerfile's `FROM` image cannot be pulled, so a base with the
same tag is made locally with mmdebstrap from the host's Debian release and mirror: Debian's
Python in a minimal root file system, with pip, setuptools and wheel in /usr/local as the
official image has them. It is not the published base; it proves that the Dockerfile builds and
that the image runs. Everything happens in a private podman store in a temporary directory,
removed at the end, so the host's images (and any real `python:` image there) are left alone.

Checks: `--help`; the image's default command with a mounted config polling the simulator (run
on the host, the container shares the host's network); every target up in `/metrics`;
`/-/healthy`; `/runbooks` (the package data made it into the image); the image's HEALTHCHECK
(`podman healthcheck run`); a non-root uid; exit status 0 on SIGTERM; the image size within
IMAGE_BUDGET_MB and what the Dockerfile adds within ADDED_BUDGET_MB.

Needs Linux, root, podman, runc and mmdebstrap (`apt-get install podman runc mmdebstrap`), and
port 9891 free (the HEALTHCHECK probes it). Without them it prints one line saying what is
missing and exits 0, or 1 when IMAGE_SMOKE_REQUIRED=1 (as `.ci/run` sets where it could install
them). Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
# Budgets, in MB (10^6 bytes) as podman reports them. What the Dockerfile adds to its base (the
# virtualenv: aiohttp, pydantic, msgspec, bcrypt and the package, ~32 MB) is the part this
# project controls; above ADDED_BUDGET_MB something unintended (a compiler, a pip cache, the
# source tree) got in. The published python:3.11-slim base is ~125 MB; the stand-in ~150 MB.
ADDED_BUDGET_MB = 50
IMAGE_BUDGET_MB = 200
PORT = 9891  # the image's EXPOSE and the port its HEALTHCHECK probes
IMAGE = "localhost/dataflow-exporter:smoke"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# Timeouts, in seconds, for each step; generous for a loaded 2-core machine.
BASE_TIMEOUT = 900
BUILD_TIMEOUT = 900
START_TIMEOUT = 60
TARGETS_TIMEOUT = 120
STOP_TIMEOUT = 30
COMMAND_TIMEOUT = 120


class SmokeError(Exception):
    """A check the image failed, as one line for the user."""


def skip_reason() -> str | None:
    """Why podman cannot build and run the image here, or None when it can."""
    if sys.platform != "linux":
        return "podman builds here only on Linux"
    if os.geteuid() != 0:
        return "needs root (rootful podman; mmdebstrap builds the base as root)"
    for tool in ("podman", "runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install podman runc mmdebstrap)"
    return None


def base_image_name(dockerfile: str) -> str:
    """The fully qualified name of the Dockerfile's first `FROM` image, as podman resolves
    a Docker Hub short name."""
    match = re.search(r"^FROM\s+(?:--\S+\s+)*(\S+)", dockerfile, re.MULTILINE)
    if match is None:
        raise SmokeError("Dockerfile: no FROM line")
    name = match[1]
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def os_release(key: str) -> str:
    """A value of the host's /etc/os-release."""
    for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        if name == key:
            return value.strip().strip('"')
    raise SmokeError(f"/etc/os-release has no {key}: mmdebstrap needs the Debian suite")


def debian_mirror() -> str:
    """The host's Debian mirror (deb822 or one-line sources), or deb.debian.org."""
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        for line in deb822.read_text(encoding="utf-8").splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    classic = Path("/etc/apt/sources.list")
    if classic.exists():
        for line in classic.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if fields[:1] == ["deb"] and fields[-1:] != [] and "security" not in line:
                return next(f for f in fields[1:] if "://" in f)
    return "http://deb.debian.org/debian"


def containers_conf() -> str:
    """podman settings that also work in a container sandbox: ulimits within the hard limits
    (no CAP_SYS_RESOURCE to raise them), runc with cgroupfs (crun refuses a hybrid cgroup
    layout), and the host's network (no bridge or iptables needed)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc, 32768)
    if nofile == resource.RLIM_INFINITY:
        nofile = 1048576
    return (
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        'netns = "host"\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_taken(port: int) -> bool:
    """Whether something already listens on `port` of the host."""
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, TimeoutError):
        return 0, ""


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    """Poll `check` every half second until it holds; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SmokeError(f"{what}: not after {timeout:g} s")
        time.sleep(0.5)


class Podman:
    """podman against a private store, with this run's containers.conf."""

    def __init__(self, work: Path) -> None:
        self.work = work
        conf = work / "containers.conf"
        conf.write_text(containers_conf(), encoding="utf-8")
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf), "TMPDIR": str(work / "tmp")}
        (work / "tmp").mkdir()
        self.prefix = ["podman", "--root", str(work / "root"), "--runroot", str(work / "run")]

    def run(
        self, *args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """One podman command; its output is returned, and shown when it fails."""
        try:
            result = subprocess.run(
                [*self.prefix, *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SmokeError(f"podman {args[0]}: no answer after {timeout:g} s") from None
        if check and result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise SmokeError(f"podman {' '.join(args[:2])}: exit status {result.returncode}")
        return result

    def cleanup(self) -> None:
        """Remove every container and image of the private store, and unmount what the
        store's driver left mounted below it, so the directory can go."""
        self.run("rm", "--all", "--force", "--time", "0", check=False)
        self.run("rmi", "--all", "--force", check=False)
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
        below = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{self.work}/")]
        for mount in sorted(below, key=len, reverse=True):
            subprocess.run(["umount", mount], capture_output=True, timeout=30, check=False)


def step(message: str) -> None:
    print(f"image smoke: {message}", flush=True)


def build_base(podman: Podman, work: Path, name: str) -> None:
    """A Debian-made stand-in for the Dockerfile's base image, tagged `name`."""
    suite = os_release("VERSION_CODENAME")
    mirror = debian_mirror()
    # The official image has pip, setuptools and wheel in /usr/local and no EXTERNALLY-MANAGED
    # marker; the Dockerfile's `pip uninstall` relies on both.
    hook = (
        'chroot "$1" sh -ec "rm -f /usr/lib/python3*/EXTERNALLY-MANAGED; '
        'python3 \\"$(ls /usr/share/python-wheels/pip-*.whl)/pip\\" install --quiet '
        '--no-index --find-links /usr/share/python-wheels pip setuptools wheel"'
    )
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else work))  # tmpfs: ~3x faster
    tarball = work / "base.tar"
    try:
        started = time.monotonic()
        result = subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                # Like Debian's slim images: no manuals, documentation or translations.
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                "--dpkgopt=path-exclude=/usr/share/info/*",
                "--include=python3,python3-venv,python-is-python3,python3-wheel-whl,"
                "ca-certificates",
                f"--customize-hook={hook}",
                suite,
                str(tarball),
                mirror,
            ],
            env={**os.environ, "TMPDIR": str(scratch)},
            capture_output=True,
            text=True,
            timeout=BASE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SmokeError(f"mmdebstrap: not done after {BASE_TIMEOUT} s") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SmokeError(f"mmdebstrap {suite} {mirror}: exit status {result.returncode}")
    podman.run(
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        "ENV LANG=C.UTF-8",
        str(tarball),
        name,
    )
    tarball.unlink()
    step(f"base {name} made from Debian {suite} in {time.monotonic() - started:.0f} s")


def build_image(podman: Podman, work: Path) -> None:
    """The Dockerfile, unchanged, built into IMAGE."""
    mounts: list[str] = []
    if HOST_CA.exists():
        # A TLS-inspecting proxy's CA may be in the host's bundle only: pip uses it during the
        # build, and the image itself keeps its own bundle.
        pip_conf = work / "pip.conf"
        pip_conf.write_text("[global]\ncert = /run/host-ca.pem\n", encoding="utf-8")
        mounts = [
            "--volume",
            f"{HOST_CA}:/run/host-ca.pem:ro",
            "--volume",
            f"{pip_conf}:/etc/pip.conf:ro",
        ]
    started = time.monotonic()
    # The docker format keeps HEALTHCHECK, which the OCI format silently drops.
    podman.run(
        "build",
        "--format",
        "docker",
        "--network",
        "host",
        "--pull=never",
        *mounts,
        "--tag",
        IMAGE,
        "--file",
        str(DOCKERFILE),
        str(ROOT),
        timeout=BUILD_TIMEOUT,
    )
    step(f"image {IMAGE} built in {time.monotonic() - started:.0f} s")


@contextmanager
def simulator(port: int) -> Iterator[str]:
    """`dataflow-exporter simulate` on the host, at the URL yielded."""
    exe = Path(sys.executable).parent / "dataflow-exporter"
    process = subprocess.Popen(
        [
            str(exe),
            "simulate",
            f"--simulator.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("simulator answering", lambda: http_get(url + "/")[0] == 200, START_TIMEOUT)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def targets_up(metrics: str) -> dict[str, bool]:
    """dataflow_exporter_target_up per target name, from an exposition."""
    up: dict[str, bool] = {}
    for match in re.finditer(
        r'^dataflow_exporter_target_up\{[^}]*target="([^"]+)"[^}]*\} (\S+)$', metrics, re.M
    ):
        up[match[1]] = float(match[2]) == 1.0
    return up


def smoke(podman: Podman, work: Path, sim_url: str) -> None:
    """Run the image's default command against the simulator and check what it promises."""
    from dataflow_exporter.cli import demo_config
    from dataflow_exporter.simulator import Simulation

    config = demo_config(sim_url, Simulation().systems, "2s")
    names = sorted(target["name"] for target in config["targets"])
    config_file = work / "config.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    config_file.chmod(0o644)  # the image's user is not root

    helped = podman.run("run", "--rm", IMAGE, "--help")
    if "usage: dataflow-exporter" not in helped.stdout:
        raise SmokeError(f"--help printed no usage line: {helped.stdout[:200]!r}")
    step("--help prints the usage")

    name = f"dataflow-exporter-smoke-{os.getpid()}-{time.monotonic_ns() % 1000000}"
    podman.run(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        "--volume",
        f"{config_file}:/etc/dataflow-exporter/config.yaml:ro",
        IMAGE,
    )
    base = f"http://127.0.0.1:{PORT}"
    try:
        wait_for(
            "/-/healthy answering 200",
            lambda: http_get(base + "/-/healthy")[0] == 200,
            START_TIMEOUT,
        )
        step("/-/healthy answers 200")

        def all_up() -> bool:
            status, body = http_get(base + "/metrics")
            return status == 200 and targets_up(body) == dict.fromkeys(names, True)

        wait_for(f"every target up in /metrics ({', '.join(names)})", all_up, TARGETS_TIMEOUT)
        step(f"/metrics: {len(names)}/{len(names)} targets up ({', '.join(names)})")

        # The runbooks the alerts link to ship inside the package, so inside the image.
        served, page = http_get(base + "/runbooks")
        if served != 200 or 'id="peerdbmirrorfailed"' not in page:
            raise SmokeError(f"/runbooks: status {served}, or no anchor for the alerts' links")
        step("/runbooks serves the runbooks with their anchors")

        health = podman.run("healthcheck", "run", name, check=False)
        if health.returncode != 0:
            raise SmokeError(f"HEALTHCHECK: exit status {health.returncode} {health.stdout!r}")
        step("HEALTHCHECK passes (podman healthcheck run)")

        uid = podman.run("exec", name, "id", "-u").stdout.strip()
        if uid in ("", "0"):
            raise SmokeError(f"the container runs as uid {uid or '?'}, not an unprivileged user")
        step(f"runs as uid {uid}")

        podman.run("kill", "--signal", "TERM", name)
        status = podman.run("wait", name, timeout=STOP_TIMEOUT).stdout.strip()
        if status != "0":
            raise SmokeError(f"exit status {status} on SIGTERM, not 0")
        step("exits 0 on SIGTERM")
    except SmokeError:
        logs = podman.run("logs", "--tail", "40", name, check=False)
        sys.stderr.write(logs.stdout + logs.stderr)
        raise
    finally:
        podman.run("rm", "--force", "--time", "0", name, check=False)


def image_megabytes(podman: Podman, name: str) -> float:
    """The size podman reports for an image, in MB."""
    return int(podman.run("image", "inspect", "--format", "{{.Size}}", name).stdout) / 1e6


def check_size(podman: Podman, base: str) -> None:
    """The image and what the Dockerfile added to its base, each within its budget."""
    total = image_megabytes(podman, IMAGE)
    added = total - image_megabytes(podman, base)
    if added > ADDED_BUDGET_MB:
        raise SmokeError(f"the Dockerfile adds {added:.0f} MB, over {ADDED_BUDGET_MB} MB")
    if total > IMAGE_BUDGET_MB:
        raise SmokeError(f"image is {total:.0f} MB, over its {IMAGE_BUDGET_MB} MB budget")
    step(
        f"image size {total:.0f} MB (budget {IMAGE_BUDGET_MB} MB), "
        f"{added:.0f} MB added to the base (budget {ADDED_BUDGET_MB} MB)"
    )


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # runs the cleanup in `finally` blocks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the private podman store and print how to use it (for a closer look)",
    )
    args = parser.parse_args(argv)
    required = os.environ.get("IMAGE_SMOKE_REQUIRED") == "1"
    reason = skip_reason()
    if reason is None and port_taken(PORT):
        reason = f"port {PORT} is in use on this host, and the image's HEALTHCHECK probes it"
    if reason is not None:
        print(f"image smoke {'FAILED' if required else 'skipped'}: {reason}", flush=True)
        return 1 if required else 0
    signal.signal(signal.SIGTERM, _terminated)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="dataflow-exporter-image-"))
    podman = Podman(work)
    try:
        base = base_image_name(DOCKERFILE.read_text(encoding="utf-8"))
        build_base(podman, work, base)
        build_image(podman, work)
        check_size(podman, base)
        with simulator(free_port()) as sim_url:
            smoke(podman, work, sim_url)
    except SmokeError as exc:
        print(f"image smoke FAILED: {exc}", flush=True)
        return 1
    finally:
        if args.keep:
            step(f"kept: CONTAINERS_CONF={work}/containers.conf {' '.join(podman.prefix)} ...")
        else:
            podman.cleanup()
            shutil.rmtree(work, ignore_errors=True)
    step(f"passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
