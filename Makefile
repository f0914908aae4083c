# agi-consent: every target installs what it needs (run as root on Debian 12 for apt and the lab).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := python3-venv sox espeak-ng flite festival festvox-kdlpc16k festvox-kallpc16k festvox-us-slt-hts ffmpeg mmdebstrap systemd chromium
LAB_ROOT := .lab/chroot

.PHONY: all test lint bench demo dist lab lab-stop lab-image prompts nanp-table deps venv clean

all: test

deps:  ## Debian packages the tests, prompts and lab need (installed only when missing)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

$(BIN)/.installed: setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

venv: deps $(BIN)/.installed

prompts: venv  ## Synthesise the shipped prompt audio from its text (espeak-ng)
	$(BIN)/python -m tools.prompt_build

nanp-table: venv  ## Regenerate the +1 area-code table from the installed phonenumbers
	$(BIN)/python -m tools.nanp_table

lab-image: venv  ## Build (or reuse) the Asterisk 22 chroot under .lab/
	$(BIN)/python -m lab build

test: venv prompts lab-image  ## The whole suite, real Asterisk included
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check agi_consent lab tools tests bench

bench: venv prompts  ## Speed, memory and the held-out speech sets (bench/RESULTS.md)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.run

lab: venv prompts lab-image  ## Start the lab Asterisk and the FastAGI server (make lab-stop)
	$(BIN)/python -m lab start

lab-stop:
	$(BIN)/python -m lab stop

demo: venv prompts lab-image  ## Real Asterisk + plugin + sample calls, with their log
	$(BIN)/python -m lab demo

dist: venv prompts  ## sdist and wheel (with the generated prompt audio) in dist/
	rm -rf dist build
	$(BIN)/python -m build --outdir dist

clean:
	rm -rf $(VENV) .lab *.egg-info .pytest_cache .ruff_cache dist build
