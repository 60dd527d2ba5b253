# Both targets create .venv/ on a fresh machine and install the project into it.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q -c constraints.txt
STAMP  := $(VENV)/.installed
BROWSER := $(VENV)/.chromium
TF     := $(VENV)/.tensorflow

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) "torch==2.13.0"
	$(PIP) -e ".[dev,bench]"
	touch $(STAMP)

# The HTML report's test (tests/graphkit/test_verify_html.py) drives Debian's chromium headless.
# Installed once, quietly, with apt-get (as root, or sudo without a password); where that cannot
# be done the note says so and that test skips with the reason.
$(BROWSER): | $(STAMP)
	@if command -v chromium >/dev/null 2>&1; then touch $@; \
	elif command -v apt-get >/dev/null 2>&1 && S=$$([ "$$(id -u)" = 0 ] || echo "sudo -n") && \
	     $$S apt-get update -qq >/dev/null 2>&1 && \
	     DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq chromium >/dev/null 2>&1; then touch $@; \
	else echo "note: chromium is missing and apt-get could not install it; the HTML report's browser test will skip" >&2; fi

# graphkit convert and verify's tf/tflite runtimes need TensorFlow's CPU wheel (pyproject's `tf`
# extra: ~270 MB download, ~1.5 GB installed, about a minute). It shares onnx, numpy and protobuf with
# the project, so it goes into the same venv (docs/convert.md). Installed once, quietly (pip's output
# in $(TF).log); where it cannot be installed the note says so, the demo leaves out its tf/tflite
# rows and tests/graphkit/test_convert.py skips.
$(TF): pyproject.toml | $(STAMP)
	@if $(PIP) -e ".[tf]" >$(TF).log 2>&1; then touch $@; \
	else echo "note: tensorflow-cpu could not be installed (see $(TF).log); graphkit convert and the tf/tflite runtimes are unavailable" >&2; fi

demo: $(STAMP) $(TF)
	$(VENV)/bin/graphkit demo --out demo-out

test: $(STAMP) $(BROWSER) $(TF)
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(PY) tools/bench_runtime.py

lint: $(STAMP)
	$(VENV)/bin/ruff check graphkit refruntime tests tools

clean:
	rm -rf $(VENV) demo-out
