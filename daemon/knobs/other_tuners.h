// Other tuners: daemons that manage some of the knobs hone tunes (TuneD,
// power-profiles-daemon, bpftune, ...). hone does not refuse to run beside them, but
// one may change a knob under a job, or undo what `hone apply` kept: honed says so in
// its log at start and in the notes of every job that tunes system knobs.
//
// Found by the command names of the machine's processes (/proc/PID/comm, read
// through the Machine, so that a test's fake tree can hold them). The names are the
// processes' own: untrusted, bounded, and compared whole against a fixed list.
#pragma once

#include <string>
#include <vector>

#include "daemon/knobs/machine.h"

namespace hone {

struct OtherTuner {
  std::string name;     // the daemon: "tuned"
  std::string pid;      // its lowest pid
  std::string manages;  // what it changes, for people
  std::string service;  // its systemd unit: "tuned"
};

// The known tuning daemons running on `machine`, each once, in the list's order.
// Reads at most kMaxProcesses processes; a process that ends meanwhile is skipped.
std::vector<OtherTuner> FindOtherTuners(Machine& machine);

// "tuned (pid 812) is running: it manages sysctls, ... and may change a knob this
// job tunes, or undo it; `systemctl stop tuned` while hone tunes, or leave those
// knobs out"
std::string OtherTunerWarning(const OtherTuner& tuner);

}  // namespace hone
