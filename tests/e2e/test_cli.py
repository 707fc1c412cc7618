"""The `workbench` command as a real process: exit codes, output, the run directory, Ctrl-C."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench import commands
from workbench.cli import main

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
name: cli
data:
  source: shapes
  path: {data}
  image_size: [16, 16]
  shapes: {{train_per_class: 24, val_per_class: 8, size: 16}}
model:
  layers: [flatten, {{linear: {{out_features: 32}}}}, relu, {{linear: {{out_features: auto}}}}]
train: {{epochs: {epochs}, device: cpu}}
"""


def write_config(tmp_path: Path, epochs: int = 2) -> Path:
    path = tmp_path / "cli.yaml"
    path.write_text(CONFIG.format(data=tmp_path / "shapes", epochs=epochs))
    return path


def workbench(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=240, **kwargs)


LOSING_A_CTRL_C = """
import importlib, signal, sys
from workbench.cli import main

module = importlib.import_module(sys.argv[1])
seed = module.seed_everything


def seed_losing_a_ctrl_c(value):  # as numpy.random's Cython import does: the interrupt raised in it, cleared by C
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        pass
    seed(value)


module.seed_everything = seed_losing_a_ctrl_c
sys.exit(main(sys.argv[2:]))
"""


def workbench_losing_a_ctrl_c(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`workbench ARGS` that gets a Ctrl-C in `module`'s seed_everything and loses its KeyboardInterrupt there."""
    return subprocess.run([sys.executable, "-c", LOSING_A_CTRL_C, module, *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=240)


def test_run_trains_and_prints_plain_epoch_lines(tmp_path: Path) -> None:
    result = workbench("--run", str(write_config(tmp_path)), "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["1/2", "2/2"]
    run_dir = Path(lines[-1].removeprefix("run directory: "))
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.endswith("-cli")
    assert (run_dir / "checkpoints" / "best.pt").exists()


def test_runs_go_to_the_current_folder_and_set_overrides(tmp_path: Path) -> None:
    result = workbench("--run", str(write_config(tmp_path)), "--set", "train.epochs=1", "--set", "name=quick",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [run_dir] = (tmp_path / "runs").iterdir()
    assert run_dir.name.endswith("-quick")
    assert "epochs: 1" in (run_dir / "config.yaml").read_text()


def test_typo_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("epochs:", "epoch:"))
    result = workbench("--run", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "train.epoch" in result.stderr and "did you mean 'epochs'?" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_missing_data_folder_exits_2_naming_the_path(tmp_path: Path) -> None:
    result = workbench("--run", str(write_config(tmp_path)), "--set", "data.source=folder",
                       "--set", f"data.path={tmp_path / 'nowhere'}", cwd=tmp_path)
    assert result.returncode == 2
    assert str(tmp_path / "nowhere") in result.stderr


def test_headless_run_never_imports_textual(tmp_path: Path) -> None:
    code = ("import sys\nfrom workbench.cli import main\n"
            f"code = main(['--run', {str(write_config(tmp_path, epochs=1))!r}])\n"
            "print('textual loaded:', 'textual' in sys.modules, 'exit:', code)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=240)
    assert result.stdout.strip().splitlines()[-1] == "textual loaded: False exit: 0", result.stderr


def test_ctrl_c_saves_last_and_exits_130(tmp_path: Path) -> None:
    config = write_config(tmp_path, epochs=10_000)
    process = subprocess.Popen([sys.executable, "-m", "workbench", "--run", str(config)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while not list((tmp_path / "runs").glob("*/metrics.csv")) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    [run_dir] = (tmp_path / "runs").iterdir()
    assert (run_dir / "checkpoints" / "last.pt").exists()
    assert '"state": "stopped"' in (run_dir / "status.json").read_text()
    assert "run directory:" in stdout


def test_resume_extends_a_scheduled_run_as_asked_and_records_the_choice(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = workbench("--run", str(write_config(tmp_path, epochs=1)), "--set", "train.schedule={name: cosine}",
                      "--runs-dir", str(runs), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run_dir = first.stdout.splitlines()[-1].removeprefix("run directory: ")
    assert workbench("--run", str(tmp_path / "cli.yaml"), "--extend", "reschedule", cwd=tmp_path).returncode == 2

    resumed = workbench("--resume", run_dir, "--set", "train.epochs=2", "--extend", "reschedule", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "run resumed after epoch 1; the schedule laid over all 2 epochs" in resumed.stdout
    events = [json.loads(line) for line in (Path(run_dir) / "events.jsonl").read_text().splitlines()]
    assert [event["extension"] for event in events if event["type"] == "run_resumed"] == ["reschedule"]


def test_check_prints_the_layer_table(tmp_path: Path) -> None:
    result = workbench("check", str(write_config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "linear" in result.stdout and "5 classes" in result.stdout


def test_check_exits_nonzero_on_a_shape_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[flatten, ", "["))
    result = workbench("check", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "linear #0" in result.stderr and "flatten" in result.stderr


@pytest.mark.parametrize("stdin", ["devnull", "tty-less pipe"])
def test_the_app_without_a_terminal_says_to_train_headless_and_exits_2_at_once(tmp_path: Path, stdin: str) -> None:
    started = time.monotonic()
    result = workbench(cwd=tmp_path, stdin=subprocess.DEVNULL if stdin == "devnull" else None,
                       input=None if stdin == "devnull" else "")
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr and "--run" in result.stderr
    assert time.monotonic() - started < 20  # never waits for input nor spins


SAY_HELLO = '''"""`workbench say-hello NAME`: a command made up by the test."""
USAGE = "NAME"
SUMMARY = "greet NAME"


def add_arguments(parser):
    parser.add_argument("name")


def run(args):
    print(f"hello {args.name}")
    return 3
'''


def test_a_module_in_the_commands_package_is_listed_and_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "say_hello.py").write_text(SAY_HELLO)
    monkeypatch.setattr(commands, "__path__", [*commands.__path__, str(tmp_path)])
    try:
        with pytest.raises(SystemExit):
            main(["--help"])
        listed = [line.split() for line in capsys.readouterr().out.splitlines()]
        assert ["workbench", "say-hello", "NAME", "greet", "NAME"] in listed
        assert ["workbench", "check", "CONFIG", "print", "the", "layer", "table", "and", "shape", "checks"] in listed
        assert main(["say-hello", "world"]) == 3
        assert capsys.readouterr().out == "hello world\n"
    finally:
        sys.modules.pop(f"{commands.__name__}.say_hello", None)
        vars(commands).pop("say_hello", None)


@pytest.mark.parametrize("argv", [["--run", "--help"], ["train", "--help"], ["export", "-o", "-h"]])
def test_help_anywhere_prints_the_help_and_exits_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: workbench")


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "say_hello.py").write_text(SAY_HELLO)
    monkeypatch.setattr(commands, "__path__", [*commands.__path__, str(tmp_path)])
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head` does once it has its lines
    with open(write_end, "w") as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        try:
            assert main(["say-hello", "world"]) == 141
        finally:
            sys.modules.pop(f"{commands.__name__}.say_hello", None)
            vars(commands).pop("say_hello", None)
            monkeypatch.undo()
    assert capsys.readouterr().err == ""


def test_the_console_names_the_runs_warnings_at_its_start() -> None:
    from core.train.events import RunStarted
    from workbench.headless import console_line

    started = RunStarted(run_dir="runs/x", name="x", device="cpu", epochs=1, classes=["cats", "dogs"], train_samples=9,
                         val_samples=3, batches_per_epoch=1, parameters=10, skipped_files=0,
                         warnings=["no validation images for class dogs: val_accuracy leaves it out"])
    assert console_line(started).splitlines()[1:] == ["warning: no validation images for class dogs: val_accuracy "
                                                      "leaves it out"]
