#!/bin/sh
# rate.sh PORT STATE_FILE
#
# The live job's sample_script: prints redis's throughput, in commands per second,
# since this script last ran. It reads total_commands_processed (a counter of every
# command redis has executed) and keeps the last count and the time it was read in
# STATE_FILE. With honed sampling every sampling_interval seconds, each sample is
# the exact rate over the interval since the previous sample: nothing of an earlier
# configuration leaks into it beyond the one sample after a change, which honed
# leaves out of the epoch anyway.
#
# The first call (no state yet), or one after the counter went back (a restarted
# redis), measures over half a second instead.
port=$1
state=$2
count() {
  redis-cli -p "$port" info stats | awk -F: '/^total_commands_processed:/ { print $2 + 0 }'
}
c=$(count)
t=$(date +%s.%N)
if [ -z "$c" ]; then
  echo "rate.sh: redis on port $port does not answer" >&2
  exit 1
fi
pc=
pt=
if [ -r "$state" ]; then read -r pc pt < "$state"; fi
if [ -z "$pc" ] || [ -z "$pt" ] || [ "$c" -lt "$pc" ]; then
  pc=$c
  pt=$t
  sleep 0.5
  c=$(count)
  t=$(date +%s.%N)
fi
echo "$c $t" > "$state"
awk -v a="$pc" -v b="$c" -v ta="$pt" -v tb="$t" \
  'BEGIN { if (tb - ta <= 0) exit 1; printf "%.0f\n", (b - a) / (tb - ta) }'
