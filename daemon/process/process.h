// Process runner: starts a workload or script as a given user and waits for it
// without blocking the event loop.
//
// The child gets its own process group, the environment and working directory it is
// given, and (when honed is root and a user is given) that user's uid, gid and
// groups. Its stdout and stderr are captured up to a limit. When its ProcessGroups
// has usable WorkloadCgroups (daemon/process/cgroup.h), the child also starts in a cgroup v2
// of its own (clone3 with CLONE_INTO_CGROUP). At the timeout, on cancellation, and
// after the leader exits, the whole cgroup is killed (else the process group), so a
// workload never outlives its sample, even one that called setsid; the run ends
// once the cgroup is empty, and the cgroup is removed. Completion is observed
// through a pidfd on the io_context; the coroutine must run on the thread that runs
// that io_context.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/limits.h"
#include "daemon/process/cgroup.h"

namespace hone {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

struct ProcessSpec {
  // Executed as is; argv[0] is looked up in the PATH of `env`.
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string cwd = "/";
  // The user to run as; unset: honed's own user.
  std::optional<Credentials> user;
  std::chrono::milliseconds timeout{std::chrono::hours(1)};
  // Bytes kept of each of stdout and stderr: the last ones; the rest is dropped.
  size_t output_limit = limits::kMaxOutputBytes;
  // Early stopping, for the caller to opt into: the run is killed and marked
  // stopped_early at `stop_at` after its start, or as soon as `watch`, shown each
  // piece of output as it arrives (`is_stderr` says which stream), returns true.
  std::optional<std::chrono::milliseconds> stop_at;
  std::function<bool(std::string_view piece, bool is_stderr)> watch;
};

struct ProcessResult {
  bool started = false;    // false: fork/exec failed, see error
  bool timed_out = false;  // killed at the timeout
  bool cancelled = false;  // killed by ProcessGroups::KillAll
  bool stopped_early = false;  // killed at stop_at or by watch
  int exit_code = -1;      // when it exited normally
  int signal = 0;          // when a signal ended it
  std::string out;
  std::string err;
  // Bytes each stream carried in all: more than out.size() (err.size()) when the
  // output was longer than output_limit and its start was dropped.
  size_t out_bytes = 0;
  size_t err_bytes = 0;
  std::string error;  // why it did not start (chdir, setuid, exec)
  double elapsed_s = 0;
  // CPU time (user and system) the run used: its cgroup's count when it had one,
  // else the leader's and that of the children it waited for (wait4).
  double cpu_s = 0;

  bool Succeeded() const {
    return started && !timed_out && !cancelled && !stopped_early && exit_code == 0;
  }
  // One line for the person: "exited with status 3", "timed out after 5s", ...
  std::string Describe() const;
};

// The runs a job has going (each a process group, and a cgroup when there are
// usable WorkloadCgroups), so that cancelling the job can kill them. Owned by the
// job; lives longer than every RunProcess given it.
class ProcessGroups {
 public:
  // `cgroups` (null: process groups only) must outlive this.
  explicit ProcessGroups(WorkloadCgroups* cgroups = nullptr) : cgroups_(cgroups) {}
  void set_cgroups(WorkloadCgroups* cgroups) { cgroups_ = cgroups; }
  WorkloadCgroups* cgroups() const { return cgroups_; }
  // Whether runs get cgroups of their own; when not, a process that leaves its
  // process group (setsid) can outlive its run.
  bool in_cgroups() const;
  // How runs are contained, for the job's notes and the log: "cgroup v2 (under
  // DIR)" or "process groups (WHY)".
  std::string containment() const;

  // Told of every group as it starts (true) and ends (false), so that the groups
  // can be recorded durably and killed by the next honed after a crash.
  std::function<void(pid_t pgid, bool started)> observer;

  // A run started: its leader's process group and its cgroup ("" when none).
  void Add(pid_t pgid, const std::string& cgroup) {
    groups_[pgid] = cgroup;
    if (observer) observer(pgid, true);
  }
  void Remove(pid_t pgid) {
    groups_.erase(pgid);
    if (observer) observer(pgid, false);
  }
  // Kills every run's cgroup (or process group) with SIGKILL and marks later runs
  // as cancelled.
  void KillAll();
  bool cancelled() const { return cancelled_; }

 private:
  WorkloadCgroups* cgroups_;
  std::map<pid_t, std::string> groups_;  // leader -> its cgroup, "" when none
  bool cancelled_ = false;
};

// Runs `spec` to completion. `groups` may be null.
boost::asio::awaitable<ProcessResult> RunProcess(ProcessSpec spec, ProcessGroups* groups);

// How the tuner starts workloads and scripts: RunProcess on this machine
// (ProcessRunner::System()), or a fake that answers without starting anything, so
// that the job manager and the tuner are tested without processes.
class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  virtual boost::asio::awaitable<ProcessResult> Run(ProcessSpec spec,
                                                    ProcessGroups* groups) = 0;
  // RunProcess; lives as long as the program.
  static ProcessRunner* System();
};

// The kernel's start time of process `pid` (clock ticks since boot, field 22 of
// /proc/PID/stat); 0 when it does not exist.
uint64_t ProcessStartTime(pid_t pid);

// Kills (SIGKILL) every process of process group `pgid` that started at or after
// `started` (so a reused group number is left alone); returns how many.
int KillGroupSince(pid_t pgid, uint64_t started);

// argv that runs `command` with /bin/sh -c.
std::vector<std::string> ShellArgv(const std::string& command);

}  // namespace hone
