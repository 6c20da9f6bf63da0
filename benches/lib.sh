# Shared by benches/ab.sh, benches/instructions.sh and benches/metering.sh (sourced, not run): a
# temp dir whose processes are stopped and which is removed on exit, free loopback ports, the
# static nginx origin of benches/peers with edgegate's config rendered for it, the missing tools
# installed (`need`), and the binary to measure (`edgegate_bin`).
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
