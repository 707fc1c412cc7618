"""`workbench --run` under signals, as a real process: SIGTERM and SIGHUP stop politely, a second
signal aborts, a Ctrl-C during start-up exits 130 without a traceback, SIGKILL reads as
"ended unexpectedly"."""
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.model.checkpoints import load_checkpoint
from core.runs.history import list_runs
from tests.e2e.test_cli import CONFIG, ROOT, workbench_losing_a_ctrl_c
from workbench.headless import StopRequest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]
ENDS_WITHIN = 150  # seconds for a signalled run to end on a starved machine: its stop or abort, then the
# interpreter's teardown (105 s alone at nice 19 beside two CPU hogs)


def start(tmp_path: Path, *, epochs: int = 10_000, config: str | None = None, ignore_hangup: bool = False,
          **sets: str) -> subprocess.Popen:
    path = tmp_path / "run.yaml"
    path.write_text(config or CONFIG.format(data=tmp_path / "shapes", epochs=epochs))
    overrides = [arg for key, value in sets.items() for arg in ("--set", f"{key.replace('__', '.')}={value}")]
    hangup = signal.SIG_IGN if ignore_hangup else signal.SIG_DFL  # ignored as nohup does; else as a shell starts it,
    # also when the suite itself runs under nohup (a child inherits an ignored signal)
    # -X faulthandler: a SIGABRT from a test that gave up waiting prints where each thread was
    return subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "workbench", "--run", str(path), *overrides],
                            cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, hangup),
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_for(tmp_path: Path, pattern: str, process: subprocess.Popen, deadline: float = 120) -> Path:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = list((tmp_path / "runs").glob(pattern))
        if found:
            return found[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"nothing matched {pattern} in time")


def status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_politely_saving_last_pt(tmp_path, signum, code):
    process = start(tmp_path)
    run_dir = wait_for(tmp_path, "*/metrics.csv", process).parent
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=ENDS_WITHIN)
    assert process.returncode == code, stderr
    assert status(run_dir)["state"] == "stopped" and "Traceback" not in stderr
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"] >= 1


def test_a_hangup_nohup_ignores_stays_ignored(tmp_path):
    process = start(tmp_path, ignore_hangup=True)
    run_dir = wait_for(tmp_path, "*/metrics.csv", process).parent
    metrics = run_dir / "metrics.csv"
    epochs = len(metrics.read_text().splitlines())
    process.send_signal(signal.SIGHUP)
    end = time.monotonic() + 120
    while len(metrics.read_text().splitlines()) == epochs:  # the run goes on to its next epoch (a stop would not)
        assert process.poll() is None and time.monotonic() < end, process.communicate()
        time.sleep(0.05)
    assert process.poll() is None and status(run_dir)["state"] == "running"
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=ENDS_WITHIN)
    assert process.returncode == 130 and status(run_dir)["state"] == "stopped"


def wait_until_importing_torch(process: subprocess.Popen, deadline: float = 60) -> None:
    """Until torch's library is mapped into the process: the command has started (a Ctrl-C while Python
    itself starts up is the interpreter's to report) and the run directory does not exist yet."""
    maps = Path(f"/proc/{process.pid}/maps")
    end = time.monotonic() + deadline
    while "libtorch" not in maps.read_text():
        assert process.poll() is None and time.monotonic() < end, process.communicate()
        time.sleep(0.01)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc/PID/maps")
def test_ctrl_c_while_starting_exits_130_with_one_line(tmp_path):
    process = start(tmp_path)
    wait_until_importing_torch(process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=ENDS_WITHIN)
    assert process.returncode == 130
    assert len(stderr.strip().splitlines()) == 1 and "interrupted" in stderr, stderr
    assert not list((tmp_path / "runs").glob("*/status.json"))


def test_ctrl_c_while_preparing_the_data_aborts_at_once(tmp_path):
    process = start(tmp_path, data__shapes__train_per_class="4000")  # seconds of image generation
    run_dir = wait_for(tmp_path, "*/status.json", process).parent
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=ENDS_WITHIN)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert "aborted" in stderr and status(run_dir)["state"] == "aborted"
    assert not list(tmp_path.glob(".shapes.partial-*"))  # no half-generated data left


BIG = CONFIG.replace("out_features: 32", "out_features: 2048")  # 1.6M parameters: each save takes a while


def test_a_second_ctrl_c_aborts_and_is_recorded_as_aborted(tmp_path):
    process = start(tmp_path, config=BIG.format(data=tmp_path / "shapes", epochs=10_000))
    run_dir = wait_for(tmp_path, "*/metrics.csv", process).parent
    lines: list[str] = []

    def second_ctrl_c() -> None:  # once the first is handled, not coalesced with it
        for line in process.stderr:
            lines.append(line)
            if "stopping after this step" in line:
                process.send_signal(signal.SIGINT)

    reader = threading.Thread(target=second_ctrl_c)
    reader.start()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=ENDS_WITHIN)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        process.wait(timeout=30)
        reader.join()
        pytest.fail(f"the run was still running {ENDS_WITHIN} s after Ctrl-C; its stderr, stacks last:\n"
                    + "".join(lines))
    reader.join()
    stderr = "".join(lines)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert "aborted" in stderr, stderr
    assert status(run_dir)["state"] == "aborted"
    assert [run.state for run in list_runs(tmp_path / "runs")] == ["aborted"]


def test_an_abort_standing_still_for_its_grace_ends_the_process():
    """Whatever the interrupt left waiting (a lock, a worker), the second Ctrl-C ends the process."""
    exited: list[int] = []
    done = threading.Event()
    stop = StopRequest(grace=0.01, force_exit=lambda code: (exited.append(code), done.set()))
    stop.training = True
    stop._handle(signal.SIGTERM, None)  # the polite stop: nothing to force
    assert stop.requested() and not exited
    with pytest.raises(KeyboardInterrupt):
        stop._handle(signal.SIGINT, None)
    assert done.wait(timeout=30) and exited == [143]  # the first signal's code, as a clean abort exits


def test_an_abort_that_moves_however_slowly_is_let_run_until_its_limit():
    """A starved machine unwinds slowly: while the aborting thread runs, only the limit ends it."""
    exited: list[float] = []
    done = threading.Event()
    stop = StopRequest(grace=0.05, limit=1.0, force_exit=lambda code: (exited.append(time.monotonic()), done.set()),
                       thread_clock=itertools.count().__next__)  # runs a little between any two looks
    signalled = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        stop._handle(signal.SIGINT, None)
    assert done.wait(timeout=30) and exited[0] - signalled >= 1.0


def test_an_abort_whose_interrupt_was_lost_is_raised_at_the_next_check():
    """C code can clear the KeyboardInterrupt of a second Ctrl-C: the engine's next check raises it again."""
    with StopRequest(force_exit=lambda code: None) as stop:
        stop.begin_training()
        stop._handle(signal.SIGINT, None)
        assert stop.should_stop()  # the polite stop
        try:
            stop._handle(signal.SIGINT, None)
        except KeyboardInterrupt:
            pass  # lost, as C code would lose it
        with pytest.raises(KeyboardInterrupt):
            stop.should_stop()


def test_a_ctrl_c_whose_interrupt_was_lost_before_training_aborts_as_training_begins(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(CONFIG.format(data=tmp_path / "shapes", epochs=10_000))
    result = workbench_losing_a_ctrl_c("core.train.engine", "--run", str(path), cwd=tmp_path)
    assert result.returncode == 130 and "aborted at once" in result.stderr, result.stderr
    [run] = list_runs(tmp_path / "runs")
    assert run.state == "aborted" and not (run.path / "metrics.csv").exists()


def test_sigkill_reads_as_ended_unexpectedly(tmp_path):
    process = start(tmp_path)
    run_dir = wait_for(tmp_path, "*/checkpoints/last.pt", process).parent.parent
    process.kill()
    process.wait(timeout=30)
    assert status(run_dir)["state"] == "running"
    [summary] = list_runs(tmp_path / "runs")
    assert summary.state == "ended unexpectedly"
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"] >= 1


def test_a_dropped_terminal_stops_politely_saving_last_pt(tmp_path):
    """As over SSH: the run owns a terminal (progress bar and all) that goes away."""
    import fcntl
    import select
    import termios

    master, terminal = os.openpty()

    def own_the_terminal() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)  # not ignored, even when the suite runs under nohup
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    path = tmp_path / "run.yaml"
    path.write_text(CONFIG.format(data=tmp_path / "shapes", epochs=10_000))
    process = subprocess.Popen([sys.executable, "-m", "workbench", "--run", str(path)], cwd=tmp_path,
                               stdin=terminal, stdout=terminal, stderr=terminal, preexec_fn=own_the_terminal,
                               env={**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"})
    os.close(terminal)
    reading = True

    def drain() -> None:  # a terminal someone watches: never full
        while reading:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    return

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        run_dir = wait_for(tmp_path, "*/metrics.csv", process).parent
    finally:
        reading = False
        reader.join()
        os.close(master)  # the SSH connection drops: the kernel sends SIGHUP
    assert process.wait(timeout=ENDS_WITHIN) == 129
    assert status(run_dir)["state"] == "stopped"
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"] >= 1
