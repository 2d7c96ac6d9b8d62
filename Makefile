# The two commands of the README: `make run` (the app, on the embedded broker) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test lint typecheck pytest test-noqt test-desktop test-fast install clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/pooldesk

test: $(STAMP) lint typecheck pytest

# ruff, then the import boundaries of pyproject.toml's [tool.importlinter] (backend without Qt,
# views and models without the broker, no import cycles).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo

# The wheel maps backend/ desktop/ resources/ into one `pooldesk` namespace (pyproject.toml);
# nothing on disk is called pooldesk/, and mypy cannot follow setuptools' editable import hook.
# build/nsview/pooldesk/ is a view of symlinks onto the real folders: mypy (mypy_path) and the
# PyInstaller build (pathex) read the code through it.
NSVIEW = build/nsview/pooldesk
$(NSVIEW):
	mkdir -p $(NSVIEW)
	for d in backend desktop resources; do ln -sfn ../../../$$d $(NSVIEW)/$$d; done

typecheck: $(STAMP) $(NSVIEW)
	$(BIN)/mypy

# The tests in three tiers (tests/unit, tests/integration, tests/desktop), each test run once.
# Unit and integration run as if PySide6 were not installed (-p tests.noqt blocks importing Qt
# and turns pytest-qt off): backend must work without Qt, and blocking the imports proves it
# for free, where a second venv without PySide6 would cost a full install on every clean CI run.
pytest: test-noqt test-desktop

# Unit + integration in two processes (pytest-xdist; a test file stays in one process, so its
# module-scoped workers start once): the live tests mostly wait on workers and brokers, and each
# has its own $POOLDESK_HOME, managed broker and ports. Tests marked `serial` measure CPU shares
# or speeds, which another test's load would skew: they run alone afterwards. The two `-m`
# selections split the tests exactly, so each runs once.
TEST_NOQT = $(BIN)/python -m pytest -q -p tests.noqt tests/unit tests/integration
test-noqt: $(STAMP)
	$(TEST_NOQT) -n 2 --dist loadfile -m "not serial"
	$(TEST_NOQT) -m serial

# Two processes as well (a file stays in one): no desktop test asserts a time or CPU figure, and
# its waits are for real workers and threads.
test-desktop: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n 2 --dist loadfile tests/desktop

# The unit tier alone (pure logic: no broker, no worker, no Qt), in well under a minute.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p tests.noqt tests/unit

clean:
	rm -rf $(VENV) $(BUNDLE_VENV) build dist *.egg-info

# -- packaging (packaging/): a one-folder PyInstaller bundle in dist/pooldesk/ -----------------
# Built in its own venv from the hash-pinned lock (packaging/requirements-bundle.txt, made by
# `make lock` = packaging/lock.py), so every build of a commit ships the same packages.
.PHONY: package package-smoke package-desktop-check lock
BUNDLE_VENV = .venv-bundle
BUNDLE_STAMP = $(BUNDLE_VENV)/.installed

$(BUNDLE_STAMP): packaging/requirements-bundle.txt
	rm -rf $(BUNDLE_VENV)
	$(PYTHON) -m venv $(BUNDLE_VENV)
	$(BUNDLE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BUNDLE_VENV)/bin/python -m pip install --quiet --require-hashes --only-binary=:all: \
		-r packaging/requirements-bundle.txt
	touch $(BUNDLE_STAMP)

lock: $(STAMP)
	$(BIN)/python packaging/lock.py

package: $(BUNDLE_STAMP) $(NSVIEW)
	@start=$$(date +%s); \
	PYTHONPATH=$(CURDIR)/build/nsview $(BUNDLE_VENV)/bin/python -m PyInstaller --noconfirm --clean \
		--log-level WARN --distpath dist --workpath build/pyinstaller packaging/pooldesk.spec && \
	echo "dist/pooldesk: $$(du -sh dist/pooldesk | cut -f1), built in $$(( $$(date +%s) - start )) s"

package-smoke: package
	packaging/smoke.sh dist/pooldesk/pooldesk

package-desktop-check:
	desktop-file-validate packaging/pooldesk.desktop

# The menu entry and icon for this user, pointing at this checkout's venv (no root needed).
.PHONY: install-desktop
XDG_DATA_HOME ?= $(HOME)/.local/share
install-desktop: $(STAMP)
	install -d "$(XDG_DATA_HOME)/applications" "$(XDG_DATA_HOME)/icons/hicolor/scalable/apps"
	sed -e "s|^Exec=pooldesk|Exec=$(abspath $(BIN))/pooldesk-gui|" \
	    -e "s|^TryExec=pooldesk|TryExec=$(abspath $(BIN))/pooldesk-gui|" \
	    packaging/pooldesk.desktop > "$(XDG_DATA_HOME)/applications/pooldesk.desktop"
	install -m644 resources/pooldesk.svg "$(XDG_DATA_HOME)/icons/hicolor/scalable/apps/pooldesk.svg"
	@echo "installed $(XDG_DATA_HOME)/applications/pooldesk.desktop (Exec $(abspath $(BIN))/pooldesk-gui)"

# -- screenshots and the GUI benchmark (desktop/screenshots.py, bench/gui_responsiveness.py) --
# The screenshots need a real X server: Xvfb and Qt's xcb libraries (installed here when
# missing and we are root with apt-get, as .ci/run does for the test libraries).
.PHONY: bench-gui
XCB_PACKAGES = xvfb libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
	libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1

screenshots: $(STAMP)
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		need=""; \
		for pkg in $(XCB_PACKAGES); do dpkg -s "$$pkg" >/dev/null 2>&1 || need="$$need $$pkg"; done; \
		if [ -n "$$need" ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need; \
		fi; \
	fi
	$(BIN)/python -m pooldesk.desktop.screenshots --out docs/screenshots

bench-gui: $(STAMP)
	$(BIN)/python bench/gui_responsiveness.py
