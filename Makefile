# lienthong — `make demo` runs the birth bundle end to end; `make test` runs every test.
# Both install what they need: a virtualenv from constraints.txt and the Kafka jars via Maven.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
JARS   := infra/kafka/target/libs/.fetched-stamp
# The AsyncAPI parser (npm @asyncapi/parser, pinned in infra/asyncapi/package-lock.json) that
# tests/unit/test_asyncapi.py runs on docs/asyncapi.yaml.
ASYNCAPI := infra/asyncapi/node_modules/.installed-stamp
# Line coverage of streams/ and connectors/ that `make test` requires; raise it, never lower it.
COVERAGE_FLOOR := 85

.PHONY: help demo test lint mutation bench chaos unit integration venv jars asyncapi-parser asyncapi prereqs browser broker-start broker-stop cluster cluster-stop units lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

demo: $(STAMP) $(JARS)  ## run the sample dossiers end to end on a local broker it starts itself (KEEP=1: keep it up)
	$(BIN)/lienthong demo $(if $(KEEP),--keep)

test: lint $(JARS) $(ASYNCAPI) browser  ## lint, then unit and integration tests with coverage (starts its own broker)
	$(BIN)/pytest --cov=streams --cov=connectors --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

lint: $(STAMP)  ## ruff (lint and format) and mypy, zero findings
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

mutation: $(STAMP)  ## mutation score of the saga engine, ingest and the trust code (mutmut; minutes; docs/testing.md)
	@# mutmut 3.8 asks for click>=8.4 but runs with the click<8.4 faust-streaming needs: no-deps install.
	$(BIN)/pip install -q --disable-pip-version-check --no-deps mutmut==3.8.1
	$(BIN)/pip install -q --disable-pip-version-check libcst setproctitle textual
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

bench: $(STAMP) $(JARS)  ## throughput figures on a local broker (docs/benchmarks.md)
	$(BIN)/lienthong bench

chaos: $(STAMP) $(JARS)  ## 2,000 dossiers through worker kills, a broker kill, agency outages and 10,000 bad messages (docs/benchmarks.md)
	$(BIN)/lienthong chaos

unit: $(STAMP) $(ASYNCAPI)  ## unit tests only (no broker)
	$(BIN)/pytest tests/unit

integration: $(STAMP) $(JARS)  ## integration tests only
	$(BIN)/pytest tests/integration

venv: $(STAMP)  ## create .venv with the pinned dependencies

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,testing]'
	@touch $@

asyncapi: $(STAMP)  ## regenerate docs/asyncapi.yaml from the agency registry and the contracts
	$(BIN)/lienthong asyncapi

asyncapi-parser: $(ASYNCAPI)  ## install the AsyncAPI parser (Node.js 18+ and npm) into infra/asyncapi

$(ASYNCAPI): infra/asyncapi/package.json infra/asyncapi/package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js 18+ and npm (the AsyncAPI parser); please install them" >&2; exit 1; }
	cd infra/asyncapi && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

jars: $(JARS)  ## fetch the Apache Kafka jars from Maven Central

$(JARS): infra/kafka/pom.xml | prereqs
	cd infra/kafka && mvn -q -B dependency:copy-dependencies
	@touch $@

# $(call ensure,<command>:<Debian package> ...,<apt-get flags>,<what needs them>): install what is
# missing with apt-get when root, or say what to install.
define ensure
	@missing=""; \
	for need in $(1); do command -v $${need%%:*} >/dev/null || missing="$$missing $${need#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing with apt-get ($(3))"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) $$missing; \
	  else \
	    echo "$(3); please install:$$missing" >&2; exit 1; \
	  fi; \
	fi
endef

prereqs:  ## make sure Java 17+ and Maven are installed (apt-get when root)
	$(call ensure,java:openjdk-17-jre-headless mvn:maven,,lienthong needs Java 17+ and Maven to run Apache Kafka)

browser:  ## make sure Debian's chromium and chromium-driver are installed (apt-get when root), for the dashboard test
	$(call ensure,chromium:chromium chromedriver:chromium-driver,--no-install-recommends,the dashboard's browser test drives Debian's chromium and chromium-driver)

broker-start: $(STAMP) $(JARS)  ## start (or reuse) the local broker on 127.0.0.1:9092 (client files in infra/kafka/run/clients)
	infra/kafka/kafka.sh start

broker-stop:  ## stop the local broker
	infra/kafka/kafka.sh stop

cluster: $(STAMP) $(JARS)  ## start (or reuse) three brokers on 127.0.0.1:19092-19094 (client files in infra/kafka/run-cluster/clients)
	infra/kafka/kafka.sh cluster-start

cluster-stop:  ## stop the three-broker cluster
	infra/kafka/kafka.sh cluster-stop

units: $(STAMP)  ## rebuild contracts/admin_units_former.json (pre-merger units and their successors)
	$(BIN)/python -m infra.build_admin_units

lock: $(STAMP)  ## refresh constraints.txt from the current virtualenv
	$(BIN)/pip freeze --exclude-editable > constraints.txt

clean:  ## remove the virtualenv, jars, the AsyncAPI parser and run data (stops the broker and the cluster)
	-infra/kafka/kafka.sh stop
	-infra/kafka/kafka.sh cluster-stop
	rm -rf $(VENV) infra/kafka/target infra/kafka/run infra/kafka/run-cluster .lienthong .pytest_cache infra/asyncapi/node_modules
