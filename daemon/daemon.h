// Daemon: wires honed's parts together and runs them until a signal.
//
// Startup order: logging, state directory, store, machine and knob catalog,
// recovery of jobs (interrupted ones marked), socket bound, originals that a dead
// honed left changed put back and applied settings re-applied, then accepting and
// READY=1. Shutdown on SIGTERM/SIGINT: STOPPING=1, stop accepting and close the
// connections, stop the running job (interrupted, its processes killed, its knobs
// restored; it resumes at the next start), return. See docs/architecture.md.
#pragma once

#include <set>
#include <string>

#include "daemon/server/server.h"

namespace hone {

struct DaemonOptions {
  // The Unix socket clients connect to.
  std::string socket_path = "/run/honed/honed.sock";
  // Group allowed to use the socket (mode 0660).
  std::string socket_group = "hone";
  // Where live jobs' services send StatsD lines (the same group); empty: beside
  // socket_path, as metrics.sock; "none": no such socket.
  std::string metrics_socket;
  // Where honed keeps its database and results; created when missing.
  std::string state_dir = "/var/lib/honed";
  // trace, debug, info, warn, error.
  std::string log_level = "info";
  // Where the machine's /sys, /proc and /dev are ("/" normally; a fake tree in tests).
  std::string root = "/";
  // Members of this group (besides root) may tune built-in system knobs.
  std::string admin_group = "hone-admin";
  // Ended jobs kept; past this many the oldest are deleted (0: keep all).
  size_t retain_jobs = 1000;
  // What connections may hold: their number, line timeout, memory budgets.
  ConnectionLimits connection_limits;
  // Where each workload run gets a cgroup v2 of its own: "" to choose from honed's
  // own cgroup, "none" for process groups only, or a cgroup2 directory
  // (CgroupOptions::dir, daemon/process/cgroup.h).
  std::string workload_cgroup;
  // Jobs that were running when honed stopped or died continue when it starts
  // again (--no-resume, on-stop = interrupt: they stay interrupted). Either way every
  // knob a job changed goes back at the stop.
  bool resume = true;
  // The configuration file (docs/service.md) and whether it must exist (given with
  // --config) or may be missing (the default path).
  std::string config_path = "/etc/honed/honed.conf";
  bool config_required = false;
  // The config keys given on the command line: a reload keeps their values.
  std::set<std::string> from_command_line;
};

// Runs the daemon; returns the process exit code.
int RunDaemon(const DaemonOptions& options);

// honed --restore: puts back every original the ledger holds for jobs (not applied
// settings), without starting the server; for ExecStopPost. Exit code 0 when all
// were restored.
int RunRestore(const DaemonOptions& options);

}  // namespace hone
