// FakeMachineTree: a fake machine for honed --root DIR and for Machine-based tests.
//
// Builds, under a directory the caller owns, the files honed reads and writes on a
// real machine: proc/cpuinfo, sys/devices/system/cpu/{online,cpuN/topology,...},
// procfs sysctls, debugfs scheduler files, transparent huge page selectors, uncore
// and cpufreq sysfs files, and sparse dev/cpu/N/msr files on which the MSR backend's
// pread/pwrite at offset = MSR address work unchanged. By default it is an Intel
// Xeon (GenuineIntel family 6 model 0x55, Skylake-SP) with 4 CPUs in one package;
// FakeMachineOptions leaves parts out or changes the CPU.
//
// Snapshot() captures every file so that a test can assert that the machine holds
// exactly its original bytes after a job. Errors while building throw
// std::runtime_error (test code only).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace hone::test {

struct FakeMachineOptions {
  int cpus = 4;
  // /proc/cpuinfo identity.
  std::string vendor = "GenuineIntel";
  int family = 6;
  int model = 0x55;
  std::string model_name = "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz";
  // dev/cpu/N/msr (sparse): MSR 0x1a4 = 0 (prefetchers on), 0x620 = 0x0818
  // (uncore min ratio 8, max ratio 24), 0xc0000108 = 0.
  bool msr = true;
  // sys/devices/system/cpu/intel_uncore_frequency/package_00_die_00/ (800000..2400000).
  bool uncore_sysfs = true;
  // sys/kernel/debug/sched/* (Linux 5.13 and later).
  bool sched_debugfs = true;
  // proc/sys/kernel/sched_* scheduler files (before 5.13).
  bool sched_procfs = false;
  // sys/kernel/mm/transparent_hugepage/{enabled,defrag}.
  bool thp = true;
  // sys/devices/system/cpu/cpuN/cpufreq/* and cpufreq/boost.
  bool cpufreq = true;
};

class FakeMachineTree {
 public:
  // Builds the tree under `dir`, creating it (and its parents) when missing.
  explicit FakeMachineTree(std::string dir, FakeMachineOptions options = {});

  // The directory to give MakeMachine or honed --root.
  const std::string& root() const { return root_; }
  const FakeMachineOptions& options() const { return options_; }

  // `relative` is a path under root() without a leading slash ("proc/sys/vm/swappiness").
  // Write creates the file and its directories.
  void Write(const std::string& relative, const std::string& contents) const;
  std::string Read(const std::string& relative) const;
  void Remove(const std::string& relative) const;  // a file or a whole directory

  void WriteMsr(int cpu, uint32_t msr, uint64_t value) const;
  uint64_t ReadMsr(int cpu, uint32_t msr) const;

  // Every file under root(): relative path -> exact bytes. An MSR file appears as
  // its non-zero registers, 8 bytes each keyed "dev/cpu/N/msr@0x1a4" (an all-zero
  // register is absent); non-zero bytes elsewhere (a stray write) appear as 8-byte
  // words keyed by the offset of their first non-zero byte. A selector file ("always
  // [madvise] never\n") is recorded as its selected word and a newline ("madvise\n"),
  // since a plain file cannot re-render the kernel's list after a write: writing
  // "madvise\n" back restores it.
  std::map<std::string, std::string> Snapshot() const;

 private:
  void Build() const;
  void BuildCpus() const;
  void BuildMsr(int cpu) const;

  std::string root_;
  FakeMachineOptions options_;
};

}  // namespace hone::test
