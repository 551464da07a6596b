# Sourced by system tests that run under `set -o pipefail`.
#
# `producer | grep -q pattern` is a race under pipefail: grep -q exits at the
# first match, and if the producer writes again after that it dies of SIGPIPE
# (exit 141), failing a check that matched. This grep reads its whole input
# when asked to be quiet, so the producer always finishes; the exit status is
# grep's as usual. Options after `--` or after the pattern are left alone.
grep() {
  local args=() quiet=0 opts=1 a
  for a in "$@"; do
    if (( opts )); then
      if [[ $a == -- ]]; then
        opts=0
      elif [[ $a == -q ]]; then
        quiet=1
        continue
      elif [[ $a =~ ^-[A-Za-z]+$ && $a == *q* ]]; then
        quiet=1
        a=${a//q/}
      elif [[ $a != -* ]]; then
        opts=0
      fi
    fi
    args+=("$a")
  done
  if (( quiet )); then
    command grep "${args[@]}" > /dev/null
  else
    command grep "${args[@]}"
  fi
}
