#!/usr/bin/env bash
# Starts LocalStack's S3 on 127.0.0.1:PORT (default 4566) without Docker, detached, and waits until
# its health endpoint reports S3 up. Exits 0 when it is up (also when it already was), non-zero with
# the end of the log when it cannot start. Everything it writes stays under localstack/.state.
#
#   localstack/start.sh [PORT]
#
# LOCALSTACK_START_TIMEOUT (seconds, default 120) bounds the wait.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${1:-4566}"
if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    echo "usage: localstack/start.sh [PORT]   (PORT is a TCP port number, default 4566)" >&2
    exit 2
fi
timeout_s="${LOCALSTACK_START_TIMEOUT:-120}"

"$here/setup.sh"

venv="$here/.venv"
state="$here/.state"
log="$state/localstack-$port.log"
pidfile="$state/localstack-$port.pid"
run="$state/port-$port" # LocalStack's own files for this instance
mkdir -p "$state"

# 0 when http://127.0.0.1:PORT/_localstack/health answers with S3 available or running.
healthy() {
    "$venv/bin/python" - "$port" <<'EOF' 2>/dev/null
import json, sys, urllib.request
url = "http://127.0.0.1:%s/_localstack/health" % sys.argv[1]
try:
    with urllib.request.urlopen(url, timeout=2) as r:
        s3 = json.load(r).get("services", {}).get("s3")
except Exception:
    sys.exit(1)
sys.exit(0 if s3 in ("available", "running") else 1)
EOF
}

# 0 when something accepts TCP connections on 127.0.0.1:PORT.
port_taken() {
    "$venv/bin/python" -c 'import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$port"
}

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

show_log_tail() {
    echo "---- last lines of $log ----" >&2
    tail -n 40 "$log" >&2 2>/dev/null || echo "(no log)" >&2
    echo "----" >&2
}

# Wait for the instance PID to become healthy; 0 when it does, 1 when it dies or time runs out.
wait_healthy() {
    local pid="$1" deadline=$((SECONDS + timeout_s))
    while ((SECONDS < deadline)); do
        if healthy; then
            return 0
        fi
        if ! alive "$pid"; then
            echo "localstack/start.sh: LocalStack (pid $pid) exited before it became healthy." >&2
            return 1
        fi
        if grep -q -E 'CannotListenError|Address already in use' "$log" 2>/dev/null; then
            echo "localstack/start.sh: LocalStack cannot listen on 127.0.0.1:$port." >&2
            return 1
        fi
        sleep 0.5
    done
    echo "localstack/start.sh: LocalStack on port $port not healthy after ${timeout_s} s." >&2
    return 1
}

# Serialise starts of the same port.
exec 9>"$state/start-$port.lock"
flock 9

if healthy; then
    echo "localstack/start.sh: LocalStack S3 already up at http://127.0.0.1:$port"
    exit 0
fi

pid=""
[[ -f "$pidfile" ]] && pid="$(cat "$pidfile" 2>/dev/null || true)"
if alive "$pid"; then
    # Ours, but not (yet) healthy: give it the same bounded wait.
    echo "localstack/start.sh: LocalStack (pid $pid) is running; waiting for it to become healthy ..."
    if wait_healthy "$pid"; then
        echo "localstack/start.sh: LocalStack S3 up at http://127.0.0.1:$port"
        exit 0
    fi
    show_log_tail
    exit 1
fi
rm -f "$pidfile"

if port_taken; then
    echo "localstack/start.sh: 127.0.0.1:$port is in use by something that is not a healthy LocalStack S3." >&2
    echo "  Stop that process, or start LocalStack on another port: localstack/start.sh PORT" >&2
    exit 1
fi

rm -rf "$run"
mkdir -p "$run/tmp" "$run/volume" "$run/filesystem"
: >"$log"
start=$SECONDS

# Start detached in its own session; the pid file holds the Python process's pid (it execs).
(
    cd "$run"
    export SERVICES=s3
    # The default (twisted) gateway binds 0.0.0.0 whatever GATEWAY_LISTEN says; hypercorn binds
    # only the given address.
    export GATEWAY_SERVER=hypercorn
    export EAGER_SERVICE_LOADING=1
    export GATEWAY_LISTEN="127.0.0.1:$port"
    export LOCALSTACK_HOST="127.0.0.1:$port"
    # Keep every file LocalStack writes under localstack/.state/port-PORT.
    # (Python's tempfile honours TMP; LocalStack itself reads TMPDIR as a deprecated setting.)
    unset TMPDIR TEMP
    export TMP="$run/tmp"
    export LOCALSTACK_VOLUME_DIR="$run/volume"
    export FILESYSTEM_ROOT="$run/filesystem"
    export PERSISTENCE=0
    # No phoning home: no analytics events, no certificate download, no DNS server (it probes an
    # upstream resolver); its API endpoints point at a closed local port.
    export DISABLE_EVENTS=1
    export SKIP_SSL_CERT_DOWNLOAD=1
    export DNS_ADDRESS=0
    export API_ENDPOINT="http://127.0.0.1:9/"
    export ANALYTICS_API="http://127.0.0.1:9/"
    unset LOCALSTACK_AUTH_TOKEN DEBUG LS_LOG
    exec 9>&- # the start lock stays with this script, not with LocalStack
    exec setsid nohup sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" \
        "$venv/bin/python" -m localstack.runtime.main >>"$log" 2>&1 </dev/null
) &
disown # it outlives this script; no job notices about it

# The pid file appears as soon as the child has forked.
for _ in $(seq 1 50); do
    [[ -s "$pidfile" ]] && break
    sleep 0.1
done
pid="$(cat "$pidfile" 2>/dev/null || true)"
if [[ -z "$pid" ]]; then
    echo "localstack/start.sh: LocalStack did not start (no pid file $pidfile)." >&2
    show_log_tail
    exit 1
fi

if wait_healthy "$pid"; then
    echo "localstack/start.sh: LocalStack S3 up at http://127.0.0.1:$port (pid $pid, $((SECONDS - start)) s; log $log)"
    exit 0
fi
show_log_tail
# Do not leave a half-started instance behind (stop.sh escalates to SIGKILL when needed).
exec 9>&-
"$here/stop.sh" "$port" >&2 || true
exit 1
