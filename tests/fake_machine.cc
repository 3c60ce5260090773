#include "tests/fake_machine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace hone::test {
namespace {

namespace fs = std::filesystem;

// Large enough for every MSR address used (0xc0000108); sparse, so it costs nothing.
constexpr off_t kMsrFileSize = 0xc0001000;
// A data region larger than this is not scanned word by word (a file system without
// SEEK_DATA reports the whole file as data); only the known registers are read.
constexpr off_t kMaxScan = 16 << 20;
constexpr uint32_t kKnownMsrs[] = {0x1a4, 0x620, 0xc0000108};

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error("FakeMachineTree: " + what + ": " + std::strerror(errno));
}

std::string MsrKey(const std::string& file, uint64_t offset) {
  char hex[32];
  std::snprintf(hex, sizeof hex, "@0x%llx", static_cast<unsigned long long>(offset));
  return file + hex;
}

// "always [madvise] never\n" -> "madvise\n"; anything else unchanged.
std::string Normalize(const std::string& contents) {
  size_t open = contents.find('[');
  size_t close = open == std::string::npos ? open : contents.find(']', open);
  if (close == std::string::npos) return contents;
  return contents.substr(open + 1, close - open - 1) + "\n";
}

bool Known(off_t at) {
  for (uint32_t msr : kKnownMsrs)
    if (at >= static_cast<off_t>(msr) && at < static_cast<off_t>(msr) + 8) return true;
  return false;
}

void Record(int fd, off_t at, const std::string& key,
            std::map<std::string, std::string>* out) {
  uint64_t word = 0;
  if (pread(fd, &word, sizeof word, at) == sizeof word && word != 0)
    (*out)[MsrKey(key, static_cast<uint64_t>(at))] =
        std::string(reinterpret_cast<const char*>(&word), sizeof word);
}

// The known registers by address, then any other non-zero bytes (a stray write) as
// 8-byte words keyed by the offset of their first non-zero byte.
void SnapshotMsr(const std::string& path, const std::string& key,
                 std::map<std::string, std::string>* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail("cannot open " + path);
  for (uint32_t msr : kKnownMsrs) Record(fd, msr, key, out);
  off_t size = lseek(fd, 0, SEEK_END);
  off_t data = 0;
  while (data < size && (data = lseek(fd, data, SEEK_DATA)) >= 0) {
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0 || hole - data > kMaxScan) break;  // no SEEK_DATA: known ones only
    std::string bytes(static_cast<size_t>(hole - data), '\0');
    if (pread(fd, bytes.data(), bytes.size(), data) != static_cast<ssize_t>(bytes.size()))
      Fail("cannot read " + path);
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] == 0 || Known(data + static_cast<off_t>(i))) continue;
      Record(fd, data + static_cast<off_t>(i), key, out);
      i += 7;
    }
    data = hole;
  }
  close(fd);
}

}  // namespace

FakeMachineTree::FakeMachineTree(std::string dir, FakeMachineOptions options)
    : root_(std::move(dir)), options_(std::move(options)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  Build();
}

void FakeMachineTree::Write(const std::string& relative,
                            const std::string& contents) const {
  fs::path path = fs::path(root_) / relative;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out) Fail("cannot write " + path.string());
}

std::string FakeMachineTree::Read(const std::string& relative) const {
  std::ifstream in(fs::path(root_) / relative, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void FakeMachineTree::Remove(const std::string& relative) const {
  std::error_code ec;
  fs::remove_all(fs::path(root_) / relative, ec);
}

void FakeMachineTree::WriteMsr(int cpu, uint32_t msr, uint64_t value) const {
  std::string path = root_ + "/dev/cpu/" + std::to_string(cpu) + "/msr";
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) Fail("cannot open " + path);
  ssize_t n = pwrite(fd, &value, sizeof value, msr);
  close(fd);
  if (n != sizeof value) Fail("cannot write " + path);
}

uint64_t FakeMachineTree::ReadMsr(int cpu, uint32_t msr) const {
  std::string path = root_ + "/dev/cpu/" + std::to_string(cpu) + "/msr";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail("cannot open " + path);
  uint64_t value = 0;
  ssize_t n = pread(fd, &value, sizeof value, msr);
  close(fd);
  if (n != sizeof value) Fail("cannot read " + path);
  return value;
}

void FakeMachineTree::BuildMsr(int cpu) const {
  std::string dir = root_ + "/dev/cpu/" + std::to_string(cpu);
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string path = dir + "/msr";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Fail("cannot create " + path);
  int rc = ftruncate(fd, kMsrFileSize);
  close(fd);
  if (rc != 0) Fail("cannot size " + path);
  WriteMsr(cpu, 0x1a4, 0);
  WriteMsr(cpu, 0x620, 0x0818);
  WriteMsr(cpu, 0xc0000108, 0);
}

void FakeMachineTree::BuildCpus() const {
  const std::string cpu_dir = "sys/devices/system/cpu/";
  int n = options_.cpus;
  Write(cpu_dir + "online", n > 1 ? "0-" + std::to_string(n - 1) + "\n" : "0\n");
  Write(cpu_dir + "possible", n > 1 ? "0-" + std::to_string(n - 1) + "\n" : "0\n");
  std::string cpuinfo;
  for (int cpu = 0; cpu < n; ++cpu) {
    std::string c = std::to_string(cpu);
    cpuinfo += "processor\t: " + c + "\nvendor_id\t: " + options_.vendor +
               "\ncpu family\t: " + std::to_string(options_.family) +
               "\nmodel\t\t: " + std::to_string(options_.model) +
               "\nmodel name\t: " + options_.model_name + "\nstepping\t: 4\n" +
               "physical id\t: 0\ncore id\t\t: " + c +
               "\ncpu cores\t: " + std::to_string(n) + "\n\n";
    Write(cpu_dir + "cpu" + c + "/topology/physical_package_id", "0\n");
    Write(cpu_dir + "cpu" + c + "/topology/die_id", "0\n");
    if (options_.cpufreq) {
      std::string freq = cpu_dir + "cpu" + c + "/cpufreq/";
      Write(freq + "scaling_governor", "powersave\n");
      Write(freq + "scaling_available_governors", "performance powersave\n");
      Write(freq + "energy_performance_preference", "balance_performance\n");
      Write(freq + "energy_performance_available_preferences",
            "default performance balance_performance balance_power power \n");
    }
    if (options_.msr) BuildMsr(cpu);
  }
  Write("proc/cpuinfo", cpuinfo);
  if (options_.cpufreq) Write(cpu_dir + "cpufreq/boost", "1\n");
  if (options_.uncore_sysfs) {
    std::string uncore = cpu_dir + "intel_uncore_frequency/package_00_die_00/";
    Write(uncore + "initial_min_freq_khz", "800000\n");
    Write(uncore + "initial_max_freq_khz", "2400000\n");
    Write(uncore + "min_freq_khz", "800000\n");
    Write(uncore + "max_freq_khz", "2400000\n");
    Write(uncore + "current_freq_khz", "1800000\n");
  }
}

void FakeMachineTree::Build() const {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (!fs::is_directory(root_, ec)) {
    errno = ENOTDIR;
    Fail(root_);
  }
  BuildCpus();
  Write("proc/sys/vm/swappiness", "60\n");
  Write("proc/sys/vm/dirty_ratio", "20\n");
  Write("proc/sys/vm/dirty_background_ratio", "10\n");
  Write("proc/sys/vm/zone_reclaim_mode", "0\n");
  Write("proc/sys/kernel/numa_balancing", "1\n");
  Write("proc/sys/kernel/sched_autogroup_enabled", "1\n");
  Write("proc/sys/kernel/timer_migration", "1\n");
  Write("proc/sys/net/core/somaxconn", "4096\n");
  Write("proc/sys/net/ipv4/tcp_slow_start_after_idle", "1\n");
  // Linux 5.13..6.5 defaults for 4 CPUs (factor 1 + ilog2(4) = 3).
  const std::pair<const char*, const char*> sched[] = {
      {"wakeup_granularity_ns", "3000000\n"},
      {"min_granularity_ns", "2250000\n"},
      {"latency_ns", "18000000\n"},
      {"migration_cost_ns", "500000\n"},
      {"nr_migrate", "32\n"},
  };
  for (const auto& [file, value] : sched) {
    if (options_.sched_debugfs)
      Write(std::string("sys/kernel/debug/sched/") + file, value);
    if (options_.sched_procfs) Write(std::string("proc/sys/kernel/sched_") + file, value);
  }
  if (options_.thp) {
    Write("sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n");
    Write("sys/kernel/mm/transparent_hugepage/defrag",
          "always defer defer+madvise [madvise] never\n");
  }
}

std::map<std::string, std::string> FakeMachineTree::Snapshot() const {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string relative = fs::relative(it->path(), root_).string();
    if (relative.rfind("dev/cpu/", 0) == 0 && it->path().filename() == "msr")
      SnapshotMsr(it->path().string(), relative, &files);
    else
      files[relative] = Normalize(Read(relative));
  }
  return files;
}

}  // namespace hone::test
