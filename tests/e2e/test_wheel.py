"""`pip install .` as a user does it: build the wheel, install it into a fresh virtualenv, use it.

The fresh environment sees the test venv's dependencies (torch and the rest, appended to its
path by a .pth line, which does not run the editable install's finder) but not this checkout, so
a package or data file the wheel leaves out fails here as it would for a user.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "screens", "workbench")
CONFIG = """\
name: wheel
data: {source: shapes, path: shapes, image_size: [16, 16], shapes: {train_per_class: 8, val_per_class: 4, size: 16}}
model: {layers: [flatten, {linear: {out_features: auto}}]}
train: {epochs: 1, device: cpu}
"""
IMPORT_ALL = """\
import importlib, pkgutil, sys
names = []
for top in {packages!r}:
    package = importlib.import_module(top)
    assert "site-packages" in package.__file__, package.__file__
    names += [top] + [m.name for m in pkgutil.walk_packages(package.__path__, top + ".") if m.name != "workbench.__main__"]
for name in names:
    importlib.import_module(name)
print(len(names), "modules")
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the built wheel installed; returns its bin folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy, so setuptools' build/ folder never lands in the checkout or goes stale there
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(work / "dist"), str(source)], check=True, cwd=work, timeout=300)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    wheel = next((work / "dist").glob("workbench-*.whl"))
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True, timeout=300)
    return venv / "bin"


def clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_the_wheel_holds_every_package_and_style_sheet(installed: Path) -> None:
    wheel = next(installed.parent.parent.glob("dist/workbench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*"):
            if path.suffix in (".py", ".tcss") and "__pycache__" not in path.parts:
                assert path.relative_to(ROOT).as_posix() in names, f"the wheel leaves out {path.relative_to(ROOT)}"


def test_every_module_imports_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run([installed / "python", "-c", IMPORT_ALL.format(packages=PACKAGES)], cwd=tmp_path,
                            capture_output=True, text=True, env=clean_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "modules" in result.stdout


def test_the_installed_command_trains(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "wheel.yaml").write_text(CONFIG)
    result = subprocess.run([installed / "workbench", "--run", "wheel.yaml"], cwd=tmp_path, capture_output=True,
                            text=True, env=clean_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "run directory: " in result.stdout
    assert list((tmp_path / "runs").glob("*-wheel/checkpoints/best.pt"))
