# shellcheck shell=bash
# The frame shared by the end-to-end scenario scripts (tests/scripts/e2e_*.sh).
# Each script runs twice: outside, where it checks what it needs and calls
# e2e_outer; and inside the environment that with-env.sh sets up
# ("SCRIPT inner RESULT_DIR", with RES=RESULT_DIR), where its checks append
# PASS and FAIL lines to $RES/results. Source it from bash after setting E2E
# (this folder) and SELF (the script's absolute path).

ok() { echo "PASS $1" | tee -a "$RES/results"; }
ko() { echo "FAIL $1: $2" | tee -a "$RES/results"; }
check() { # name detail command... (the command's output is dropped)
    local n=$1 d=$2
    shift 2
    if "$@" >/dev/null 2>&1; then ok "$n"; else ko "$n" "$d"; fi
}
not() { ! "$@"; }

# Outside, before the environment exists: one FAIL line and a count the
# ctest output shows.
fail_early() {
    echo "FAIL $1"
    echo "0 passed, 1 failed"
    exit 1
}

# e2e_outer LABEL MIN: the inner half in a fresh environment, then the count.
# A run that stopped early must not look green, hence MIN: fewer PASS lines
# than that is a failure even when no check failed. Exits with the verdict.
e2e_outer() {
    local label=$1 min=$2 rc pass fail t0
    E2E_RES=$(mktemp -d /tmp/sg-e2e.XXXXXX)
    trap 'rm -rf "$E2E_RES"' EXIT
    : >"$E2E_RES/results"
    t0=$(date +%s)
    bash "$E2E/with-env.sh" ${E2E_KEEP:+--keep} -- bash "$SELF" inner "$E2E_RES"
    rc=$?
    if [ "$rc" = 0 ]; then echo "PASS with_env_status" >>"$E2E_RES/results"; else
        echo "FAIL with_env_status: with-env.sh exited $rc" | tee -a "$E2E_RES/results"
    fi
    pass=$(grep -c '^PASS' "$E2E_RES/results")
    fail=$(grep -c '^FAIL' "$E2E_RES/results")
    [ "$pass" -ge "$min" ] || [ "$fail" -gt 0 ] || {
        echo "FAIL count: only $pass checks ran"
        fail=$((fail + 1))
    }
    echo "($label: $(($(date +%s) - t0)) s)"
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
    exit
}
