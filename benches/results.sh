# Shared by benches/compare.sh, benches/metering.sh and benches/signed-hits.sh (sourced, not run):
# where a run's results are appended. The sourcing script sets `root` (the repository) first.

# Prints the path of today's (UTC) results file of one kind, benches/results/YYYY-MM-DD-KIND.md,
# creating it with a title line when it does not exist yet.
results_file() { # KIND TITLE
    local day file
    day="$(date -u +%F)"
    file="$root/benches/results/$day-$1.md"
    mkdir -p "$root/benches/results"
    [[ -e "$file" ]] || printf '# %s, %s\n' "$2" "$day" > "$file"
    echo "$file"
}
