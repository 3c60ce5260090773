#include "daemon/process/cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace hone {

namespace {

Status Errno(const std::string& what, int error) {
  return Status::IOError(what + ": " + strerror(error));
}

// Writes `text` to a cgroup file with one write(2), as the kernel wants it.
Status WriteCgroupFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open " + path, errno);
  ssize_t n = write(fd, text.data(), text.size());
  int error = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size()))
    return Errno("cannot write '" + text + "' to " + path, error);
  return Status::OK();
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      int value = 0;
      bool octal = true;
      for (size_t j = 1; j <= 3; ++j) {
        char c = field[i + j];
        if (c < '0' || c > '7') octal = false;
        value = value * 8 + (c - '0');
      }
      if (octal) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

// The first cgroup2 mount: its mount point and the cgroup it shows at its top
// (its "root" field, "/" unless it is a bind mount of a subtree).
Status FindCgroup2Mount(std::string* mount_point, std::string* mount_root) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream after(line.substr(dash + 3));
    std::string fstype;
    if (!(after >> fstype) || fstype != "cgroup2") continue;
    std::istringstream before(line.substr(0, dash));
    std::string id, parent, device, root, point;
    if (!(before >> id >> parent >> device >> root >> point)) continue;
    *mount_root = Unescape(root);
    *mount_point = Unescape(point);
    return Status::OK();
  }
  return Status::Unavailable("no cgroup2 file system is mounted");
}

// The "0::" line of /proc/self/cgroup: the cgroup v2 that honed is in.
Status FindOwnCgroupPath(std::string* path) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) {
      *path = line.substr(3);
      return Status::OK();
    }
  }
  return Status::Unavailable(
      "honed is in no cgroup v2 (no 0:: line in /proc/self/cgroup)");
}

bool IsCgroup2(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// systemd marks the cgroup of a unit with Delegate=yes with trusted.delegate=1
// (newer versions also set user.delegate=1, which an unprivileged manager can read).
bool IsDelegated(const std::string& path) {
  for (const char* name : {"trusted.delegate", "user.delegate"}) {
    char value[8] = {};
    ssize_t n = getxattr(path.c_str(), name, value, sizeof value - 1);
    if (n > 0 && value[0] == '1') return true;
  }
  return false;
}

// FNV-1a: stable across builds, unlike std::hash.
std::string ShortHash(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char out[17];
  snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
  return std::string(out, 12);
}

// mkdir that accepts an existing directory.
Status MakeCgroup(const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return Status::OK();
  return Errno("cannot create cgroup " + path, errno);
}

std::vector<std::string> ChildCgroups(const std::string& path) {
  std::vector<std::string> children;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec))
    if (entry.is_directory(ec)) children.push_back(entry.path().string());
  return children;
}

}  // namespace

// ---- WorkloadCgroups ---------------------------------------------------------

std::unique_ptr<WorkloadCgroups> WorkloadCgroups::Setup(const CgroupOptions& options) {
  std::unique_ptr<WorkloadCgroups> cgroups(new WorkloadCgroups());
  cgroups->clone_into_cgroup_ = options.clone_into_cgroup;
  auto fall_back = [&](const std::string& why) {
    cgroups->why_not_ = why;
    return std::move(cgroups);
  };
  if (options.dir == "none")
    return fall_back("cgroups turned off (--workload-cgroup none)");
  std::string dir = options.dir;
  bool chosen = dir.empty();
  if (chosen) {
    std::string mount, own;
    Status s = FindOwnCgroup(&mount, &own);
    if (!s.ok()) return fall_back(s.message());
    if (own == mount) {
      // The root cgroup: shared with every other honed on the machine.
      dir = mount + "/honed-" + ShortHash(options.instance);
      cgroups->shared_ = true;
    } else if (!IsDelegated(own)) {
      return fall_back("honed's cgroup " + own +
                       " is not delegated to it (run it as honed.service, which has "
                       "Delegate=yes, or give --workload-cgroup)");
    } else {
      // No internal processes: honed leaves its cgroup's top for a leaf of its own.
      s = MakeCgroup(own + "/honed");
      if (s.ok())
        s = WriteCgroupFile(own + "/honed/cgroup.procs", std::to_string(getpid()));
      if (!s.ok()) return fall_back(s.message());
      dir = own + "/workloads";
    }
  }
  Status s = MakeCgroup(dir);
  if (!s.ok()) return fall_back(s.message());
  if (!IsCgroup2(dir)) return fall_back(dir + " is not on a cgroup2 file system");
  if (access(dir.c_str(), W_OK) != 0) return fall_back(Errno(dir, errno).message());
  cgroups->dir_ = dir;
  cgroups->remove_at_end_ = chosen;
  if (cgroups->shared_) rmdir(dir.c_str());  // until the first run (unless leftovers)
  return cgroups;
}

WorkloadCgroups::~WorkloadCgroups() {
  if (remove_at_end_) rmdir(dir_.c_str());
}

std::string WorkloadCgroups::containment() const {
  if (usable()) return "cgroup v2 (under " + dir_ + ")";
  return "process groups (" + why_not_ + ")";
}

Status WorkloadCgroups::Create(std::string* path) {
  if (!usable()) return Status::FailedPrecondition(containment());
  bool made_dir = false;
  for (int tries = 0; tries < 1000; ++tries) {
    std::string candidate = dir_ + "/run-" + std::to_string(next_run_++);
    if (mkdir(candidate.c_str(), 0755) == 0) {
      *path = candidate;
      return Status::OK();
    }
    if (errno == EEXIST) continue;
    // In the root cgroup dir_ is there only while runs are (Release), or it was
    // removed under us (by a second honed given the same state directory, say).
    if (errno == ENOENT && !made_dir) {
      made_dir = true;
      Status s = MakeCgroup(dir_);
      if (!s.ok()) return s;
      continue;
    }
    return Errno("cannot create cgroup " + candidate, errno);
  }
  return Status::Internal("no free cgroup name under " + dir_);
}

Status WorkloadCgroups::Release(const std::string& path) {
  Status s = KillAndRemoveCgroup(path, std::chrono::milliseconds(0));
  if (shared_) rmdir(dir_.c_str());  // fails while other runs are in it
  return s;
}

int WorkloadCgroups::RemoveLeftovers(std::chrono::milliseconds wait, int* killed) {
  if (!usable()) return 0;
  int removed = 0;
  for (const std::string& child : ChildCgroups(dir_)) {
    if (killed) *killed += static_cast<int>(CgroupProcesses(child).size());
    if (KillAndRemoveCgroup(child, wait).ok()) ++removed;
  }
  if (shared_) rmdir(dir_.c_str());
  return removed;
}

// ---- One cgroup ----------------------------------------------------------------

Status FindOwnCgroup(std::string* mount, std::string* own) {
  std::string root, path;
  Status s = FindCgroup2Mount(mount, &root);
  if (s.ok()) s = FindOwnCgroupPath(&path);
  if (!s.ok()) return s;
  if (root != "/") {
    // A bind mount of a subtree (in some containers): honed's cgroup must be in it.
    if (path != root && path.rfind(root + "/", 0) != 0)
      return Status::Unavailable("honed's cgroup " + path +
                                 " is outside the cgroup2 mount " + *mount +
                                 " (which shows " + root + ")");
    path = path.substr(root.size());
  }
  *own = path.empty() || path == "/" ? *mount : *mount + path;
  return Status::OK();
}

Status KillCgroup(const std::string& path) {
  int fd = open((path + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) return Errno("cannot open " + path + "/cgroup.kill", errno);
    if (access(path.c_str(), F_OK) != 0) return Status::OK();  // gone: nothing to kill
    // No cgroup.kill: a kernel before 5.14.
    return KillCgroupByFreezing(path);
  }
  ssize_t n = write(fd, "1", 1);
  int error = errno;
  close(fd);
  if (n != 1) return Errno("cannot write to " + path + "/cgroup.kill", error);
  return Status::OK();
}

Status KillCgroupByFreezing(const std::string& path) {
  // Before 5.2 there is no freezer; killing repeatedly (KillAndRemoveCgroup, and
  // the runner's wait) catches what forked meanwhile.
  Status frozen = WriteCgroupFile(path + "/cgroup.freeze", "1");
  (void)frozen;
  for (pid_t pid : CgroupProcesses(path)) kill(pid, SIGKILL);
  return Status::OK();
}

std::vector<pid_t> CgroupProcesses(const std::string& path) {
  std::vector<pid_t> pids;
  std::ifstream in(path + "/cgroup.procs");
  long pid;
  while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
  for (const std::string& child : ChildCgroups(path)) {
    std::vector<pid_t> below = CgroupProcesses(child);
    pids.insert(pids.end(), below.begin(), below.end());
  }
  return pids;
}

bool CgroupPopulated(const std::string& path) {
  std::ifstream in(path + "/cgroup.events");
  std::string key;
  int value;
  while (in >> key >> value)
    if (key == "populated") return value != 0;
  return false;
}

std::optional<double> CgroupCpuSeconds(const std::string& path) {
  std::ifstream in(path + "/cpu.stat");
  std::string key;
  int64_t value;
  while (in >> key >> value)
    if (key == "usage_usec" && value >= 0) return static_cast<double>(value) / 1e6;
  return std::nullopt;
}

Status RemoveCgroup(const std::string& path) {
  for (const std::string& child : ChildCgroups(path)) {
    Status s = RemoveCgroup(child);
    if (!s.ok()) return s;
  }
  if (rmdir(path.c_str()) != 0 && errno != ENOENT)
    return Errno("cannot remove cgroup " + path, errno);
  return Status::OK();
}

Status KillAndRemoveCgroup(const std::string& path, std::chrono::milliseconds wait) {
  Status s = KillCgroup(path);
  if (!s.ok()) return s;
  auto deadline = std::chrono::steady_clock::now() + wait;
  auto delay = std::chrono::milliseconds(1);
  while (CgroupPopulated(path)) {
    if (std::chrono::steady_clock::now() >= deadline)
      return Status::Unavailable("cgroup " + path + " still has processes after " +
                                 std::to_string(wait.count()) + " ms");
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(50));
    KillCgroup(path);  // whatever forked meanwhile (without cgroup.kill)
  }
  return RemoveCgroup(path);
}

}  // namespace hone
