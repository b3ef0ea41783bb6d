# shellcheck shell=bash
# Shared by the benchmark scripts (source it; it defines functions and defaults, runs nothing).
#
# On a shared machine other processes steal cycles from a 2-thread benchmark. Each timing run
# starts after the machine has been idle for a while, measures the CPU time other processes used
# meanwhile (all busy CPU time in /proc/stat minus the run's own), and is repeated (up to TRIES
# times) when the others averaged more than MAX_OTHERS of a core.
#
# The caller sets bench_dir (where the logs go) and may set, before sourcing or in the
# environment: TRIES (default 3), MAX_OTHERS (cores, default 0.10), QUIET_WAIT (most seconds to
# wait for quiet, default 1800), QUIET_SAMPLE (seconds per idle check, default 10), QUIET_SAMPLES
# (idle checks in a row that make "quiet", default 3), BENCH_NAME (log prefix).

: "${bench_dir:?set bench_dir before sourcing tools/bench-lib.sh}"
tries=${TRIES:-3}
max_others=${MAX_OTHERS:-0.10}
quiet_wait=${QUIET_WAIT:-1800}
quiet_sample=${QUIET_SAMPLE:-10}
quiet_samples=${QUIET_SAMPLES:-3}

log() { echo "${BENCH_NAME:-bench}: $*" >&2; }
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# Waits (at most quiet_wait seconds) for quiet_samples checks of quiet_sample seconds in a row
# with under 5% of the CPUs busy.
wait_quiet() {
    local waited=0 quiet=0 before after ticks_per_s
    ticks_per_s=$(getconf CLK_TCK)
    while ((quiet < quiet_samples && waited < quiet_wait)); do
        before=$(busy_ticks)
        sleep "$quiet_sample"
        after=$(busy_ticks)
        waited=$((waited + quiet_sample))
        if (((after - before) * 100 < 5 * quiet_sample * ticks_per_s * $(nproc))); then
            quiet=$((quiet + 1))
        else
            quiet=0
        fi
    done
    ((quiet >= quiet_samples)) || log "machine still busy after ${quiet_wait} s, timing anyway"
}

# timed LABEL CMD...: runs CMD under /usr/bin/time -v (log in $bench_dir/LABEL-time.txt, its
# stdout in $bench_dir/LABEL.out) and writes the average number of cores other processes kept
# busy meanwhile to $bench_dir/LABEL-others.txt. Returns CMD's exit status.
timed() {
    local label=$1 before after status=0
    shift
    before=$(busy_ticks)
    /usr/bin/time -v -o "$bench_dir/$label-time.txt" "$@" >"$bench_dir/$label.out" || status=$?
    after=$(busy_ticks)
    awk -F': ' -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        /User time/ { own += $2 } /System time/ { own += $2 }
        /Elapsed \(wall clock\)/ { n = split($2, t, ":"); wall = 0; for (i = 1; i <= n; ++i) wall = wall * 60 + t[i] }
        END { others = wall > 0 ? (ticks / hz - own) / wall : 0; printf "%.2f\n", others < 0 ? 0 : others }' \
        "$bench_dir/$label-time.txt" >"$bench_dir/$label-others.txt"
    return "$status"
}
others_of() { cat "$bench_dir/$1-others.txt"; }

# measure LABEL CMD...: timed after a quiet wait, retried while other processes interfered.
# Returns CMD's exit status (a failing CMD is not retried).
measure() {
    local label=$1 try status
    for ((try = 1; try <= tries; ++try)); do
        wait_quiet
        status=0
        timed "$@" || status=$?
        ((status == 0)) || return "$status"
        if awk -v o="$(others_of "$label")" -v m="$max_others" 'BEGIN { exit !(o <= m) }'; then
            return 0
        fi
        log "$label: other processes used $(others_of "$label") cores meanwhile (try $try of $tries)"
    done
}
