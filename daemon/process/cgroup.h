// Workload cgroups: every run of a job's workload or script gets a cgroup v2 of its
// own, so that killing the run kills everything it started, whatever it did with
// sessions and process groups (setsid, setpgid, a shell's `set -m`).
//
// WorkloadCgroups is set up once, at honed's start (Setup). It finds the cgroup2
// mount (/proc/self/mountinfo) and honed's own cgroup (the "0::" line of
// /proc/self/cgroup), and chooses the directory under which each run gets a cgroup
// "run-<N>":
//  - honed in the root cgroup (which the "no internal processes" rule exempts):
//    <mount>/honed-<hash of the state directory>, so that honeds with different
//    state directories never touch each other's runs. It exists only while runs
//    do, so that a honed that dies between runs leaves nothing in the shared root;
//  - honed in a cgroup delegated to it (systemd's Delegate=yes, which marks it with
//    the trusted.delegate xattr): honed first moves itself into the leaf
//    <own>/honed, as the "no internal processes" rule wants, and uses
//    <own>/workloads;
//  - a directory given in CgroupOptions::dir (honed --workload-cgroup DIR): used as
//    it is, created when missing; honed does not move.
// When none can be used (no cgroup2 mounted, a cgroup not delegated, not writable,
// or "none"), usable() is false, containment() says why, and runs fall back to
// process groups alone.
//
// Threading: not thread-safe; honed uses it from its event-loop thread. Setup and
// RemoveLeftovers block (briefly, at start); Create does not.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hone {

struct CgroupOptions {
  // Where runs get their cgroups: "" to choose from honed's own cgroup (above);
  // "none" for process groups only; otherwise a directory on the cgroup2 mount
  // that honed may create cgroups in (created when missing).
  std::string dir;
  // Tells this honed's runs from another's in a shared cgroup: honed passes its
  // state directory (absolute).
  std::string instance = "/var/lib/honed";
  // Kernels before 5.7 lack clone3's CLONE_INTO_CGROUP; a child then joins its
  // cgroup by writing cgroup.procs before exec. False takes that path always (tests).
  bool clone_into_cgroup = true;
};

class WorkloadCgroups {
 public:
  // Never null: when no cgroup can be used, the result says why (containment()).
  static std::unique_ptr<WorkloadCgroups> Setup(const CgroupOptions& options);
  // Removes the directory when Setup chose and created it, and no run is left in it.
  ~WorkloadCgroups();
  WorkloadCgroups(const WorkloadCgroups&) = delete;
  WorkloadCgroups& operator=(const WorkloadCgroups&) = delete;

  bool usable() const { return !dir_.empty(); }
  // The directory that holds the runs' cgroups; empty when !usable().
  const std::string& dir() const { return dir_; }
  // For the log and a job's notes: "cgroup v2 (under DIR)", or "process groups
  // (WHY)" where WHY is why no cgroup is used.
  std::string containment() const;
  bool clone_into_cgroup() const { return clone_into_cgroup_; }

  // Makes a new, empty cgroup for one run, dir()/run-<N>; *path is its full path.
  Status Create(std::string* path);
  // Kills what is left in a run's cgroup and removes it, unless its processes are
  // still dying (then RemoveLeftovers at the next start removes it). In the root
  // cgroup dir() goes too once it is empty.
  Status Release(const std::string& path);
  // What a honed that died left: kills every process in every cgroup under dir()
  // and removes them, waiting up to `wait` for each to empty. Blocks; for start-up.
  // Returns how many cgroups were removed; *killed (optional) counts the processes.
  int RemoveLeftovers(std::chrono::milliseconds wait = std::chrono::seconds(10),
                      int* killed = nullptr);

 private:
  WorkloadCgroups() = default;

  std::string dir_;
  std::string why_not_;         // when dir_ is empty
  bool remove_at_end_ = false;  // Setup chose dir_
  bool shared_ = false;         // dir_ is in the root cgroup: kept only while used
  bool clone_into_cgroup_ = true;
  uint64_t next_run_ = 1;
};

// ---- One cgroup: `path` is a directory on the cgroup2 mount ------------------

// The cgroup2 mount point and honed's own cgroup directory under it (from
// /proc/self/mountinfo and /proc/self/cgroup).
Status FindOwnCgroup(std::string* mount, std::string* own);

// SIGKILLs every process in `path` and the cgroups below it: cgroup.kill (kernel
// 5.14), else KillCgroupByFreezing.
Status KillCgroup(const std::string& path);
// The fallback for kernels before 5.14: freezes the cgroup (when cgroup.freeze
// exists) so that nothing forks, then SIGKILLs each process of cgroup.procs, in
// `path` and below. SIGKILL ends frozen processes too.
Status KillCgroupByFreezing(const std::string& path);
// The processes in `path` and below (each cgroup's cgroup.procs).
std::vector<pid_t> CgroupProcesses(const std::string& path);
// Whether a process is left in `path` or below ("populated 1" in cgroup.events);
// false when the cgroup does not exist.
bool CgroupPopulated(const std::string& path);
// The CPU time the processes of `path` and below have used, in seconds (usage_usec
// in its cpu.stat); nullopt when it cannot be read.
std::optional<double> CgroupCpuSeconds(const std::string& path);
// Removes `path` and the cgroups below it, deepest first (rmdir); they must be
// empty of processes. OK when `path` does not exist.
Status RemoveCgroup(const std::string& path);
// KillCgroup, then waits (polling, killing again) up to `wait` for it to empty,
// then RemoveCgroup. Blocks.
Status KillAndRemoveCgroup(const std::string& path, std::chrono::milliseconds wait);

}  // namespace hone
