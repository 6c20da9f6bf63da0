#!/usr/bin/env bash
# Stops the LocalStack that localstack/start.sh started on PORT (default 4566), using its pid file.
# Waits (bounded) for it to exit, then removes its temporary files. Exits 0 when nothing is running.
#
#   localstack/stop.sh [PORT]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${1:-4566}"
if ! [[ "$port" =~ ^[0-9]+$ ]]; then
    echo "usage: localstack/stop.sh [PORT]   (PORT is a TCP port number, default 4566)" >&2
    exit 2
fi
state="$here/.state"
pidfile="$state/localstack-$port.pid"

if [[ ! -f "$pidfile" ]]; then
    echo "localstack/stop.sh: no LocalStack started by start.sh on port $port (no $pidfile)"
    exit 0
fi
pid="$(cat "$pidfile" 2>/dev/null || true)"
if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
    echo "localstack/stop.sh: LocalStack on port $port is not running (stale pid file removed)"
    rm -f "$pidfile"
    rm -rf "$state/port-$port"
    exit 0
fi
# Only stop it when the pid is still LocalStack (pids get reused).
if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main'; then
    echo "localstack/stop.sh: pid $pid is no longer LocalStack; removing the stale pid file"
    rm -f "$pidfile"
    exit 0
fi

kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 100); do # up to 20 s for a graceful shutdown
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
done
if kill -0 "$pid" 2>/dev/null; then
    echo "localstack/stop.sh: LocalStack (pid $pid) ignored SIGTERM for 20 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
fi
rm -f "$pidfile"
rm -rf "$state/port-$port"
echo "localstack/stop.sh: stopped LocalStack on port $port (pid $pid)"
