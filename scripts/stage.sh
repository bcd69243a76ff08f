#!/usr/bin/env bash
# Runs one stage of `make test` and says how long it took: scripts/stage.sh NAME COMMAND [ARG...]
# Prints "==> stage NAME: passed|failed (exit N) in Ms" and exits with the command's code; the line also
# goes to reports/stages.log, one per stage, for the job's summary.
set -uo pipefail
name="$1"
shift
started=$(date +%s)
printf '==> stage %s: started %s\n' "$name" "$(date -u +%H:%M:%S)"
"$@"
code=$?
seconds=$(( $(date +%s) - started ))
verdict=$([[ $code == 0 ]] && echo passed || echo failed)
line=$(printf 'stage %-18s %s (exit %d) in %dm%02ds' "$name:" "$verdict" "$code" $(( seconds / 60 )) $(( seconds % 60 )))
printf '==> %s\n' "$line"
mkdir -p reports && printf '%s %s\n' "$(date -u +%FT%TZ)" "$line" >> reports/stages.log
exit "$code"
