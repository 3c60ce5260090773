#!/bin/sh
# Reference workload for hone: runs the demo GEMM kernel with the knob values
# hone exports ($inter_op -> --threads, $intra_op -> --block) and writes the
# measured throughput (GFLOP/s, higher is better) as one number to the result
# file that the knobs.yaml metric reads with `cat`.
set -eu

: "${inter_op:?inter_op is not set (number of worker threads, e.g. inter_op=2)}"
: "${intra_op:?intra_op is not set (tile edge, e.g. intra_op=28)}"

kernel="${HONE_DEMO_KERNEL:-$(dirname "$0")/../../build/bin/hone-demo-kernel}"
result_file="${HONE_RESULT_FILE:-/tmp/result.txt}"

if [ ! -x "$kernel" ]; then
  echo "workload.sh: kernel not found at $kernel (build it, or set HONE_DEMO_KERNEL)" >&2
  exit 1
fi

output="$("$kernel" --threads "$inter_op" --block "$intra_op")" || {
  status=$?
  echo "workload.sh: kernel failed (exit $status) for inter_op=$inter_op intra_op=$intra_op" >&2
  exit "$status"
}
value="$(printf '%s\n' "$output" | sed -n 's/^throughput: \([0-9][0-9.]*\) GFLOP\/s$/\1/p')"
if [ -z "$value" ]; then
  echo "workload.sh: unexpected kernel output: $output" >&2
  exit 1
fi

# Write via a temp file so a reader never sees a half-written result.
tmp="$result_file.tmp.$$"
printf '%s\n' "$value" >"$tmp"
mv -f "$tmp" "$result_file"
