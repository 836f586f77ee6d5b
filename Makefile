# The two commands: `make run` and `make test`. Both set up what they need on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Debian packages: what building the venv needs, what real keys need (building pyscard,
# pcscd for readers, libusb for pyusb), and what the tests talk to.
APT_BASE := python3 python3-venv python3-dev gcc make
APT_RUN := python3-dev gcc swig libpcsclite-dev pcscd libusb-1.0-0
APT_TEST := vsmartcard-vpcd libfido2-1 fido2-tools postgresql qemu-system-x86 busybox-static usbip udev umockdev python3-gi gir1.2-umockdev-1.0 chromium

.PHONY: run test lint typecheck clean

run: $(VENV)/.run-ready
	$(BIN)/tokenbench bench run --target emu: --target totp:emu --allow-destructive -j 2 --report report

test: $(VENV)/.test-ready
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPY=$(BIN)/mypy scripts/typecheck.sh
	scripts/with-services.sh $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-ready
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && MYPY=$(BIN)/mypy scripts/typecheck.sh

# mypy over the three packages, through build/typecheck/ (see scripts/typecheck.sh)
typecheck: $(VENV)/.test-ready
	MYPY=$(BIN)/mypy scripts/typecheck.sh

$(VENV)/.created:
	@command -v $(PYTHON) >/dev/null && $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null \
	  || scripts/ensure-apt.sh $(APT_BASE)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	touch $@

# The hardware extra (pyscard, pyusb) too: real keys and readers work out of the box.
$(VENV)/.run-ready: $(VENV)/.created pyproject.toml Makefile
	scripts/ensure-apt.sh $(APT_RUN)
	$(BIN)/pip install -q -e '.[qr,hardware,service]'
	touch $@

$(VENV)/.test-ready: $(VENV)/.created pyproject.toml Makefile
	scripts/ensure-apt.sh $(APT_RUN) $(APT_TEST)
	$(BIN)/pip install -q -e '.[qr,hardware,postgres,service,dev]'
	touch $@ $(VENV)/.run-ready

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
