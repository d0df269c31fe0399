# Sourced by the peer benchmarks: wait for a quiet machine before each measurement, since
# timings on a loaded 2-core box are useless.
# Set QUIET_WAIT (seconds, default 60) before sourcing to change how long to wait.

QUIET_WAIT=${QUIET_WAIT:-60}

# busy: % of all CPU time in use over the next second (anything: builds, other jobs).
busy() {
  local a b; a=$(head -n 1 /proc/stat); sleep 1; b=$(head -n 1 /proc/stat)
  printf '%s\n%s\n' "$a" "$b" | awk '{t = 0; for (i = 2; i <= NF; i++) t += $i; id = $5 + $6
    if (NR == 1) { t0 = t; i0 = id } else { d = t - t0; printf "%d", d ? 100 * (1 - (id - i0) / d) : 0 } }'
}

# wait_quiet: wait up to QUIET_WAIT s for the machine to go quiet, else warn (naming the
# busiest processes) and go on.
wait_quiet() {
  local b i
  for ((i = 0; i < QUIET_WAIT; i++)); do b=$(busy); ((b < 15)) && return 0; done
  echo "  WARNING: machine busy (${b}% CPU) after ${QUIET_WAIT} s - figures below are unreliable;" \
       "top: $(top -b -n 1 -w 200 | awk 'NR > 7 && $9 + 0 >= 5 {printf "%s(%s%%) ", $12, $9}' | head -c 200)"
}
