"""The README as a newcomer follows it: each shell command of its ```sh blocks, in order, exits 0.

Commands are read from README.md, not copied here. They run in a scratch folder that looks like a
fresh clone after `make` (`.venv` and `configs` linked from the repository, an empty `data/`), so runs, data
and `-o` outputs land there and never in the repository. A ```yaml block whose first line is
`# NAME.yaml` is saved there as NAME.yaml, as the README asks. `workbench --run` trains one epoch
(`--set train.epochs=1` is appended) and `--resume` one more. What needs the network or a person is listed in NOT_RUN; a
download is stood in for by the team's shared copy (`<repo>/../shared/datasets`) when there is one.
A command of any other kind fails this test until it is run here or listed in NOT_RUN.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import parse_config
from tests.shared_data import SHARED_DATASETS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LINKED = ("configs",)  # what the README's commands read from the repository, besides .venv
NOT_RUN = {  # leading words -> why this test does not run the command
    ("make", "run"): "opens the interactive app",
    ("make", "test"): "runs this test suite",
    ("curl",): "needs the network (unzip below stands in for it)",
    ("tensorboard",): "a server that runs until stopped",
}
NEEDS_MACHINES = ("--nnodes=2", "postgresql://")  # a torchrun line or a shared sweep for several machines
TORCHRUN = (".venv/bin/torchrun", "torchrun")
WORKBENCH = {(".venv/bin/workbench",), ("workbench",), ("python", "-m", "workbench"), ("python3", "-m", "workbench")}
UNZIP = re.compile(r"unzip (?:-q )?(?P<archive>\S+\.zip) -d (?P<folder>\S+)$")


@dataclass(frozen=True)
class Command:
    line: str  # as written in the README, comment dropped
    block: int  # which ```sh block
    downloads: tuple[str, ...]  # archives unzipped earlier in the same block, by stem
    shell: str = ""  # the line as written, for lines with shell syntax such as $(...)


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.MULTILINE | re.DOTALL)


def readme_commands() -> list[Command]:
    commands = []
    for block, text in enumerate(readme_blocks("(?:sh|bash|shell)")):
        downloads: list[str] = []
        for line in text.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            shell = line.split("  #")[0].strip() if "$(" in line else ""
            commands.append(Command(shlex.join(words), block, tuple(downloads), shell))
            unzipped = UNZIP.match(shlex.join(words))
            if unzipped:
                downloads.append(Path(unzipped["archive"]).stem)
    return commands


def workbench_args(words: list[str]) -> list[str] | None:
    """The arguments after the `workbench` command itself; None when the line runs something else."""
    for prefix in WORKBENCH:
        if tuple(words[:len(prefix)]) == prefix:
            return words[len(prefix):]
    return None


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder laid out like a fresh clone, plus the README's named YAML files."""
    folder = tmp_path_factory.mktemp("readme")
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    if (ROOT / ".venv" / "bin" / "workbench").exists():
        (folder / ".venv").symlink_to(ROOT / ".venv")
    else:  # tests run by a Python outside .venv: the same command through it
        shim = folder / ".venv" / "bin" / "workbench"
        shim.parent.mkdir(parents=True)
        shim.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m workbench "$@"\n')
        shim.chmod(0o755)
    (folder / "data").mkdir()
    for command in readme_commands():  # what unzip would unpack: the shared copy, where there is one
        unzipped = UNZIP.match(command.line)
        if unzipped and (SHARED_DATASETS / Path(unzipped["archive"]).stem).is_dir():
            target = folder / unzipped["folder"] / Path(unzipped["archive"]).stem
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(SHARED_DATASETS / target.name)
    for text in readme_blocks("yaml"):
        named = re.match(r"# (\S+\.ya?ml)\n", text)
        if named:
            (folder / named[1]).write_text(text)
    return folder


def test_the_readme_shows_the_commands_a_newcomer_needs() -> None:
    runs = [workbench_args(shlex.split(c.line)) for c in readme_commands()]
    firsts = {args[0] for args in runs if args}
    assert {"--help", "--run", "check", "export-code"} <= firsts
    assert any(args[:2] == ["--run", "configs/shapes.yaml"] for args in runs if args)


@pytest.mark.parametrize("text", readme_blocks("yaml"), ids=lambda text: text.splitlines()[0])
def test_readme_yaml_is_a_valid_config(text: str) -> None:
    parse_config(text)


@pytest.mark.parametrize("command", readme_commands(), ids=lambda c: c.line)
def test_readme_command_exits_0(command: Command, clone: Path) -> None:
    words = shlex.split(command.line)
    for prefix, reason in NOT_RUN.items():
        if tuple(words[:len(prefix)]) == prefix:
            pytest.skip(f"not run: {reason}")
    unzipped = UNZIP.match(command.line)
    if unzipped:  # the clone fixture linked the shared copy where unzip would unpack it
        stem = Path(unzipped["archive"]).stem
        if not (SHARED_DATASETS / stem).is_dir():
            pytest.skip(f"unpacks a download: no shared copy of {stem} at {SHARED_DATASETS / stem}")
        assert (clone / unzipped["folder"] / stem).is_dir()
        return
    if any(word.startswith(NEEDS_MACHINES) for word in words):
        pytest.skip("not run: needs several machines")
    if command.shell:  # shell syntax: run by the shell, as a person would paste it
        extend = " --set train.epochs=2" if "--resume" in words else ""  # one epoch past the one --run trained
        run_in(clone, ["bash", "-c", command.shell + extend], command.line)
        return
    if words[0] in TORCHRUN:
        run_in(clone, [".venv/bin/python", "-m", "torch.distributed.run", *words[1:], "--set", "train.epochs=1"],
               command.line)
        return
    args = workbench_args(words)
    if args is None:
        pytest.fail(f"README command {command.line!r}: run it in this test or add it to NOT_RUN with a reason")
    if not {"--run", "--help", "-h"} & set(args) and (not args or args[0].endswith((".yaml", ".yml"))):
        pytest.skip("not run: opens the interactive app")
    missing = [stem for stem in command.downloads if not (SHARED_DATASETS / stem).is_dir()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}, downloaded above: no shared copy in {SHARED_DATASETS}")
    if "--run" in args:
        args = [*args, "--set", "train.epochs=1"]
    run_in(clone, [".venv/bin/workbench", *args], command.line)
    for flag in ("-o", "--output"):
        if flag in args:
            assert (clone / args[args.index(flag) + 1]).is_file()


def run_in(clone: Path, argv: list[str], line: str) -> None:
    result = subprocess.run(argv, cwd=clone, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
