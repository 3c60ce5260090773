#!/bin/bash
# Tune a real service live: a private redis-server under redis-benchmark, with hone.
#
#   bash examples/live/run.sh          (as root, from the repository root)
#
# It installs redis-server and redis-tools if they are missing, starts its own
# redis-server (Redis's defaults plus an append-only file fsynced every second) on
# a free port with its own temporary directory (the system redis, if any, is never
# touched), two redis-benchmark loops against it, and a private honed unless one
# answers on $HONE_SOCKET. Then it runs `hone run` on examples/live/redis.yaml (a
# live job, MINUTES minutes, 4 by default), prints the report and every change the
# job made, checks that every knob was put back, measures the best configuration
# against the starting one by hand, and stops and removes everything it started.
# It takes MINUTES plus about a minute. Ctrl-C cancels the job and cleans up.
#
# Environment:
#   MINUTES=4          the job's budget (max_minutes)
#   HONE_BIN=DIR       where hone and honed are (default: build/bin, then PATH)
#   HONE_SOCKET=PATH   use the honed on this socket; one is started there if none answers
#   REDIS_PORT=16379   the first port tried for the private redis
#   CLIENTS=25         connections per redis-benchmark loop (two loops: SET and GET)
#   VERIFY=1           after the job, if the best is not the starting configuration,
#                      3 x 5 s of each, in turn (ABBAAB) (0: skip)
#   KEEP=1             keep the temporary directory (logs, the filled config, reports)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MINUTES=${MINUTES:-4}
CLIENTS=${CLIENTS:-25}
VERIFY=${VERIFY:-1}

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: honed runs the knob scripts as root, and only root may submit them"

# --- what it needs -------------------------------------------------------------
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null ||
   ! command -v redis-benchmark >/dev/null; then
  say "installing redis-server and redis-tools"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y redis-server redis-tools >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y redis-server redis-tools >/dev/null; } ||
    die "apt-get could not install redis-server redis-tools"
fi
for tool in awk date; do command -v "$tool" >/dev/null || die "$tool is missing"; done

HONE_BIN=${HONE_BIN:-}
if [ -z "$HONE_BIN" ]; then
  if [ -x "$ROOT/build/bin/hone" ] && [ -x "$ROOT/build/bin/honed" ]; then
    HONE_BIN=$ROOT/build/bin
  elif command -v hone >/dev/null && command -v honed >/dev/null; then
    HONE_BIN=$(dirname "$(command -v hone)")
  else
    die "no hone/honed: build them first (cmake -S . -B build -G Ninja && ninja -C build honed hone) or set HONE_BIN"
  fi
fi
HONE=$HONE_BIN/hone
HONED=$HONE_BIN/honed
[ -x "$HONE" ] && [ -x "$HONED" ] || die "no hone and honed in $HONE_BIN"

# --- cleanup, whatever happens ---------------------------------------------------
RUN=$(mktemp -d /tmp/hone-redis.XXXXXX)
chmod 755 "$RUN"
REDIS_PID= SET_PID= GET_PID= HONED_PID= RUN_PID= POLL_PID= JOB= PORT=

job_state() { "$HONE" --json status "$1" 2>/dev/null | grep -o '"state":"[a-z_]*"' |
                tail -1 | cut -d\" -f4; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$JOB" ]; then
    case "$(job_state "$JOB")" in
      queued|running|"")
        # Interrupted: cancel the job (honed puts the knobs back) before redis goes.
        say "cancelling job $JOB"
        "$HONE" cancel "$JOB" >/dev/null 2>&1
        for _ in $(seq 60); do
          case "$(job_state "$JOB")" in queued|running) sleep 0.5 ;; *) break ;; esac
        done ;;
    esac
  fi
  for pid in $RUN_PID $POLL_PID; do kill "$pid" 2>/dev/null; done
  for pid in $RUN_PID $POLL_PID; do wait "$pid" 2>/dev/null; done
  for pid in $SET_PID $GET_PID; do kill "$pid" 2>/dev/null; done
  for pid in $SET_PID $GET_PID; do wait "$pid" 2>/dev/null; done
  if [ -n "$REDIS_PID" ]; then
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || kill "$REDIS_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
  fi
  if [ -n "$HONED_PID" ]; then
    kill "$HONED_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$HONED_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$HONED_PID" 2>/dev/null
    wait "$HONED_PID" 2>/dev/null
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    say "kept $RUN"
  else
    if [ "$rc" != 0 ]; then
      for log in "$RUN/redis.log" "$RUN/honed.log"; do
        [ -s "$log" ] && { say "last lines of $log"; tail -5 "$log" >&2; }
      done
    fi
    rm -rf "$RUN"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# honed, redis and the load run in sessions of their own (setsid), so that a Ctrl-C
# reaches this script (and hone run) only: the cleanup cancels the job first, and
# honed puts the knobs back while redis still answers; then it stops the rest.

# --- honed -----------------------------------------------------------------------
export HONE_SOCKET=${HONE_SOCKET:-$RUN/honed.sock}
if "$HONE" ping >/dev/null 2>&1; then
  say "using the honed at $HONE_SOCKET"
else
  say "starting a private honed at $HONE_SOCKET"
  setsid "$HONED" --socket "$HONE_SOCKET" --state-dir "$RUN/state" >"$RUN/honed.log" 2>&1 &
  HONED_PID=$!
  for _ in $(seq 100); do "$HONE" ping >/dev/null 2>&1 && break; sleep 0.1; done
  "$HONE" ping >/dev/null 2>&1 || die "honed did not start (see $RUN/honed.log)"
fi

# --- redis and its load ----------------------------------------------------------
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=${REDIS_PORT:-16379}
while in_use "$PORT"; do PORT=$((PORT + 1)); done
mkdir "$RUN/redis"
say "starting redis-server on 127.0.0.1:$PORT (dir $RUN/redis; Redis's defaults, and an AOF fsynced every second)"
setsid redis-server --port "$PORT" --bind 127.0.0.1 --dir "$RUN/redis" --daemonize no \
  --appendonly yes --appendfsync everysec --logfile "" >"$RUN/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$PORT" ping >/dev/null 2>&1 || die "redis-server did not start (see $RUN/redis.log)"

# Two loops at once, so that the mix of writes and reads is the same every second
# (one redis-benchmark runs its tests one after the other, minutes each).
say "starting the load: redis-benchmark SET and GET loops, $CLIENTS connections each, pipeline 16"
bench() {
  setsid redis-benchmark -p "$PORT" -t "$1" -c "$CLIENTS" -P 16 -r 100000 -d 64 \
    -n 2000000000 -l -q >"$RUN/bench-$1.log" 2>&1 &
}
bench set; SET_PID=$!
bench get; GET_PID=$!

cp "$HERE/rate.sh" "$RUN/rate.sh"
sed -e "s|@PORT@|$PORT|g" -e "s|@RUN@|$RUN|g" -e "s|@MINUTES@|$MINUTES|g" \
  "$HERE/redis.yaml" >"$RUN/redis.yaml"

rate() {  # mean commands/s over $1 seconds
  local state=$RUN/by-hand.state
  rm -f "$state"
  sh "$RUN/rate.sh" "$PORT" "$state" >/dev/null
  sleep "$1"
  sh "$RUN/rate.sh" "$PORT" "$state"
}
knob_values() {
  for name in appendfsync auto-aof-rewrite-min-size hz latency-tracking slowlog-log-slower-than; do
    printf '%s=%s ' "$name" "$(redis-cli -p "$PORT" config get "$name" | tail -1)"
  done
}

sleep 3
BEFORE_KNOBS=$(knob_values)
say "warm-up: $(rate 5) commands/s under $BEFORE_KNOBS"

# --- the job -----------------------------------------------------------------------
say "hone run $RUN/redis.yaml (live, max_minutes $MINUTES)"
# hone run follows the job to its end and prints the report. Its first line on
# stderr names the job, which the cleanup cancels if this script is interrupted.
# The progress line goes to the terminal only (piped, it would be one line a sample).
if [ -t 2 ]; then
  "$HONE" run "$RUN/redis.yaml" 2> >(tee "$RUN/run.err" >&2) >"$RUN/report.txt" &
else
  "$HONE" run "$RUN/redis.yaml" 2>"$RUN/run.err" >"$RUN/report.txt" &
fi
RUN_PID=$!
for _ in $(seq 100); do
  JOB=$(sed -n 's/^hone: job \([0-9]*\) submitted.*/\1/p' "$RUN/run.err" 2>/dev/null | head -1)
  [ -n "$JOB" ] && break
  kill -0 "$RUN_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$JOB" ] || die "hone run did not say which job it submitted"
# The status and the report show the last 5 changes only: keep every one, from a
# status every 2 s (a change takes one sample's time at least).
(
  while kill -0 "$RUN_PID" 2>/dev/null; do
    "$HONE" --json status "$JOB" 2>/dev/null |
      grep -oE '\{"at":[0-9.]+,"phase":[0-9]+,"reason":"([^"\\]|\\.)*","to":\{[^}]*\}\}' \
        >>"$RUN/changes.json" || true
    sleep 2
  done
) &
POLL_PID=$!
wait "$RUN_PID" || say "hone run exited with status $? ($(grep -v '^job ' "$RUN/run.err" | tail -1))"
RUN_PID=
"$HONE" --json status "$JOB" 2>/dev/null |
  grep -oE '\{"at":[0-9.]+,"phase":[0-9]+,"reason":"([^"\\]|\\.)*","to":\{[^}]*\}\}' \
    >>"$RUN/changes.json" || true
wait "$POLL_PID" 2>/dev/null || true
POLL_PID=
"$HONE" --json report "$JOB" >"$RUN/report.json" 2>/dev/null || true
echo
cat "$RUN/report.txt"
echo
echo "Every change of the job (the report above lists the last 5):"
touch "$RUN/changes.json"
awk '!seen[$0]++' "$RUN/changes.json" | while IFS= read -r line; do
  at=$(printf '%s' "$line" | sed 's/^{"at":\([0-9]*\).*/\1/')
  reason=$(printf '%s' "$line" | sed 's/.*"reason":"\(.*\)","to":{.*/\1/; s/\\"/"/g')
  printf '  %s %s\n' "$(date -d "@$at" +%T)" "$reason"
done
echo

redis-cli -p "$PORT" ping >/dev/null 2>&1 || die "redis-server on port $PORT is gone"
AFTER_KNOBS=$(knob_values)
if [ "$AFTER_KNOBS" = "$BEFORE_KNOBS" ]; then
  say "every knob is back: $AFTER_KNOBS"
else
  say "KNOBS NOT PUT BACK: before: $BEFORE_KNOBS; after: $AFTER_KNOBS"
fi

# --- by hand: the best against the defaults, in alternation ------------------------
redis_name() {
  case $1 in
    aof_rewrite_min_size) echo auto-aof-rewrite-min-size ;;
    latency_tracking) echo latency-tracking ;;
    slowlog_slower_than) echo slowlog-log-slower-than ;;
    *) echo "$1" ;;
  esac
}
# The best settings, "redis-name value" a line, from the report's shell format
# (export appendfsync='everysec' ...).
BEST=$("$HONE" report "$JOB" --format sh 2>/dev/null |
       sed -n "s/^export \([a-z_]*\)='\(.*\)'\$/\1 \2/p" |
       while read -r knob value; do echo "$(redis_name "$knob") $value"; done || true)
default_of() { printf '%s\n' $BEFORE_KNOBS | sed -n "s/^$1=//p"; }
DIFFERS=$(while read -r name value; do
            [ -n "$name" ] && [ "$value" != "$(default_of "$name")" ] && printf '%s=%s ' "$name" "$value"
          done <<<"$BEST" || true)
if [ -z "$BEST" ]; then
  say "no best configuration in the report"
elif [ -z "$DIFFERS" ]; then
  say "the best is what redis started with: nothing to check by hand"
elif [ "$VERIFY" = 1 ]; then
  set_knobs() {  # $1: defaults or best
    while read -r name value; do
      [ "$1" = defaults ] && value=$(default_of "$name")
      redis-cli -p "$PORT" config set "$name" "$value" >/dev/null
    done <<<"$BEST"
  }
  say "by hand: 6 s under the defaults and 6 s under the best ($DIFFERS) in turn, 3 rounds (ABBAAB), the first second of each left out"
  d_sum=0 b_sum=0
  for order in "defaults best" "best defaults" "defaults best"; do
    for which in $order; do
      set_knobs "$which"; sleep 1; r=$(rate 5)
      printf -v "rate_$which" %s "$r"
      if [ "$which" = defaults ]; then d_sum=$((d_sum + r)); else b_sum=$((b_sum + r)); fi
    done
    say "  defaults $rate_defaults, best $rate_best commands/s"
  done
  set_knobs defaults
  say "by hand: defaults $((d_sum / 3)), best $((b_sum / 3)) commands/s ($(awk -v a=$d_sum -v b=$b_sum 'BEGIN { printf "%+.1f%%", (b / a - 1) * 100 }'))"
fi
