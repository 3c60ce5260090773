#!/usr/bin/env bash
# honed under a real systemd: the installed unit (systemd/honed.service.in) and
# sysusers file, booted in a systemd-nspawn container of a minimal Debian 12, as
# docs/architecture.md describes them. It checks that:
#   1. `systemctl start honed` becomes active (Type=notify: honed sent READY=1), the
#      socket answers at /run/honed/honed.sock, and the `hone` group exists;
#   2. a job with a script knob completes and puts the knob back;
#   3. `systemctl stop honed` during a job ends the job as interrupted, kills its
#      workload and puts the knob back;
#   4. SIGKILL to honed during a job (a crash): ExecStopPost (`honed --restore`)
#      puts the knob back, systemd restarts honed (Restart=on-failure), the job is
#      interrupted and no workload process is left.
#
# Usage: tests/systemd_test.sh BUILD_DIR   (ctest runs it as SystemdTest)
# Needs root, systemd-nspawn (systemd-container) and debootstrap, and the apt mirror
# once, to make the container's root (kept in BUILD_DIR/systemd-rootfs). Without
# them it exits 77, which ctest reports as skipped, with the reason.
set -uo pipefail

build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
skip() { echo "SKIPPED: $*" >&2; exit 77; }
fail() {
  echo "FAILED: $*" >&2
  if [ -n "${pid:-}" ]; then
    echo "--- honed's journal in the container:" >&2
    inside journalctl -u honed --no-pager -n 60 >&2 || true
  fi
  exit 1
}

[ "$(id -u)" -eq 0 ] || skip "needs root to boot a container"
command -v systemd-nspawn >/dev/null || skip "needs systemd-nspawn (apt-get install systemd-container)"
command -v debootstrap >/dev/null || skip "needs debootstrap (apt-get install debootstrap)"
command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"

# --- The container's root: a minimal Debian 12 with systemd and honed's libraries.
rootfs="$build/systemd-rootfs"
packages=systemd,systemd-sysv,dbus,procps,libyaml-cpp0.7,libspdlog1.10,libfmt9,libsqlite3-0,libre2-9
if [ "$(cat "$rootfs/.hone-packages" 2>/dev/null)" != "$packages" ]; then
  mirror=$(sed -n 's/^URIs: *\([^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  echo "systemd_test: making the container's root from $mirror (once)" >&2
  rm -rf "$rootfs.new"
  if ! debootstrap --variant=minbase \
      --include="$packages" \
      bookworm "$rootfs.new" "$mirror" >"$build/systemd-rootfs.log" 2>&1; then
    tail -5 "$build/systemd-rootfs.log" >&2
    rm -rf "$rootfs.new"
    skip "debootstrap from $mirror failed (log: $build/systemd-rootfs.log)"
  fi
  echo "$packages" >"$rootfs.new/.hone-packages"
  rm -rf "$rootfs" && mv "$rootfs.new" "$rootfs"
fi

# --- honed as `cmake --install` puts it, under /usr/local, and a clean state.
# The journal too: the checks below read it.
rm -rf "$rootfs/var/lib/honed" "$rootfs/var/tmp/hone-test" "$rootfs/usr/local" \
  "$rootfs"/var/log/journal/*
DESTDIR="$rootfs" cmake --install "$build" --prefix /usr/local >/dev/null ||
  fail "cmake --install into the container's root"
[ -f "$rootfs/usr/local/lib/systemd/system/honed.service" ] || fail "the unit was not installed"
[ -f "$rootfs/usr/local/lib/sysusers.d/hone.conf" ] || fail "the sysusers file was not installed"

# --- Boot it, with a network of its own (loopback only): nothing in it can touch
# the machine's network settings, and /proc/sys is read-only in it.
log="$build/systemd-container.log"
systemd-nspawn -q -D "$rootfs" --boot --register=no --keep-unit --private-network \
  --machine="hone-test-$$" </dev/null >"$log" 2>&1 &
nspawn=$!
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -RTMIN+4 "$pid" 2>/dev/null; fi  # poweroff
  for _ in $(seq 50); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$nspawn" 2>/dev/null
  wait "$nspawn" 2>/dev/null
}
trap cleanup EXIT
inside() { nsenter -t "$pid" -a env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "$@"; }

for _ in $(seq 100); do
  pid=$(pgrep -P "$nspawn" | head -1)
  [ -n "$pid" ] && break
  kill -0 "$nspawn" 2>/dev/null || { cat "$log" >&2; skip "systemd-nspawn could not boot a container here"; }
  sleep 0.1
done
[ -n "$pid" ] || { cat "$log" >&2; skip "systemd-nspawn did not start the container's systemd"; }
state=""
for _ in $(seq 150); do
  state=$(inside systemctl is-system-running 2>/dev/null)
  case "$state" in running | degraded) break ;; esac
  sleep 0.2
done
case "$state" in running | degraded) ;; *) fail "the container's systemd is '$state', not running" ;; esac
echo "systemd_test: container booted ($state)" >&2

# waits up to $1 seconds for the command after it to succeed
await() {
  local limit=$1; shift
  for _ in $(seq $((limit * 5))); do "$@" && return 0; sleep 0.2; done
  return 1
}
knob() { cat "$rootfs/var/tmp/hone-test/knob"; }
knob_is() { [ "$(knob)" = "$1" ]; }
job_state() { inside hone --json status "$1" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'; }
job_is() { [ "$(job_state "$1")" = "$2" ]; }
# pgrep exits 1 when nothing matches (0: something does; more: it failed).
no_workload() {
  inside pgrep -f "hone-test-workload|sleep 300" >/dev/null
  [ $? -eq 1 ]
}

# --- 1. Start.
inside systemd-sysusers || fail "systemd-sysusers"
inside systemctl daemon-reload || fail "daemon-reload"
inside systemctl start honed || fail "systemctl start honed"
[ "$(inside systemctl is-active honed)" = active ] || fail "honed is not active after start"
inside getent group hone >/dev/null || fail "the sysusers file did not make group 'hone'"
inside hone ping >/dev/null || fail "hone ping over /run/honed/honed.sock"
echo "systemd_test: 1. honed started under systemd and answers" >&2

# A script knob (original value a) and an app knob n; the workload sleeps when the
# knob is b and $1 says so, so that a job can be stopped while the knob is changed.
mkdir -p "$rootfs/var/tmp/hone-test"
echo a >"$rootfs/var/tmp/hone-test/knob"
cat >"$rootfs/var/tmp/hone-test/knobs.yaml" <<'EOF'
domain:
  common:
    knobs:
      test.knob:
        options: [a, b]
        get_script: cat /var/tmp/hone-test/knob
        set_script: printf '%s\n' "$KNOB_VAL" > /var/tmp/hone-test/knob
      n:
        options: [1, 2, 3]
    metrics:
      m:
        sample_script: cat /var/tmp/hone-test/result
    target: m:max
global_settings:
  max_configs: 6
  min_baseline_samples: 1
strategy: exhaustive
EOF
cat >"$rootfs/var/tmp/hone-test/hone-test-workload" <<'EOF'
#!/bin/sh
k=$(cat /var/tmp/hone-test/knob)
echo "$k" >> /var/tmp/hone-test/seen
if [ "$k" = b ] && [ "${1:-}" = hang ]; then sleep 300; fi
if [ "$k" = b ]; then echo $((10 + n)); else echo "$n"; fi > /var/tmp/hone-test/result
EOF
chmod +x "$rootfs/var/tmp/hone-test/hone-test-workload"
cfg=/var/tmp/hone-test/knobs.yaml
workload=/var/tmp/hone-test/hone-test-workload

# Submits a job whose workload hangs once the knob is b, and waits until it is:
# sets $job.
start_hanging_job() {
  job=$(inside hone --json submit "$cfg" -- "$workload" hang | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
  [ -n "$job" ] || fail "hone submit printed no job number"
  await 60 knob_is b || fail "job $job never set the knob to b"
}

# --- 2. A job completes and puts the knob back.
report=$(cd / && inside hone run --json "$cfg" -- "$workload" 2>/dev/null) ||
  fail "hone run: $report"
grep -q '"state":"completed"' <<<"$report" || fail "job 1 did not complete: $report"
grep -q '"test.knob":"b"' <<<"$report" || fail "the best config should have test.knob b: $report"
grep -qx b "$rootfs/var/tmp/hone-test/seen" || fail "the job never set the knob to b"
knob_is a || fail "after job 1 the knob is '$(knob)', not its original a"
echo "systemd_test: 2. a job completed and put its knob back" >&2

# --- 3. systemctl stop during a job.
start_hanging_job
inside systemctl stop honed || fail "systemctl stop honed"
[ "$(inside systemctl is-active honed)" != active ] || fail "honed is still active after stop"
knob_is a || fail "after systemctl stop the knob is '$(knob)', not its original a"
await 10 no_workload || fail "the workload outlived systemctl stop"
inside systemctl start honed || fail "systemctl start honed (again)"
job_is "$job" interrupted || fail "job $job is '$(job_state "$job")' after a stop, not interrupted"
echo "systemd_test: 3. systemctl stop interrupted job $job, killed its workload, put the knob back" >&2

# --- 4. A crash: SIGKILL to honed during a job.
start_hanging_job
main=$(inside systemctl show -p MainPID --value honed)
inside systemctl kill -s KILL --kill-whom=main honed || fail "systemctl kill"
await 20 knob_is a || fail "after honed was killed the knob is '$(knob)', not its original a"
await 20 no_workload || fail "the workload outlived honed"
restart() {
  [ "$(inside systemctl is-active honed)" = active ] &&
    [ "$(inside systemctl show -p MainPID --value honed)" != "$main" ]
}
await 30 restart || fail "systemd did not restart honed after it was killed"
# ExecStopPost's `honed --restore` put it back, before systemd restarted honed.
inside journalctl -u honed --no-pager -o cat | grep -q "restored 1 knob instance" ||
  fail "the journal shows no 'honed --restore' putting the knob back after the crash"
job_is "$job" interrupted || fail "job $job is '$(job_state "$job")' after a crash, not interrupted"
echo "systemd_test: 4. after SIGKILL the knob was put back, honed restarted, job $job is interrupted" >&2
echo "systemd_test: passed" >&2
