"""The multi-machine path: two sweep commands, as two machines, share one study on a real PostgreSQL server.

The server is a throwaway cluster (Debian's `postgresql` package): initdb into a temporary folder,
pg_ctl on a free port on 127.0.0.1, stopped at the end. initdb refuses root, so as root the
cluster belongs to the `postgres` user. Where PostgreSQL or its driver is missing the test skips
saying why; `.ci/run` installs the package where it can.
"""
from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import ROOT
from tests.e2e.test_sweep_cli import trial_runs, write_sweep

pytestmark = pytest.mark.e2e


def postgres_bin() -> Path:
    found = shutil.which("initdb")
    candidates = [Path(found).parent] if found else []
    candidates += [Path(path) for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does it where it can)")


def as_cluster_owner(command: list[str]) -> list[str]:
    """initdb and the server refuse root: as root, run them as the postgres user."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to own the throwaway cluster")
    return ["runuser", "-u", "postgres", "--", *command]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg2", reason="psycopg2-binary (the postgres extra) is not installed")
    binaries = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    run = lambda *args: subprocess.run(as_cluster_owner([str(binaries / args[0]), *args[1:]]), check=True,
                                       capture_output=True, text=True, timeout=120)
    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "workbench", "--no-sync")
        run("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "start",
            "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"the throwaway PostgreSQL cluster would not start: {exc.stderr.strip()[-300:]}")
    try:
        yield f"postgresql://workbench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_cluster_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_machines_share_one_study_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    config = write_sweep(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    machines = [subprocess.Popen([sys.executable, "-m", "workbench", "sweep", str(config), "--trials", "4",
                                  "--study", "shared", "--storage", postgres_url, "--runs-dir", str(tmp_path / name)],
                                 cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in ("machine-a", "machine-b")]
    outputs = [machine.communicate(timeout=240) for machine in machines]
    for machine, (out, err) in zip(machines, outputs):
        assert machine.returncode == 0, err
        assert "study shared: " in out and "trials finished" in out  # a machine ends once the last trial is claimed
    by_machine = [trial_runs(tmp_path / name) for name in ("machine-a", "machine-b")]
    assert not set(by_machine[0]) & set(by_machine[1]), "no trial ran on both machines"
    numbers = sorted({**by_machine[0], **by_machine[1]})
    assert numbers == list(range(len(numbers))) and len(numbers) >= 4  # none lost
    summaries = [json.loads((tmp_path / name / ".sweeps" / "shared" / "trials.json").read_text())
                 for name in ("machine-a", "machine-b")]
    last = max(summaries, key=lambda summary: sum(trial["state"] == "finished" for trial in summary["trials"]))
    assert [trial["number"] for trial in last["trials"]] == numbers  # a machine's summary is the whole study
    assert all(trial["state"] == "finished" for trial in last["trials"])
    study = json.loads((tmp_path / "machine-a" / ".sweeps" / "shared" / "study.json").read_text())
    assert study["storage"] == postgres_url
