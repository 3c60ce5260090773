#!/usr/bin/env bash
# honed under a real systemd: the installed unit (systemd/honed.service.in) and
# sysusers file, booted in a systemd-nspawn container of a minimal Debian 12, as
# docs/architecture.md describes them. It checks that:
# honed is installed from the Debian package (build/hone_*.deb, which scripts/test
# makes with scripts/package) with apt inside the booted container, or, when there
# is no package newer than the build, with `cmake --install` under /usr/local.
#   1. `apt install` of the package leaves honed enabled and active (Type=notify:
#      honed sent READY=1; with cmake, `systemctl start honed` does), the
#      socket answers at /run/honed/honed.sock, the `hone` group exists, `man hone`
#      shows the installed page, and the installed bash completion completes
#      `hone st` and a built-in knob name from honed (`hone knobs net.core.so`);
#   2. a job with a script knob completes and puts the knob back, and
#      `journalctl HONE_JOB=1` shows each knob write and restore with its fields;
#   3. `systemctl stop honed` during a job interrupts the job, kills its workload
#      and puts the knob back; `systemctl start honed` resumes the job, which
#      completes and puts the knob back;
#   4. SIGKILL to honed during a job (a crash): ExecStopPost (`honed --restore`)
#      puts the knob back, systemd restarts honed (Restart=on-failure), no workload
#      process is left, and the job resumes and completes;
#   5. with Delegate=yes honed runs in the leaf <unit cgroup>/honed, each run in a
#      cgroup of its own under <unit cgroup>/workloads, and a child that a
#      workload started with setsid does not outlive its job;
#   6. `systemctl reload honed` reads the installed honed.conf again in the same
#      honed: a new log level shows in the journal; a broken file is named with its
#      line and changes nothing;
#   7. `systemd-analyze verify` accepts the installed unit (its sandboxing score is
#      printed);
#   8. real users: a member of hone submits a job whose workload runs as that
#      member; is refused a system knob by a message naming hone-admin; a member of
#      hone-admin may tune one (net.core.somaxconn: written, seen by the workload,
#      logged, put back); a user in neither group cannot connect and is told why; a
#      member cannot cancel another's job;
#   9. a SIGSTOPped honed is killed by the watchdog and restarted by systemd;
#  10. `hone apply` of a job's best survives a reboot of the container (honed writes
#      it again at its start), and `hone restore` puts the original back;
#  11. from the package: `apt remove hone` during a job stops honed, which puts the
#      knob back and kills the workload, and keeps /var/lib/honed; `apt purge hone`
#      deletes it and the config file.
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
packages=systemd,systemd-sysv,dbus,procps,man-db,libyaml-cpp0.7,libspdlog1.10,libfmt9,libsqlite3-0,libre2-9
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

# --- honed from the Debian package that scripts/package made (build/hone_*.deb),
# installed with apt inside the booted container, when the package is newer than
# the build's honed; otherwise as `cmake --install` puts it, under /usr/local. And a
# clean state: no hone package, no state, no journal (the checks below read it).
deb=$(ls -t "$build"/hone_*.deb 2>/dev/null | head -1)
if [ -n "$deb" ] && [ "$deb" -nt "$build/bin/honed" ]; then
  from=package
  prefix=/usr etc=/etc unitdir=/lib/systemd/system
else
  from=cmake
  prefix=/usr/local etc=/usr/local/etc unitdir=/usr/local/lib/systemd/system
  [ -z "$deb" ] || echo "systemd_test: $deb is older than the build: using cmake --install" >&2
fi
chroot "$rootfs" dpkg --purge hone >/dev/null 2>&1
rm -rf "$rootfs/var/lib/honed" "$rootfs/var/tmp/hone-test" "$rootfs/usr/local" \
  "$rootfs/etc/honed" "$rootfs"/root/hone_*.deb "$rootfs"/var/log/journal/*
if [ "$from" = package ]; then
  cp "$deb" "$rootfs/root/" || fail "cannot copy $deb into the container's root"
else
  DESTDIR="$rootfs" cmake --install "$build" --prefix /usr/local >/dev/null ||
    fail "cmake --install into the container's root"
  [ -f "$rootfs$unitdir/honed.service" ] || fail "the unit was not installed"
  [ -f "$rootfs/usr/local/lib/sysusers.d/hone.conf" ] || fail "the sysusers file was not installed"
fi
echo "systemd_test: installing honed from the $from" >&2

# waits up to $1 seconds for the command after it to succeed: a deadline on the
# clock, however long each try takes, and one last try at the deadline.
await() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  return 0
}
# true once process $1 has exited (a zombie that bash has not reaped yet counts).
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# --- Boot it, with a network of its own (loopback only): nothing in it can touch
# the machine's network settings, and /proc/sys is read-only in it.
log="$build/systemd-container.log"
start_container() {
  systemd-nspawn -q -D "$rootfs" --boot --register=no --keep-unit --private-network \
    --machine="hone-test-$$" </dev/null >>"$log" 2>&1 &
  nspawn=$!
  pid=""
}
: >"$log"
start_container

# The container's init, which `inside` enters, must be the process that stays its
# systemd for the whole test. systemd-nspawn forks an outer child that clones the
# init into a new pid namespace and exits, and the init runs nspawn's own code
# until it execs systemd, so "the first child that appears" may be gone a moment
# later. The init is, among nspawn's descendants, the one that is pid 1 in a pid
# namespace one level below ours (NSpid: one field more than ours, the last 1) and
# whose executable is systemd.
our_pidns=$(readlink /proc/self/ns/pid)
our_depth=$(awk '$1 == "NSpid:" { print NF - 1 }' /proc/self/status)
is_container_init() {
  [ "$(awk '$1 == "NSpid:" { print NF - 1, $NF }' "/proc/$1/status" 2>/dev/null)" = \
    "$((our_depth + 1)) 1" ] &&
    [ "$(readlink "/proc/$1/ns/pid" 2>/dev/null)" != "$our_pidns" ] &&
    [[ "$(readlink "/proc/$1/exe" 2>/dev/null)" == */systemd ]]
}
# prints the container's init once it has exec'd systemd; nspawn's children first.
container_init() {
  local level=("$nspawn") next p
  while [ ${#level[@]} -gt 0 ]; do
    next=()
    for p in $(pgrep -P "$(IFS=,; echo "${level[*]}")"); do
      is_container_init "$p" && { echo "$p"; return 0; }
      next+=("$p")
    done
    level=("${next[@]}")
  done
  return 1
}

cleanup() {
  # Power the container off: through its init (SIGRTMIN+4), or, when it was not
  # found, through systemd-nspawn, which passes SIGTERM on to it as a halt.
  [ -n "$pid" ] || pid=$(container_init) || pid=""
  if [ -n "$pid" ]; then kill -RTMIN+4 "$pid" 2>/dev/null; else kill -TERM "$nspawn" 2>/dev/null; fi
  if ! await 60 gone "$nspawn"; then
    # SIGKILL to the init ends every process in its pid namespace; SIGKILL to
    # systemd-nspawn alone would leave the container running, under our init, on
    # this rootfs.
    if [ -n "$pid" ] && is_container_init "$pid"; then kill -9 "$pid"; fi
    await 10 gone "$nspawn" || kill -9 "$nspawn" 2>/dev/null
  fi
  wait "$nspawn" 2>/dev/null
}
trap cleanup EXIT
# An interrupted test (ctest's timeout, ^C) powers the container off too.
trap 'exit 130' INT
trap 'exit 143' TERM
inside() { nsenter -t "$pid" -a env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root "$@"; }

# Waits for the container's systemd to be up; sets $pid.
await_boot() {
  local deadline=$((SECONDS + 60))
  until pid=$(container_init); do
    gone "$nspawn" && { cat "$log" >&2; skip "systemd-nspawn could not boot a container here"; }
    [ "$SECONDS" -lt "$deadline" ] ||
      { cat "$log" >&2; skip "systemd-nspawn did not start the container's systemd"; }
    sleep 0.1
  done
  await 120 booted || fail "the container's systemd is '$state', not running"
}
# It has booted when systemctl says so ('degraded': some unit of the minimal Debian
# failed, which honed does not need).
state=""
booted() {
  state=$(inside systemctl is-system-running 2>/dev/null)
  case "$state" in running | degraded) return 0 ;; *) return 1 ;; esac
}
await_boot
echo "systemd_test: container booted ($state, init $pid)" >&2

knob() { cat "$rootfs/var/tmp/hone-test/knob"; }
knob_is() { [ "$(knob)" = "$1" ]; }
job_state() { inside hone --json status "$1" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'; }
job_is() { [ "$(job_state "$1")" = "$2" ]; }
# The job was resumed $2 times after honed restarted (status's "resumed").
job_resumed() { inside hone --json status "$1" | grep -q "\"resumed\":{[^}]*\"times\":$2[,}]"; }
# Waits until a resumed job completes, puts its knob back and leaves no workload.
resumed_completes() {
  await 60 job_is "$1" completed || fail "resumed job $1 is '$(job_state "$1")', not completed"
  await 20 knob_is a || fail "after resumed job $1 the knob is '$(knob)', not a"
  await 10 no_workload || fail "resumed job $1's workload outlived it"
}
# pgrep exits 1 when nothing matches (0: something does; more: it failed).
no_workload() {
  inside pgrep -f "hone-test-workload|sleep 300" >/dev/null
  [ $? -eq 1 ]
}
workload_hangs() { inside pgrep -f "sleep 300" >/dev/null; }
# honed's unit as one snapshot from systemd: "ActiveState MainPID NRestarts".
honed_unit() {
  inside systemctl show -p ActiveState -p MainPID -p NRestarts honed |
    awk -F= '{ v[$1] = $2 } END { print v["ActiveState"], v["MainPID"], v["NRestarts"] }'
}

# --- 1. Start: `apt install` of the package starts honed (READY=1) and enables it;
# a `cmake --install` needs the groups, a reload and a start by hand.
if [ "$from" = package ]; then
  installed=$(inside env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    "/root/$(basename "$deb")" 2>&1) || fail "apt install of the package: $installed"
  [ "$(inside systemctl is-enabled honed)" = enabled ] || fail "the package did not enable honed"
else
  inside systemd-sysusers || fail "systemd-sysusers"
  inside systemctl daemon-reload || fail "daemon-reload"
  inside systemctl enable --now honed >/dev/null 2>&1 || fail "systemctl enable --now honed"
fi
[ "$(inside systemctl is-active honed)" = active ] || fail "honed is not active after start"
inside getent group hone >/dev/null || fail "the sysusers file did not make group 'hone'"
inside getent group hone-admin >/dev/null || fail "the sysusers file did not make group 'hone-admin'"
inside hone ping >/dev/null || fail "hone ping over /run/honed/honed.sock"
# The installed bash completion: `hone st<TAB>`.
completed=$(inside bash -c 'source '"$prefix"'/share/bash-completion/completions/hone &&
  COMP_WORDS=(hone st) && COMP_CWORD=1 && _hone && echo "${COMPREPLY[*]}"')
[ "$completed" = status ] || fail "bash completion of 'hone st' gave '$completed', not status"
# ...and a built-in knob's name, from the running honed: `hone knobs net.core.so<TAB>`.
completed=$(inside bash -c 'source '"$prefix"'/share/bash-completion/completions/hone &&
  COMP_WORDS=(hone knobs net.core.so) && COMP_CWORD=2 && _hone && echo "${COMPREPLY[*]}"')
[ "$completed" = net.core.somaxconn ] ||
  fail "bash completion of 'hone knobs net.core.so' gave '$completed', not net.core.somaxconn"
# The installed man page.
manual=$(inside env MANPAGER=cat man hone 2>&1)
grep -q "submit performance tuning jobs to honed" <<<"$manual" || fail "man hone: $manual"
echo "systemd_test: 1. honed ($from) started under systemd and answers; man hone, hone st<TAB> and hone knobs net.core.so<TAB> work" >&2

# A script knob (original value a) and an app knob n; the workload sleeps when the
# knob is b, $1 says so and the file `hang` exists, so that a job can be stopped
# while the knob is changed (and, once `hang` is gone, runs to its end when resumed).
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
if [ "$k" = b ] && [ "${1:-}" = hang ] && [ -e /var/tmp/hone-test/hang ]; then sleep 300; fi
if [ "$k" = b ]; then echo $((10 + n)); else echo "$n"; fi > /var/tmp/hone-test/result
EOF
chmod +x "$rootfs/var/tmp/hone-test/hone-test-workload"
cfg=/var/tmp/hone-test/knobs.yaml
workload=/var/tmp/hone-test/hone-test-workload

# Submits a job whose workload hangs once the knob is b, and waits until it hangs:
# the knob is b and the workload's `sleep 300` runs (the knob alone is set before
# the workload starts, and a stop then would find no workload to kill). Sets $job.
start_hanging_job() {
  touch "$rootfs/var/tmp/hone-test/hang"
  job=$(inside hone --json submit "$cfg" -- "$workload" hang | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
  [ -n "$job" ] || fail "hone submit printed no job number"
  await 60 knob_is b || fail "job $job never set the knob to b"
  await 30 workload_hangs || fail "job $job's workload never ran with the knob at b"
  rm -f "$rootfs/var/tmp/hone-test/hang"  # the next runs of it do not hang
}

# --- 2. A job completes and puts the knob back.
report=$(cd / && inside hone run --json "$cfg" -- "$workload" 2>/dev/null) ||
  fail "hone run: $report"
grep -q '"state":"completed"' <<<"$report" || fail "job 1 did not complete: $report"
grep -q '"test.knob":"b"' <<<"$report" || fail "the best config should have test.knob b: $report"
grep -qx b "$rootfs/var/tmp/hone-test/seen" || fail "the job never set the knob to b"
knob_is a || fail "after job 1 the knob is '$(knob)', not its original a"
# The journal tells job 1's story by its field, each knob write and restore one line
# with its old and new value (daemon/journal.h).
story=$(inside journalctl -u honed HONE_JOB=1 --no-pager -o cat)
grep -q "job 1 .*: test.knob: a -> b" <<<"$story" ||
  fail "journalctl HONE_JOB=1 does not show the knob's write: $story"
grep -q "job 1: test.knob restored to a (was [ab])" <<<"$story" ||
  fail "journalctl HONE_JOB=1 does not show the knob's restore: $story"
fields=$(inside journalctl -u honed HONE_KNOB=test.knob HONE_NEW=b --no-pager -o verbose)
grep -q "HONE_OLD=a" <<<"$fields" && grep -q "HONE_REASON=trial [0-9]" <<<"$fields" &&
  grep -q "HONE_JOB=1" <<<"$fields" ||
  fail "the knob write's journal entry lacks its fields: $fields"
restores=$(inside journalctl -u honed HONE_KNOB=test.knob HONE_REASON=restore --no-pager -o cat)
grep -q "restored to a" <<<"$restores" || fail "no restore of test.knob by its fields: $restores"
echo "systemd_test: 2. a job completed and put its knob back; journalctl HONE_JOB=1 tells its story" >&2

# --- 3. systemctl stop during a job.
start_hanging_job
inside systemctl stop honed || fail "systemctl stop honed"
[ "$(inside systemctl is-active honed)" != active ] || fail "honed is still active after stop"
knob_is a || fail "after systemctl stop the knob is '$(knob)', not its original a"
await 10 no_workload || fail "the workload outlived systemctl stop"
inside systemctl start honed || fail "systemctl start honed (again)"
await 30 job_resumed "$job" 1 ||
  fail "job $job was not resumed after the restart: $(inside hone --json status "$job")"
resumed_completes "$job"
echo "systemd_test: 3. systemctl stop interrupted job $job, killed its workload, put the knob back; the next start resumed it" >&2

# --- 4. A crash: SIGKILL to honed during a job.
start_hanging_job
# What the restart and the journal are judged by, read before the kill: honed's main
# pid and restart count (one snapshot), and where the journal ends.
read -r _ main restarts <<<"$(honed_unit)"
[[ "$main" =~ ^[1-9][0-9]*$ && "$restarts" =~ ^[0-9]+$ ]] ||
  fail "systemctl show gave MainPID '$main', NRestarts '$restarts' for the running honed"
cursor=$(inside journalctl -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
[ -n "$cursor" ] || fail "journalctl showed no cursor"
inside systemctl kill -s KILL --kill-whom=main honed || fail "systemctl kill"
await 20 knob_is a || fail "after honed was killed the knob is '$(knob)', not its original a"
await 20 no_workload || fail "the workload outlived honed"
# Restarted: active again (a new honed sent READY=1), one more restart counted and
# another main pid, all in one snapshot (two reads could pair the old honed's
# 'active' with the MainPID 0 of the moment after systemd saw it die).
restarted() {
  local active now n
  read -r active now n <<<"$(honed_unit)"
  [ "$active" = active ] && [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt "$restarts" ] &&
    [[ "$now" =~ ^[1-9][0-9]*$ ]] && [ "$now" != "$main" ]
}
await 30 restarted || fail "systemd did not restart honed after it was killed"
# ExecStopPost's `honed --restore` put it back, before systemd restarted honed: its
# line after the kill (the stop in 3 ran it too, and must not count). journald may
# write a stream's last lines after the process has exited, so it is waited for; and
# grep reads a variable, not a pipe, which pipefail would fail when grep -q stops
# reading early.
restore_logged() {
  grep -q "restored 1 knob instance" \
    <<<"$(inside journalctl -u honed --after-cursor="$cursor" --no-pager -o cat)"
}
await 10 restore_logged ||
  fail "the journal shows no 'honed --restore' putting the knob back after the crash"
await 30 job_resumed "$job" 1 ||
  fail "job $job was not resumed after the crash: $(inside hone --json status "$job")"
resumed_completes "$job"
echo "systemd_test: 4. after SIGKILL the knob was put back, honed restarted and resumed job $job" >&2

# --- 5. Workloads in cgroups of their own, in the subtree systemd delegates.
main=$(inside systemctl show -p MainPID --value honed)
own=$(inside cat "/proc/$main/cgroup" | sed -n 's/^0:://p')
[ "$own" = /system.slice/honed.service/honed ] ||
  fail "honed is in cgroup '$own', not the leaf /system.slice/honed.service/honed"
inside journalctl -u honed --no-pager -o cat |
  grep -q "workloads run in cgroups of their own under .*/system.slice/honed.service/workloads" ||
  fail "the journal does not say that workloads run in cgroups under the unit's"
cat >"$rootfs/var/tmp/hone-test/hone-test-escape" <<'EOF'
#!/bin/sh
# Leaves a `sleep 300` in a session of its own, and waits until it runs.
rm -f /var/tmp/hone-test/escaped
setsid sh -c 'cat /proc/self/cgroup > /var/tmp/hone-test/escaped.tmp
  mv /var/tmp/hone-test/escaped.tmp /var/tmp/hone-test/escaped; exec sleep 300' \
  </dev/null >/dev/null 2>&1 &
while [ ! -s /var/tmp/hone-test/escaped ]; do sleep 0.01; done
echo "$n" > /var/tmp/hone-test/result
EOF
chmod +x "$rootfs/var/tmp/hone-test/hone-test-escape"
report=$(cd / && inside hone run --json "$cfg" -- /var/tmp/hone-test/hone-test-escape 2>/dev/null) ||
  fail "hone run (escaping workload): $report"
grep -q '"state":"completed"' <<<"$report" || fail "the escaping job did not complete: $report"
grep -q '^0::/system.slice/honed.service/workloads/run-[0-9]*$' "$rootfs/var/tmp/hone-test/escaped" ||
  fail "the workload ran in cgroup '$(cat "$rootfs/var/tmp/hone-test/escaped")', not a run's own"
await 5 no_workload || fail "the setsid child of a workload outlived its job"
echo "systemd_test: 5. honed runs in its leaf, each run in its own cgroup, no setsid child survives" >&2

# --- 6. systemctl reload: the config file again, in the same honed; a broken file
# changes nothing and says which line.
conf="$rootfs$etc/honed/honed.conf"
[ -f "$conf" ] || fail "the config file was not installed at $etc/honed/honed.conf"
shipped=$(cat "$conf")
main=$(inside systemctl show -p MainPID --value honed)
journal_after() { inside journalctl -u honed --after-cursor="$1" --no-pager -o cat; }
logged_after() { grep -q "$2" <<<"$(journal_after "$1")"; }
cursor=$(inside journalctl -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
printf '%s\nlog-level = debug\n' "$shipped" >"$conf"
inside systemctl reload honed || fail "systemctl reload honed"
await 20 logged_after "$cursor" "reload: log-level info -> debug" ||
  fail "the journal does not show the reload's new log level: $(journal_after "$cursor")"
cursor=$(inside journalctl -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
printf '%s\nlog-level = loud\n' "$shipped" >"$conf"
inside systemctl reload honed || fail "systemctl reload honed (broken file)"
await 20 logged_after "$cursor" "honed.conf:[0-9]*: log-level 'loud' is not" ||
  fail "the journal does not name the broken line: $(journal_after "$cursor")"
logged_after "$cursor" "the settings stay as they were" || fail "the broken file was applied"
[ "$(inside systemctl is-active honed)" = active ] || fail "honed is not active after the reloads"
[ "$(inside systemctl show -p MainPID --value honed)" = "$main" ] ||
  fail "honed was restarted by a reload"
inside hone ping >/dev/null || fail "hone ping after the reloads"
printf '%s\n' "$shipped" >"$conf"
echo "systemd_test: 6. systemctl reload applied a new log level, kept the settings on a broken file, same honed" >&2

# --- 7. The installed unit passes systemd-analyze verify; its sandboxing score (docs/
# service.md, "Hardening") is printed, for the record.
verify=$(inside systemd-analyze verify "$unitdir/honed.service" 2>&1) ||
  fail "systemd-analyze verify refuses the unit: $verify"
score=$(inside systemd-analyze security honed --no-pager 2>&1 | grep "Overall exposure level")
[ -n "$score" ] || fail "systemd-analyze security gave no overall exposure level"
echo "systemd_test: 7. systemd-analyze verify accepts the unit; $(sed "s/.*exposure level for //" <<<"$score")" >&2

# --- 8. The privilege model with real users
# (docs/security.md): alice in hone, bob in hone and hone-admin, eve in neither.
for u in alice bob eve; do inside userdel -r "$u" >/dev/null 2>&1; done
inside useradd -m -G hone alice || fail "useradd alice"
inside useradd -m -G hone,hone-admin bob || fail "useradd bob"
inside useradd -m eve || fail "useradd eve"
as() { local user=$1; shift; inside runuser -u "$user" -- sh -c "cd /home/$user && $*"; }
mkdir -p "$rootfs/var/tmp/hone-users" && chmod 0755 "$rootfs/var/tmp/hone-users"
cat >"$rootfs/var/tmp/hone-users/app.yaml" <<'EOF'
domain:
  common:
    knobs:
      n: {options: [1, 2]}
    metrics:
      m:
        sample_script: cat result
    target: m:max
global_settings:
  max_configs: 2
EOF
# A system knob the container may write: its own network namespace's somaxconn
# (nspawn --private-network leaves /proc/sys/net writable; /proc/sys/vm is not).
somaxconn=$(inside cat /proc/sys/net/core/somaxconn)
other=1024; [ "$somaxconn" = 1024 ] && other=2048
cat >"$rootfs/var/tmp/hone-users/system.yaml" <<EOF
domain:
  common:
    knobs:
      net.core.somaxconn: {options: [$somaxconn, $other]}
    metrics:
      m:
        sample_script: echo 1
    target: m:max
EOF
# A member's workload runs as that member.
out=$(as alice 'hone run --json /var/tmp/hone-users/app.yaml -- sh -c "id -u > uid; echo \$n > result"' 2>&1) ||
  fail "alice's job: $out"
[ "$(cat "$rootfs/home/alice/uid")" = "$(inside id -u alice)" ] ||
  fail "alice's workload ran as uid $(cat "$rootfs/home/alice/uid"), not alice's"
# A member may not tune a system knob, and is told which group may.
out=$(as alice 'hone submit /var/tmp/hone-users/system.yaml -- true' 2>&1) &&
  fail "alice (not in hone-admin) was let tune net.core.somaxconn: $out"
grep -q "admin group 'hone-admin'" <<<"$out" || fail "the refusal does not name the admin group: $out"
# A member of hone-admin may: honed writes the knob (bob's workload sees both
# values), logs the write, and puts the original back at the end.
job=$(as bob 'hone --json submit /var/tmp/hone-users/system.yaml -- sh -c "cat /proc/sys/net/core/somaxconn >> seen"' | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "bob (in hone-admin) was refused a system knob"
out=$(as bob "hone watch -q $job" 2>&1) || fail "bob's (in hone-admin) system-knob job $job: $out"
grep -qx "$other" "$rootfs/home/bob/seen" ||
  fail "bob's workload never saw net.core.somaxconn at $other: $(cat "$rootfs/home/bob/seen")"
[ "$(inside cat /proc/sys/net/core/somaxconn)" = "$somaxconn" ] ||
  fail "after bob's job net.core.somaxconn is $(inside cat /proc/sys/net/core/somaxconn), not its original $somaxconn"
story=$(inside journalctl -u honed HONE_JOB="$job" HONE_KNOB=net.core.somaxconn --no-pager -o cat)
grep -q "$somaxconn -> $other" <<<"$story" && grep -q "$other -> $somaxconn" <<<"$story" ||
  fail "journalctl HONE_JOB=$job HONE_KNOB=net.core.somaxconn does not show the write and the restore: $story"
# Someone in neither group cannot connect, and is told why.
out=$(as eve 'hone ping' 2>&1) && fail "eve (in no hone group) could connect: $out"
grep -q "'hone' group" <<<"$out" || fail "eve is not told which group to join: $out"
# A member cannot cancel another user's job.
job=$(as bob 'hone --json submit /var/tmp/hone-users/app.yaml -- sleep 300' | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "bob's job was not submitted"
out=$(as alice "hone cancel $job" 2>&1) && fail "alice cancelled bob's job $job: $out"
grep -q "belongs to uid" <<<"$out" || fail "alice is not told whose job $job is: $out"
as bob "hone cancel $job" >/dev/null || fail "bob cannot cancel his own job $job"
echo "systemd_test: 8. real users: a member's workload runs as them; system knobs need hone-admin (named), whose member's job writes net.core.somaxconn and puts it back; outsiders cannot connect; no one cancels another's job" >&2

# --- 9. A hung honed (SIGSTOP): the watchdog (WatchdogSec=30) kills it, systemd
# restarts it, and the new honed answers.
read -r _ main restarts <<<"$(honed_unit)"
[[ "$main" =~ ^[1-9][0-9]*$ && "$restarts" =~ ^[0-9]+$ ]] ||
  fail "systemctl show gave MainPID '$main', NRestarts '$restarts' before the hang"
cursor=$(inside journalctl -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
inside kill -STOP "$main" || fail "kill -STOP honed"
await 120 restarted || fail "the watchdog did not restart a stopped honed: $(honed_unit)"
watchdog_logged() {
  grep -qi "watchdog timeout" <<<"$(inside journalctl --after-cursor="$cursor" --no-pager -o cat)"
}
await 20 watchdog_logged ||
  fail "the journal does not show the watchdog's timeout: $(inside journalctl --after-cursor="$cursor" --no-pager -o cat | tail -20)"
await 30 sh -c "nsenter -t $pid -a hone ping >/dev/null 2>&1" || fail "the restarted honed does not answer"
echo "systemd_test: 9. a SIGSTOPped honed was killed by the watchdog and restarted by systemd" >&2

# --- 10. `hone apply` keeps a job's best across a reboot; `hone restore` undoes it.
report=$(cd / && inside hone run --json "$cfg" -- "$workload" 2>/dev/null) ||
  fail "hone run (for apply): $report"
job=$(sed -n 's/.*"job":\([0-9]*\).*/\1/p' <<<"$report")
knob_is a || fail "before apply the knob is '$(knob)', not a"
inside hone apply "$job" >/dev/null || fail "hone apply $job"
knob_is b || fail "after hone apply the knob is '$(knob)', not the best b"
# Reboot: systemd-nspawn ends with the container; while it is down the knob goes
# back to what a fresh boot gives (a), as a kernel's tunables do; then boot again.
inside systemctl reboot >/dev/null 2>&1
await 60 gone "$nspawn" || fail "the container did not go down for its reboot"
wait "$nspawn" 2>/dev/null
echo a >"$rootfs/var/tmp/hone-test/knob"
start_container
await_boot
await 30 knob_is b || fail "after the reboot honed did not apply the kept b again (knob '$(knob)')"
inside hone restore >/dev/null || fail "hone restore"
knob_is a || fail "after hone restore the knob is '$(knob)', not its original a"
echo "systemd_test: 10. hone apply kept job $job's best across a reboot; hone restore put the knob back" >&2

# --- 11. From the package, last (it removes it): `apt remove` during a job stops
# honed, which puts every knob back; `apt purge` deletes its state.
if [ "$from" = package ]; then
  start_hanging_job
  inside env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q hone >/dev/null 2>&1 ||
    fail "apt remove hone"
  knob_is a || fail "after apt remove the knob is '$(knob)', not its original a"
  await 10 no_workload || fail "the workload outlived apt remove"
  [ "$(inside systemctl is-active honed)" != active ] || fail "honed is active after apt remove"
  [ -d "$rootfs/var/lib/honed" ] || fail "apt remove deleted /var/lib/honed (only purge may)"
  inside env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q hone >/dev/null 2>&1 ||
    fail "apt purge hone"
  [ ! -e "$rootfs/var/lib/honed" ] || fail "apt purge left /var/lib/honed"
  [ ! -e "$rootfs/etc/honed/honed.conf" ] || fail "apt purge left /etc/honed/honed.conf"
  echo "systemd_test: 11. apt remove during a job put the knob back; apt purge removed the state" >&2
fi
echo "systemd_test: passed" >&2
