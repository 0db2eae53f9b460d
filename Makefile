# aesel: the two commands that matter are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the real PyAesel clients, for compatibility tests, each in its own folder (their package is
# also `aesel`): 0.8, the latest, and 0.3, the version the Blender clients pin
PYAESEL := .cache/pyaesel/.installed .cache/pyaesel-0.3/.installed

.PHONY: run test lint typecheck unit integration contract engines engines-down bench bench-setup clean
.PHONY: cluster cluster-down
.PHONY: clients client-python client-web client-unity docs

# the clients (clients/): the Python SDK installs editable into the same venv
CLIENT_PY := $(VENV)/.client-python

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,cluster]'
	touch $(STAMP)

$(CLIENT_PY): $(STAMP) clients/python/pyproject.toml
	$(BIN)/pip install -q -e clients/python
	touch $(CLIENT_PY)

# the SDK's API reference, generated from its docstrings by pdoc (pinned in
# clients/python/pyproject.toml, extra "docs") into build/sdk-api/ (git-ignored); a warning fails
SDK_DOCS := $(VENV)/.client-docs
SDK_API := build/sdk-api
SDK_MODULES := aesel_client aesel_client.sync aesel_client.crypto aesel_client.cluster \
	aesel_client.wire aesel_client.errors

$(SDK_DOCS): $(CLIENT_PY)
	$(BIN)/pip install -q -e 'clients/python[docs]'
	touch $(SDK_DOCS)

docs: $(SDK_DOCS)
	rm -rf $(SDK_API)
	cd clients/python && ../../$(BIN)/python -W error -m pdoc --docformat restructuredtext \
		-o ../../$(SDK_API) $(SDK_MODULES)
	test -s $(SDK_API)/aesel_client.html
	@echo "SDK API reference: $(SDK_API)/index.html"

.cache/pyaesel/.installed:
	$(PYTHON) -m pip install -q --target .cache/pyaesel python-aesel-client==0.8 requests cryptography
	touch $@

.cache/pyaesel-0.3/.installed:
	$(PYTHON) -m pip install -q --target .cache/pyaesel-0.3 python-aesel-client==0.3 requests cryptography
	touch $@

run: $(STAMP) $(CLIENT_PY)
	$(BIN)/aesel serve

lint: $(STAMP)
	$(BIN)/ruff check aesel tests bench clients/python clients/unity-sample
	$(BIN)/ruff format --check aesel tests bench clients/python clients/unity-sample
	bash -n scripts/engines.sh
	bash -n scripts/cluster.sh

typecheck: $(STAMP) $(CLIENT_PY)
	$(BIN)/mypy aesel
	cd clients/python && ../../$(BIN)/mypy aesel_client tests

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) $(PYAESEL) $(CLIENT_PY)
	$(BIN)/pytest -q tests/integration

# the store contract suite; it starts MongoDB-wire and Neo4j servers itself (scripts/engines.sh)
contract: $(STAMP)
	$(BIN)/pytest -q tests/contract

# real servers by hand, on free loopback ports: eval "$$(make -s engines)"; ENGINES="neo4j mongo kafka consul"
ENGINES ?= neo4j mongo
engines:
	@scripts/engines.sh start $(ENGINES)

engines-down:
	@scripts/engines.sh stop

# a local cluster: Kafka, Neo4j, the MongoDB-wire server, Consul and three aesel nodes on loopback
# (node 1: HTTP 8080, UDP 8762, WebSocket 8081; node 2: 8180/8862/8181; node 3: 8280/8962/8281);
# state in .cluster/; `make cluster-down` stops all of it
cluster: $(STAMP)
	@scripts/cluster.sh up

cluster-down:
	@scripts/cluster.sh down

test: $(STAMP) $(PYAESEL) lint typecheck clients docs
	$(BIN)/pytest -q

# each client against a real `aesel serve`
clients: client-python client-web client-unity

client-python: $(CLIENT_PY)
	cd clients/python && ../../$(BIN)/pytest -q tests

# the viewer: Debian's Chromium (installed once), pinned npm packages under ~/.cache/aesel/web;
# checks the committed bundle is what clients/web/src builds to, then drives it with Playwright
/usr/bin/chromium:
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

client-web: $(STAMP) /usr/bin/chromium
	clients/web/install.sh
	rm -rf .cache/static-check && VIEWER_STATIC_OUT=.cache/static-check clients/web/build.sh
	diff -r .cache/static-check aesel/rest/static || (echo "aesel/rest/static is stale: run clients/web/build.sh" && false)
	NODE_PATH=$(HOME)/.cache/aesel/web/node_modules VIEWER_AESEL_BIN=$(BIN)/aesel node clients/web/test/viewer.test.cjs

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache aesel-data $(SDK_API)

# benchmarks: peers and the Go load generator are installed under .cache/ (never committed)
bench-setup: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	bench/setup.sh

bench: bench-setup
	$(BIN)/python bench/run.py

# the Unity sample, without Unity: Debian's Mono (installed once) compiles the plain client, the
# MonoBehaviours against the UnityEngine stand-in, the conversion tests and the console program,
# which then registers, streams and receives against a real `aesel serve`
UNITY := clients/unity-sample
UNITY_OUT := .cache/unity
MONO_HTTP := /usr/lib/mono/4.5/System.Net.Http.dll

$(MONO_HTTP):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mono-mcs mono-devel

client-unity: $(STAMP) $(MONO_HTTP)
	mkdir -p $(UNITY_OUT)
	mcs -nologo -warnaserror -target:library -out:$(UNITY_OUT)/AeselClient.dll -r:System.Net.Http.dll $(UNITY)/Runtime/*.cs
	mcs -nologo -warnaserror -target:library -out:$(UNITY_OUT)/UnityEngine.StandIn.dll $(UNITY)/UnityStandIn/*.cs
	mcs -nologo -warnaserror -target:library -out:$(UNITY_OUT)/AeselUnity.dll -r:$(UNITY_OUT)/AeselClient.dll -r:$(UNITY_OUT)/UnityEngine.StandIn.dll $(UNITY)/Behaviours/*.cs
	mcs -nologo -warnaserror -out:$(UNITY_OUT)/HandednessTests.exe -r:$(UNITY_OUT)/AeselClient.dll $(UNITY)/Tests/*.cs
	mcs -nologo -warnaserror -out:$(UNITY_OUT)/AeselConsole.exe -r:$(UNITY_OUT)/AeselClient.dll -r:System.Net.Http.dll $(UNITY)/ConsoleDemo/*.cs
	cd $(UNITY_OUT) && mono HandednessTests.exe
	cd $(UNITY_OUT) && ../../$(BIN)/python ../../$(UNITY)/run_live.py AeselConsole.exe
