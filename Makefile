# The two commands of the README; each creates the virtualenv and installs when needed.
#   make run    open the workbench app on the demo data (make demo: the same training headless)
#   make test   run the test suite
VENV   ?= .venv
PYTHON ?= python3
# torch first, pinned exactly: pip takes these from the local wheel store where one exists.
TORCH  ?= torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.installed

.PHONY: run demo test check clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet $(TORCH)
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/workbench configs/shapes.yaml

demo: $(STAMP)
	$(VENV)/bin/workbench --run configs/shapes.yaml

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n auto --maxprocesses 4  # a worker per core (pytest-xdist), four at most

check: $(STAMP)
	$(VENV)/bin/workbench check configs/shapes.yaml
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) *.egg-info
