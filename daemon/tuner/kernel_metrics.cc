#include "daemon/tuner/kernel_metrics.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "common/scan.h"

namespace hone {

namespace {

constexpr size_t kExcerptBytes = 60;

bool Blank(char c) { return c == ' ' || c == '\t'; }

// The words of one line, split on runs of spaces and tabs.
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t at = 0;
  while (at < line.size()) {
    while (at < line.size() && Blank(line[at])) ++at;
    size_t start = at;
    while (at < line.size() && !Blank(line[at])) ++at;
    if (at > start) words.push_back(line.substr(start, at - start));
  }
  return words;
}

// Calls `visit(words)` for each line of `text` until it returns true; returns whether
// one did.
template <typename Visit>
bool FindLine(std::string_view text, Visit visit) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (visit(Words(text.substr(start, end - start)))) return true;
    start = end + 1;
  }
  return false;
}

// `text` as a finite number; the error names `what`.
Status ToFinite(std::string_view text, const std::string& what, double* value) {
  if (!IsNumber(text))
    return Status::InvalidArgument(what + " '" + Printable(text, kExcerptBytes) +
                                   "' is not a number");
  std::string copy(text);  // bounded by the file's length, which Machine caps
  *value = std::strtod(copy.c_str(), nullptr);
  if (!std::isfinite(*value))
    return Status::InvalidArgument(what + " '" + Printable(text, kExcerptBytes) +
                                   "' is out of range");
  return Status::OK();
}

}  // namespace

Status ParsePressure(std::string_view text, std::string_view line, std::string_view field,
                     double* value) {
  if (line != "some" && line != "full")
    return Status::InvalidArgument("pressure line '" + Printable(line, kExcerptBytes) +
                                   "' is not some or full");
  if (field != "avg10" && field != "avg60" && field != "avg300" && field != "total")
    return Status::InvalidArgument("pressure field '" + Printable(field, kExcerptBytes) +
                                   "' is not avg10, avg60, avg300 or total");
  bool line_found = false;
  bool field_found = false;
  std::string_view found;
  FindLine(text, [&](const std::vector<std::string_view>& words) {
    if (words.empty() || words[0] != line) return false;
    line_found = true;  // the first such line is the one
    for (size_t i = 1; i < words.size() && !field_found; ++i) {
      std::string_view word = words[i];
      if (word.size() > field.size() && word.substr(0, field.size()) == field &&
          word[field.size()] == '=') {
        field_found = true;
        found = word.substr(field.size() + 1);
      }
    }
    return true;
  });
  std::string where = "pressure '" + std::string(line) + "' line";
  if (!line_found)
    return Status::InvalidArgument("no " + where + " in '" +
                                   Printable(text, kExcerptBytes) + "'");
  if (!field_found || found.empty())
    return Status::InvalidArgument(where + " has no " + std::string(field) + "=value");
  Status s = ToFinite(found, where + ": " + std::string(field), value);
  if (s.ok() && *value < 0)
    return Status::InvalidArgument(where + ": " + std::string(field) + " '" +
                                   Printable(found, kExcerptBytes) + "' is negative");
  return s;
}

Status ParseFlatKeyed(std::string_view text, std::string_view key, double* value) {
  if (key.empty() || key.find_first_of(" \t\n") != std::string_view::npos)
    return Status::InvalidArgument("key '" + Printable(key, kExcerptBytes) +
                                   "' is not one word without spaces");
  std::vector<std::string_view> found;
  FindLine(text, [&](const std::vector<std::string_view>& words) {
    if (words.empty() || words[0] != key) return false;
    found = words;
    return true;
  });
  std::string what = "key '" + Printable(key, kExcerptBytes) + "'";
  if (found.empty())
    return Status::InvalidArgument("no " + what + " in '" +
                                   Printable(text, kExcerptBytes) + "'");
  if (found.size() != 2)
    return Status::InvalidArgument(what + " has " + std::to_string(found.size() - 1) +
                                   " values, not one");
  return ToFinite(found[1], what + ": value", value);
}

Status ReadPressure(Machine& machine, const std::string& path, std::string_view line,
                    std::string_view field, double* value) {
  std::string text;
  Status s = machine.ReadFile(path, &text);
  if (s.code() == Status::Code::kNotFound)
    return Status::NotFound(s.message() +
                            " (pressure stall information needs Linux 4.20 or later "
                            "with CONFIG_PSI, not booted with psi=0)");
  if (s.ok()) s = ParsePressure(text, line, field, value).WithContext(path);
  return s;
}

Status ReadFlatKeyed(Machine& machine, const std::string& path, std::string_view key,
                     double* value) {
  std::string text;
  Status s = machine.ReadFile(path, &text);
  if (s.ok()) s = ParseFlatKeyed(text, key, value).WithContext(path);
  return s;
}

Status ParseProcStat(std::string_view text, std::string* comm, uint64_t* ticks) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return Status::InvalidArgument("no (command) in '" + Printable(text, kExcerptBytes) +
                                   "'");
  std::vector<std::string_view> fields = Words(text.substr(close + 1, 512));
  // After the command: state (field 3), ..., utime (14), stime (15).
  if (fields.size() < 13)
    return Status::InvalidArgument("too few fields after the command in '" +
                                   Printable(text, kExcerptBytes) + "'");
  uint64_t sum = 0;
  for (std::string_view field : {fields[11], fields[12]}) {
    if (field.empty() || field.size() > 18 ||
        field.find_first_not_of("0123456789") != std::string_view::npos)
      return Status::InvalidArgument("CPU time '" + Printable(field, kExcerptBytes) +
                                     "' is not a whole number");
    sum += std::strtoull(std::string(field).c_str(), nullptr, 10);
  }
  *comm = Printable(text.substr(open + 1, close - open - 1), 32);
  *ticks = sum;
  return Status::OK();
}

Status ParseCpuTotals(std::string_view text, CpuTotals* totals) {
  CpuTotals found;
  bool total_line = false;
  Status s = Status::OK();
  FindLine(text, [&](const std::vector<std::string_view>& words) {
    if (words.empty()) return false;
    std::string_view name = words[0];
    if (name == "cpu" && !total_line) {
      // user nice system idle iowait irq softirq steal [guest guest_nice]
      if (words.size() < 9) {
        s = Status::InvalidArgument("too few fields in /proc/stat's cpu line");
        return true;
      }
      for (size_t i : {1, 2, 3, 6, 7, 8}) {
        std::string_view field = words[i];
        if (field.empty() || field.size() > 18 ||
            field.find_first_not_of("0123456789") != std::string_view::npos) {
          s = Status::InvalidArgument("CPU time '" + Printable(field, kExcerptBytes) +
                                      "' in /proc/stat is not a whole number");
          return true;
        }
        found.busy_ticks += std::strtoull(std::string(field).c_str(), nullptr, 10);
      }
      total_line = true;
    } else if (name.size() > 3 && name.starts_with("cpu") &&
               name.find_first_not_of("0123456789", 3) == std::string_view::npos &&
               found.cpus < (1 << 20)) {
      ++found.cpus;
    }
    return false;
  });
  if (!s.ok()) return s;
  if (!total_line) return Status::InvalidArgument("/proc/stat has no cpu line");
  if (found.cpus == 0) return Status::InvalidArgument("/proc/stat lists no cpuN line");
  *totals = found;
  return Status::OK();
}

Status ProcessSignature::Sample(std::string* signature) {
  signature->clear();
  std::vector<std::string> names;
  Status s = machine_->ListDir("/proc", &names);
  if (!s.ok()) return s.WithContext("which programs use the CPU");
  std::map<std::string, std::pair<std::string, uint64_t>> now;
  std::map<std::string, uint64_t> used;  // by program, since the last sample
  uint64_t total = 0;
  for (const std::string& pid : names) {
    if (now.size() >= kMaxProcesses) break;
    if (pid.empty() || pid.size() > 10 ||
        pid.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::string text;
    if (!machine_->ReadFile("/proc/" + pid + "/stat", &text).ok()) continue;  // ended
    std::string comm;
    uint64_t ticks = 0;
    if (!ParseProcStat(text, &comm, &ticks).ok()) continue;
    auto before = last_.find(pid);
    if (before != last_.end() && before->second.first == comm &&
        ticks >= before->second.second) {
      uint64_t delta = ticks - before->second.second;
      used[comm] += delta;
      total += delta;
    }
    now.emplace(pid, std::make_pair(std::move(comm), ticks));
  }
  last_ = std::move(now);
  if (first_) {
    first_ = false;
    return Status::OK();
  }
  if (total == 0) return Status::OK();
  for (const auto& [comm, ticks] : used) {  // sorted by name
    if (static_cast<double>(ticks) < min_share_ * static_cast<double>(total)) continue;
    if (!signature->empty()) *signature += ",";
    *signature += comm;
  }
  return Status::OK();
}

// ---- PerfCounters -------------------------------------------------------------

namespace {

// Closes a file descriptor at scope exit.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct Event {
  uint64_t config;
  const char* name;
};
constexpr Event kInstructions = {PERF_COUNT_HW_INSTRUCTIONS, "instructions"};
constexpr Event kCycles = {PERF_COUNT_HW_CPU_CYCLES, "cycles"};

// What a group leader's read returns (PERF_FORMAT_GROUP with both times).
struct GroupReading {
  uint64_t nr;
  uint64_t time_enabled;
  uint64_t time_running;
  uint64_t values[2];  // instructions, cycles
};

int OpenEvent(const Event& event, int target, int cpu, int group_fd, bool cgroup) {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = event.config;
  attr.read_format =
      PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  attr.disabled = group_fd < 0 ? 1 : 0;  // the leader starts the group once it is whole
  unsigned long flags = PERF_FLAG_FD_CLOEXEC | (cgroup ? PERF_FLAG_PID_CGROUP : 0);
  return static_cast<int>(
      syscall(SYS_perf_event_open, &attr, target, cpu, group_fd, flags));
}

std::string Paranoid() {
  std::string text;
  if (!MakeMachine("/")->ReadFile("/proc/sys/kernel/perf_event_paranoid", &text).ok())
    return "unknown";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return Printable(text, 8);
}

// The Status for perf_event_open's `error` opening `event` on `cpu`.
Status OpenError(int error, const Event& event, int cpu, const std::string& cgroup_dir) {
  std::string call = std::string("perf_event_open ") + event.name + " on CPU " +
                     std::to_string(cpu) + ": " + std::strerror(error);
  switch (error) {
    case ENOENT:
    case EOPNOTSUPP:
    case ENODEV:
      return Status::Unavailable("hardware counters are not available on this machine (" +
                                 call + "); most virtual machines do not expose them");
    case EACCES:
    case EPERM:
      return Status::Unavailable(
          "hardware counters are not available to honed (" + call +
          "): counting needs root or CAP_PERFMON, kernel.perf_event_paranoid is " +
          Paranoid() + ", and a container's seccomp filter may forbid perf_event_open");
    case EBADF:
      if (!cgroup_dir.empty())
        return Status::InvalidArgument("'" + cgroup_dir +
                                       "' is not a cgroup directory (" + call + ")");
      break;
    default:
      break;
  }
  return Status::IOError("cannot count hardware events (" + call + ")");
}

// The count `value` would have reached had it run all the time it was enabled.
long double Scaled(uint64_t value, const GroupReading& reading) {
  if (reading.time_running == 0) return 0;
  long double count = static_cast<long double>(value);
  if (reading.time_running < reading.time_enabled)
    count = count * static_cast<long double>(reading.time_enabled) /
            static_cast<long double>(reading.time_running);
  return count;
}

uint64_t ToCount(long double total) {
  constexpr long double kMax =
      static_cast<long double>(std::numeric_limits<uint64_t>::max());
  return total >= kMax ? std::numeric_limits<uint64_t>::max()
                       : static_cast<uint64_t>(total);
}

}  // namespace

PerfCounters::~PerfCounters() {
  for (int fd : fds_) close(fd);
}

Status PerfCounters::Open(const std::string& cgroup_dir,
                          std::unique_ptr<PerfCounters>* out) {
  std::unique_ptr<PerfCounters> counters(new PerfCounters());
  std::string online;
  Status s = MakeMachine("/")->ReadFile("/sys/devices/system/cpu/online", &online);
  if (s.ok()) s = ParseCpuList(online, &counters->cpus_);
  if (!s.ok()) return s.WithContext("the online CPUs");
  bool cgroup = !cgroup_dir.empty();
  ScopedFd dir(cgroup ? open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                      : -1);
  if (cgroup && dir.get() < 0) {
    int error = errno;
    if (error == ENOENT) return Status::NotFound("no cgroup directory " + cgroup_dir);
    return Status::IOError("cannot open cgroup directory " + cgroup_dir + ": " +
                           std::strerror(error));
  }
  int target = cgroup ? dir.get() : -1;
  for (int cpu : counters->cpus_) {
    int leader = OpenEvent(kInstructions, target, cpu, -1, cgroup);
    if (leader < 0) return OpenError(errno, kInstructions, cpu, cgroup_dir);
    counters->fds_.push_back(leader);
    counters->leaders_.push_back(leader);
    int member = OpenEvent(kCycles, target, cpu, leader, cgroup);
    if (member < 0) return OpenError(errno, kCycles, cpu, cgroup_dir);
    counters->fds_.push_back(member);
  }
  for (size_t i = 0; i < counters->leaders_.size(); ++i)
    if (ioctl(counters->leaders_[i], PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP) < 0)
      return Status::IOError("cannot start the hardware counters of CPU " +
                             std::to_string(counters->cpus_[i]) + ": " +
                             std::strerror(errno));
  *out = std::move(counters);
  return Status::OK();
}

Status PerfCounters::Read(uint64_t* instructions, uint64_t* cycles) {
  long double total_instructions = 0;
  long double total_cycles = 0;
  for (size_t i = 0; i < leaders_.size(); ++i) {
    GroupReading reading;
    ssize_t n;
    do {
      n = read(leaders_[i], &reading, sizeof reading);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof reading) || reading.nr != 2)
      return Status::IOError("cannot read the hardware counters of CPU " +
                             std::to_string(cpus_[i]) + ": " +
                             (n < 0 ? std::strerror(errno) : "a short read"));
    total_instructions += Scaled(reading.values[0], reading);
    total_cycles += Scaled(reading.values[1], reading);
  }
  last_instructions_ = std::max(last_instructions_, ToCount(total_instructions));
  last_cycles_ = std::max(last_cycles_, ToCount(total_cycles));
  *instructions = last_instructions_;
  *cycles = last_cycles_;
  return Status::OK();
}

}  // namespace hone
