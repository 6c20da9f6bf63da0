# Shared by benches/ab.sh, benches/caching.sh, benches/instructions.sh and benches/metering.sh
# (sourced, not run): a temp dir whose processes are stopped and which is removed on exit, free
# loopback ports, the static nginx origin of benches/peers with edgegate's config rendered for it,
# the missing tools installed (`need`), the binary to measure (`edgegate_bin`), and `wrk_run` and
# `median` for the scripts that run wrk (they set `secs`).
#
# The sourcing script sets `root` (the repository) and `name` (for messages and the temp dir)
# first; afterwards `work`, `peers`, `host`, `origin_port` are set and `pids` collects the
# background processes to stop.

peers="$root/benches/peers"
host="bench.cloudfront.localhost"
work="$(mktemp -d "${TMPDIR:-/tmp}/edgegate-$name.XXXXXX")"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
die() { echo "$name.sh: $*" >&2; exit 1; }
# Installs the Debian packages of whichever of the commands are missing ("command:package" each);
# only root can.
need() {
    local pair missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    ((${#missing[@]})) || return 0
    ((EUID == 0)) || die "missing ${missing[*]}: install them first"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
# The edgegate binary to measure: the one given, else a release build of this repository.
edgegate_bin() { # [BIN]
    if [[ -n "${1:-}" ]]; then
        realpath "$1"
    else
        (cd "$root" && cargo build --release --locked -q) >&2
        echo "$root/target/release/edgegate"
    fi
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

origin_port="$(port)"
user_line=""
((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
render() { # template output
    sed -e "s|@WORK@|$work|g" -e "s|@ROOT@|$root|g" -e "s|@ORIGIN_PORT@|$origin_port|g" \
        -e "s|@HOST@|$host|g" -e "s|@USER_LINE@|$user_line|g" "$1" > "$2"
}

# Starts the origin on $work/site (the caller fills it first, with obj-1k.bin among its files)
# and renders edgegate's config to $work/edgegate.toml.
start_origin() {
    mkdir -p "$work/origin"
    render "$peers/nginx-origin.conf.in" "$work/origin.conf"
    nginx -p "$work/origin" -e "$work/origin/error.log" -c "$work/origin.conf" &
    pids+=("$!")
    render "$peers/edgegate.toml.in" "$work/edgegate.toml"
    local _
    for _ in $(seq 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$origin_port/obj-1k.bin" && return 0
        sleep 0.1
    done
    die "the origin (nginx) did not start: see $work/origin/error.log"
}

# One wrk run of $secs seconds (2 threads, 50 connections) against 127.0.0.1:PORT/PATH with the
# bench Host and any extra headers; fails on a non-2xx answer. Prints "req/s p99-ms".
wrk_run() { # port path [header...]
    local port="$1" path="$2" out h args=()
    shift 2
    for h in "$@"; do args+=(-H "$h"); done
    out="$(wrk -t2 -c50 -d"${secs}s" --latency -H "Host: $host" "${args[@]}" \
        "http://127.0.0.1:$port$path" 2>&1)"
    grep -q 'Non-2xx' <<< "$out" && die "non-2xx: $out"
    awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                          if (v ~ /s$/) return v * 1000; return v }
         /Requests\/sec/ {rps = $2} /^ +99%/ {p99 = ms($2)}
         END {printf "%.0f %.3f\n", rps, p99}' <<< "$out"
}
# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
