# Both targets create .venv/ on a fresh machine and install the project into it.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q -c constraints.txt
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) "torch==2.13.0"
	$(PIP) -e ".[dev,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/graphkit demo --out demo-out

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(PY) tools/bench_runtime.py

lint: $(STAMP)
	$(VENV)/bin/ruff check graphkit refruntime tests tools

clean:
	rm -rf $(VENV) demo-out
