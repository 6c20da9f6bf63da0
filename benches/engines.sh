#!/usr/bin/env bash
# Why CloudFront Functions run on QuickJS (rquickjs) and not Boa (boa_engine): builds a small
# program on each engine (benches/engines/*, standalone crates, not part of the edge's build),
# then measures in one run, on the same function and event:
#   - build: the CPU time of a clean release build of the program and its engine;
#   - load: creating a context and compiling the function (mean of 200);
#   - memory per loaded context (resident set growth / 200);
#   - a call: the JSON event parsed in the engine, the handler run, its result stringified.
# Appends to benches/results/YYYY-MM-DD-engines.md. Takes about 5 minutes of CPU (Boa's build).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/benches/results.sh"
out="$(results_file engines "JavaScript engines for CloudFront Functions")"
{
    echo
    echo "## $(date -u +%FT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo '| engine | build (CPU s, clean release) | binary | load, memory per context, call |'
    echo '|---|---|---|---|'
} >> "$out"
for e in quickjs boa; do
    dir="$root/benches/engines/$e"
    target="$(mktemp -d)"
    /usr/bin/time -f '%U %S' -o "$target/time" cargo build --release -q --manifest-path "$dir/Cargo.toml" --target-dir "$target"
    cpu=$(awk '{printf "%.0f", $1+$2}' "$target/time")
    bin="$target/release/engine-$e"
    size=$(stat -c %s "$bin")
    line="$("$bin")"
    echo "| $e | $cpu | $((size / 1024)) KiB | $line |" | tee -a "$out"
    rm -rf "$target"
done
echo "results: $out"
