# Shared by benches/ab.sh and benches/instructions.sh (sourced, not run): a temp dir whose
# processes are stopped and which is removed on exit, free loopback ports, and the static nginx
# origin of benches/peers with edgegate's config rendered for it.
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
