"""TensorBoard on the runs folder, served to this machine only: a child process the app starts and stops.

It listens on 127.0.0.1 (never on every address) at a free port, so from another machine it is
reached through an SSH tunnel: `ssh -L PORT:127.0.0.1:PORT user@host`, then http://127.0.0.1:PORT
there. The server runs in a process group of its own, so stopping it stops its data server too;
only that group, which this object started, is ever signalled. On Linux it also gets SIGTERM if
the app dies without stopping it (PR_SET_PDEATHSIG, set by `python -m core.runs.tensorboard_server` before
TensorBoard starts).
"""
from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from core.runs.rundir import LAUNCHES

HOST = "127.0.0.1"
STOP_WAIT_SECONDS = 5.0
OUTPUT_TAIL_CHARS = 2000

def free_port(host: str = HOST) -> int:
    """A port nothing listens on right now, by binding port 0 on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ssh_tunnel(port: int) -> str:
    """The command that forwards the port from another machine to this one."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return f"ssh -L {port}:{HOST}:{port} {user}@{socket.gethostname()}"


class TensorBoardServer:
    """One TensorBoard process on `logdir`; `start`, `wait_ready`, `stop`."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = Path(logdir)
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._output: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def tunnel(self) -> str:
        return ssh_tunnel(self.port or 0)

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "core.runs.tensorboard_server", "--logdir", str(self.logdir), "--host", HOST,
                "--port", str(port)]

    def start(self) -> str:
        """Start the server (once) and return its URL; OSError when it cannot be started."""
        if self.is_running:
            return self.url
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._output = self.logdir / LAUNCHES / "tensorboard.log"
        self._output.parent.mkdir(parents=True, exist_ok=True)
        with self._output.open("wb") as output:
            self.process = subprocess.Popen(self.command(self.port), stdin=subprocess.DEVNULL, stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self.url

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.2) -> bool:
        """Wait until the server accepts connections; False when it ended or the time ran out."""
        if self.port is None:
            return False  # never started
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running:
                return False
            if port_open(self.port):
                return True
            time.sleep(interval)
        return False

    def output_tail(self) -> str:
        """What the server printed last (why it ended, when it did)."""
        try:
            return self._output.read_text(errors="replace").strip()[-OUTPUT_TAIL_CHARS:] if self._output else ""
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server and its data server: SIGTERM to its own process group, SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is not None:
            return  # ended by itself (its data server dies with it: it watches its stdin)
        self._signal_group(process, signal.SIGTERM)
        try:
            process.wait(STOP_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self._signal_group(process, signal.SIGKILL)
            process.wait(STOP_WAIT_SECONDS)

    @staticmethod
    def _signal_group(process: subprocess.Popen, signum: int) -> None:
        """Signal the group our unreaped child leads (start_new_session made its pgid its pid), nothing else."""
        if process.returncode is not None:
            return  # reaped: its pid may name another process now
        try:
            os.killpg(process.pid, signum)
        except OSError:
            pass


def _serve() -> None:
    """`python -m core.runs.tensorboard_server ARGS`: TensorBoard with ARGS, ended by SIGTERM when its parent dies."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    from tensorboard.main import run_main

    sys.argv = ["tensorboard", *sys.argv[1:]]
    run_main()


if __name__ == "__main__":
    _serve()
