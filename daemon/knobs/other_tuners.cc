#include "daemon/knobs/other_tuners.h"

#include <algorithm>
#include <cstdlib>

namespace hone {

namespace {

constexpr size_t kMaxProcesses = 32768;

struct Known {
  const char* comm;  // as /proc/PID/comm has it: at most 15 bytes
  const char* name;
  const char* manages;
  const char* service;
};

constexpr Known kKnown[] = {
    {"tuned", "tuned",
     "sysctls, transparent hugepages, CPU frequency, scheduler and power settings",
     "tuned"},
    {"power-profiles-", "power-profiles-daemon",
     "the CPU frequency governor, energy preference and platform profile",
     "power-profiles-daemon"},
    {"tuned-ppd", "tuned-ppd", "the CPU frequency governor and energy preference",
     "tuned-ppd"},
    {"bpftune", "bpftune", "network, memory and scheduler sysctls", "bpftune"},
    {"auto-cpufreq", "auto-cpufreq", "the CPU frequency governor and turbo boost",
     "auto-cpufreq"},
    {"system76-power", "system76-power",
     "the CPU frequency governor, energy preference and power limits",
     "com.system76.PowerDaemon"},
    {"thermald", "thermald", "CPU frequency and power limits (RAPL)", "thermald"},
};

bool Pid(const std::string& name) {
  return !name.empty() && name.size() <= 10 &&
         name.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

std::vector<OtherTuner> FindOtherTuners(Machine& machine) {
  std::vector<std::string> names;
  if (!machine.ListDir("/proc", &names).ok()) return {};
  std::vector<std::string> pids;
  for (const std::string& name : names)
    if (Pid(name)) pids.push_back(name);
  if (pids.size() > kMaxProcesses) pids.resize(kMaxProcesses);
  std::sort(pids.begin(), pids.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  std::vector<const Known*> found_known;
  std::vector<std::string> found_pid;
  for (const std::string& pid : pids) {
    std::string comm;
    if (!machine.ReadFile("/proc/" + pid + "/comm", &comm).ok()) continue;  // ended
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    for (const Known& known : kKnown) {
      if (comm != known.comm) continue;
      if (std::find(found_known.begin(), found_known.end(), &known) ==
          found_known.end()) {
        found_known.push_back(&known);
        found_pid.push_back(pid);
      }
    }
  }
  std::vector<OtherTuner> tuners;
  for (const Known& known : kKnown)
    for (size_t i = 0; i < found_known.size(); ++i)
      if (found_known[i] == &known)
        tuners.push_back({known.name, found_pid[i], known.manages, known.service});
  return tuners;
}

std::string OtherTunerWarning(const OtherTuner& tuner) {
  return tuner.name + " (pid " + tuner.pid + ") is running: it manages " + tuner.manages +
         ", and may change a knob hone tunes or undo one it applied; `systemctl stop " +
         tuner.service + "` while hone tunes, or leave those knobs out";
}

}  // namespace hone
