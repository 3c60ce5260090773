// Kernel metrics: what honed samples every interval while a live job's service runs
// on its own. Pressure stall information (/proc/pressure/{cpu,memory,io} and a
// cgroup v2 directory's cpu.pressure, memory.pressure, io.pressure), cgroup v2 flat
// keyed files (cpu.stat, memory.stat: `key value` per line), and the hardware
// counters of a cgroup or of the whole machine (instructions and cycles).
//
// The parsers are pure and take the file's text, which they treat as untrusted (a
// re-rooted tree, honed --root, is anyone's files): time linear in the text,
// nothing thrown, every error a Status that names what is missing or wrong. The
// Read* helpers read the file through a Machine, so that tests give a fake tree.
// PerfCounters uses the real machine's perf_event_open: counters exist only there.
//
// Not thread-safe (a PerfCounters belongs to one thread); the free functions are.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "daemon/knobs/machine.h"

namespace hone {

// The value of `field` ("avg10", "avg60", "avg300": percentages; "total":
// microseconds stalled) on the line that starts with `line` ("some" or "full") of a
// pressure file:
//   some avg10=0.00 avg60=0.00 avg300=0.00 total=12345
//   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
// Errors: InvalidArgument when `line` or `field` is not one of those names, the
// line or the field is missing, or its value is not a finite number >= 0.
Status ParsePressure(std::string_view text, std::string_view line, std::string_view field,
                     double* value);

// The value of `key` in a cgroup v2 flat keyed file (cpu.stat: "usage_usec 123\n
// user_usec 100\n..."): the line whose first word is `key`, which must have exactly
// one more word, a finite number. Errors: InvalidArgument when the key is missing or
// empty, or the line is not `key number`.
Status ParseFlatKeyed(std::string_view text, std::string_view key, double* value);

// ParsePressure and ParseFlatKeyed over the machine's file `path` ("/proc/pressure/io",
// "/sys/fs/cgroup/web.service/cpu.stat"). The machine's errors are passed on (a
// missing file is NotFound); a parse error is prefixed with the path.
Status ReadPressure(Machine& machine, const std::string& path, std::string_view line,
                    std::string_view field, double* value);
Status ReadFlatKeyed(Machine& machine, const std::string& path, std::string_view key,
                     double* value);

// One line of /proc/PID/stat: "PID (COMM) STATE PPID ... UTIME STIME ...". COMM is
// whatever the process named itself (up to 15 bytes, spaces and parentheses
// included), so it runs to the last ')'. `*comm` gets it made printable; `*ticks` the
// CPU time used so far, utime + stime (fields 14 and 15), in clock ticks. Errors:
// InvalidArgument when the line has no "(...)" or too few fields, or the times are not
// whole numbers of at most 18 digits.
Status ParseProcStat(std::string_view text, std::string* comm, uint64_t* ticks);

// The machine's CPU time so far, from /proc/stat: `busy_ticks`, every CPU's time
// not idle (user, nice, system, irq, softirq and steal of the "cpu" line; guest time
// is counted in user already), in clock ticks, and `cpus`, the "cpuN" lines.
struct CpuTotals {
  uint64_t busy_ticks = 0;
  int cpus = 0;
};
// Errors: InvalidArgument when there is no "cpu" line, or it has fewer than eight
// whole numbers of at most 18 digits, or no "cpuN" line follows.
Status ParseCpuTotals(std::string_view text, CpuTotals* totals);

// Which programs use the CPU: a workload signature for a live job's phases
// (phase_signature: processes). Each Sample reads /proc/PID/stat of every process
// (at most kMaxProcesses) through the Machine and returns the names of the programs
// that used at least `min_share` of the CPU time all processes used since the last
// Sample, sorted and joined by ","; "" on the first call, and when nothing ran.
// Processes that started or ended in between count only from when both reads saw
// them. Not thread-safe.
class ProcessSignature {
 public:
  static constexpr size_t kMaxProcesses = 32768;
  explicit ProcessSignature(Machine* machine, double min_share = 0.1)
      : machine_(machine), min_share_(min_share) {}
  Status Sample(std::string* signature);

 private:
  Machine* machine_;
  double min_share_;
  std::map<std::string, std::pair<std::string, uint64_t>> last_;  // pid -> (comm, ticks)
  bool first_ = true;
};

// Instructions and cycles retired on the online CPUs, by the processes of one cgroup
// v2 or by the whole machine: one event group (instructions, cycles) per online CPU,
// counting from Open. Needs root or CAP_PERFMON; most virtual machines have no
// hardware counters at all.
class PerfCounters {
 public:
  ~PerfCounters();
  PerfCounters(const PerfCounters&) = delete;
  PerfCounters& operator=(const PerfCounters&) = delete;

  // Opens the counters of the cgroup v2 directory `cgroup_dir` (a path on the real
  // machine, "/sys/fs/cgroup/web.service"), or of the whole machine when it is empty.
  // Errors: Unavailable when the machine has no hardware counters or may not count
  // them (perf_event_paranoid, a container), saying which; NotFound when
  // `cgroup_dir` does not exist; IOError for other refusals.
  static Status Open(const std::string& cgroup_dir, std::unique_ptr<PerfCounters>* out);

  // The counts since Open, summed over the CPUs. When the kernel multiplexed the
  // counters (more events than the PMU has), each CPU's count is scaled by
  // time_enabled / time_running, an estimate; an estimate below the last one returned
  // is returned as the last one, so that the counts never decrease.
  Status Read(uint64_t* instructions, uint64_t* cycles);

  // The CPUs counted, as /sys/devices/system/cpu/online listed them at Open.
  const std::vector<int>& cpus() const { return cpus_; }

 private:
  PerfCounters() = default;

  std::vector<int> cpus_;
  std::vector<int> fds_;      // every descriptor, closed at destruction
  std::vector<int> leaders_;  // one per CPU (instructions), cycles in its group
  uint64_t last_instructions_ = 0;
  uint64_t last_cycles_ = 0;
};

}  // namespace hone
