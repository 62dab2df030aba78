# The two front-door commands (see README):
#   make inspect   set up and inspect this machine (embedded default store, no config needed)
#   make test      set up everything the tests need and run lint, types and the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: inspect test lint system-deps clean bench bench-quick

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "xunjian needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# The bench extra (Ansible, Nornir) comes with the tests: tests/bench runs every peer of the
# benchmark on a tiny fleet, so the benchmark cannot rot.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@ $(VENV)/.installed

# xunjian exits 1/2 for WARN/CRIT findings (Nagios convention); for make, only 3 (UNKNOWN or
# an error) means the inspection itself failed.
inspect: $(VENV)/.installed
	@$(BIN)/xunjian inspect || [ $$? -le 2 ]

# fakenos (an independent network-device simulator for the tests) pins paramiko < 5, so it
# lives in its own virtual environment; tests/support/fakenos_peer.py pins the same version.
FAKENOS_VERSION := 1.2.1
.venv-fakenos/.installed-$(FAKENOS_VERSION):
	$(PYTHON) -m venv .venv-fakenos
	.venv-fakenos/bin/pip install -q fakenos==$(FAKENOS_VERSION)
	touch $@

# Integration tests run real peers on loopback, from Debian's packages: OpenSSH servers
# (127.0.1.x), and a Prometheus and an Alertmanager that scrape / receive from xunjian.
# The report tests render HTML in headless Chromium and read PDFs back with poppler's tools;
# WeasyPrint needs Pango, and Chinese text needs the Noto CJK fonts. Entries are `path:package`:
# the package is installed when the path is missing.
LIBDIR := /usr/lib/x86_64-linux-gnu
APT_PACKAGES := /usr/sbin/sshd:openssh-server /usr/bin/prometheus:prometheus \
                /usr/bin/promtool:prometheus /usr/bin/prometheus-alertmanager:prometheus-alertmanager \
                /usr/bin/chromium:chromium /usr/bin/pdftotext:poppler-utils \
                /usr/bin/pdftoppm:poppler-utils /usr/bin/pdfinfo:poppler-utils \
                /usr/bin/pdffonts:poppler-utils \
                /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc:fonts-noto-cjk \
                $(LIBDIR)/libpango-1.0.so.0:libpango-1.0-0 $(LIBDIR)/libpangoft2-1.0.so.0:libpangoft2-1.0-0 \
                $(LIBDIR)/libharfbuzz-subset.so.0:libharfbuzz-subset0
system-deps: .venv-fakenos/.installed-$(FAKENOS_VERSION)
	@missing=$$(for entry in $(APT_PACKAGES); do test -e $${entry%%:*} || echo $${entry#*:}; done | sort -u); \
	if [ -n "$$missing" ]; then \
	  echo "installing from apt for the tests:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

test: system-deps lint
	$(BIN)/pytest

# The fleet benchmark against peers (docs/performance.md): needs root and /usr/sbin/sshd (as the
# tests do); the peers (ansible-core, nornir, nornir-netmiko) come with the `bench` extra.
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench --size full

bench-quick: $(VENV)/.installed-test
	$(BIN)/python -m bench --size quick

clean:
	rm -rf $(VENV) .venv-fakenos .mypy_cache .ruff_cache .pytest_cache
