#include "daemon/knobs/machine.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/limits.h"

namespace hone {
namespace {

std::string Errno(int error) { return std::strerror(error); }

// Closes a file descriptor at scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The file system as seen from `root`: machine paths are resolved under it.
class RootedMachine : public Machine {
 public:
  explicit RootedMachine(std::string root) : root_(std::move(root)) {}

  Status ReadFile(const std::string& path, std::string* contents) override;
  Status WriteFile(const std::string& path, const std::string& contents) override;
  bool Exists(const std::string& path) override;
  Status ListDir(const std::string& path, std::vector<std::string>* names) override;
  Status ReadMsr(int cpu, uint32_t msr, uint64_t* value) override;
  Status WriteMsr(int cpu, uint32_t msr, uint64_t value) override;
  std::string root() const override { return root_.empty() ? "/" : root_; }

 private:
  // Machine path -> host path; refuses relative paths and ".." components.
  Status Resolve(const std::string& path, std::string* host) const;
  // Opens machine path `path`. Under a root, every symlink on the way resolves
  // inside it (openat2 RESOLVE_IN_ROOT: an absolute link target or `..` stops at
  // the root), so a fake tree can never lead honed to the host's files. Returns
  // the descriptor, or -1 with errno set.
  int Open(const std::string& path, int flags) const;
  // Checks that `host` resolves (symlinks followed) under ROOT/sys or ROOT/proc.
  Status CheckWritable(const std::string& path, const std::string& host) const;
  Status OpenMsr(int cpu, int flags, std::string* path, int* fd) const;

  std::string root_;  // "" for the real machine, else without a trailing slash
};

Status RootedMachine::Resolve(const std::string& path, std::string* host) const {
  if (path.empty() || path[0] != '/')
    return Status::InvalidArgument("not an absolute path: '" + path + "'");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0)
      return Status::InvalidArgument("refusing a path with '..': " + path);
    start = end + 1;
  }
  *host = root_ + path;
  return Status::OK();
}

int RootedMachine::Open(const std::string& path, int flags) const {
  if (root_.empty()) return open(path.c_str(), flags | O_CLOEXEC);
  Fd root(open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return -1;
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, root.get(), path.c_str(), &how, sizeof how));
}

Status RootedMachine::CheckWritable(const std::string& path,
                                    const std::string& host) const {
  char resolved[PATH_MAX];
  if (!realpath(host.c_str(), resolved)) {
    int error = errno;
    if (error == ENOENT) return Status::NotFound("no " + path);
    return Status::IOError("cannot resolve " + path + ": " + Errno(error));
  }
  std::string base = "/";
  if (!root_.empty()) {
    char root_resolved[PATH_MAX];
    if (!realpath(root_.c_str(), root_resolved))
      return Status::IOError("cannot resolve the root " + root_ + ": " + Errno(errno));
    base = std::string(root_resolved) + "/";
    if (base == "//") base = "/";
  }
  std::string target = resolved;
  for (const char* allowed : {"sys/", "proc/"}) {
    std::string prefix = base + allowed;
    if (target.compare(0, prefix.size(), prefix) == 0) return Status::OK();
  }
  return Status::InvalidArgument("refusing to write " + path +
                                 ": it is not under /sys or /proc");
}

Status RootedMachine::ReadFile(const std::string& path, std::string* contents) {
  std::string host;
  Status s = Resolve(path, &host);
  if (!s.ok()) return s;
  Fd fd(Open(path, O_RDONLY));
  if (fd.get() < 0) {
    int error = errno;
    if (error == ENOENT) return Status::NotFound("no " + path);
    return Status::IOError("cannot read " + path + ": " + Errno(error));
  }
  contents->clear();
  char buffer[8192];
  for (;;) {
    ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError("cannot read " + path + ": " + Errno(errno));
    if (n == 0) break;
    contents->append(buffer, static_cast<size_t>(n));
    if (contents->size() > limits::kMaxOutputBytes)
      return Status::IOError("cannot read " + path + ": longer than " +
                             std::to_string(limits::kMaxOutputBytes) +
                             " bytes, which no knob file is");
  }
  return Status::OK();
}

Status RootedMachine::WriteFile(const std::string& path, const std::string& contents) {
  std::string host;
  Status s = Resolve(path, &host);
  if (s.ok()) s = CheckWritable(path, host);
  if (!s.ok()) return s;
  // O_TRUNC is what a shell's `>` does: ignored by sysfs and procfs, and it makes a
  // plain file in a test tree hold exactly what was written.
  Fd fd(Open(path, O_WRONLY | O_TRUNC));
  if (fd.get() < 0) return Status::IOError("cannot write " + path + ": " + Errno(errno));
  ssize_t n = write(fd.get(), contents.data(), contents.size());
  if (n < 0) return Status::IOError("cannot write " + path + ": " + Errno(errno));
  if (static_cast<size_t>(n) != contents.size())
    return Status::IOError("cannot write " + path + ": short write");
  return Status::OK();
}

bool RootedMachine::Exists(const std::string& path) {
  std::string host;
  if (!Resolve(path, &host).ok()) return false;
  Fd fd(Open(path, O_PATH));
  return fd.get() >= 0;
}

Status RootedMachine::ListDir(const std::string& path, std::vector<std::string>* names) {
  std::string host;
  Status s = Resolve(path, &host);
  if (!s.ok()) return s;
  names->clear();
  int fd = Open(path, O_RDONLY | O_DIRECTORY);
  DIR* dir = fd >= 0 ? fdopendir(fd) : nullptr;
  if (!dir) {
    int error = errno;
    if (fd >= 0) close(fd);
    if (error == ENOENT) return Status::NotFound("no " + path);
    return Status::IOError("cannot list " + path + ": " + Errno(error));
  }
  while (struct dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names->push_back(std::move(name));
  }
  closedir(dir);
  std::sort(names->begin(), names->end());
  return Status::OK();
}

Status RootedMachine::OpenMsr(int cpu, int flags, std::string* path, int* fd) const {
  *path = "/dev/cpu/" + std::to_string(cpu) + "/msr";
  if (cpu < 0) return Status::InvalidArgument("no cpu " + std::to_string(cpu));
  *fd = Open(*path, flags);
  if (*fd >= 0) return Status::OK();
  int error = errno;
  if (error == ENOENT || error == ENXIO || error == ENODEV)
    return Status::Unavailable("no " + *path + ": load the msr module (modprobe msr)");
  return Status::IOError("cannot open " + *path + ": " + Errno(error));
}

Status RootedMachine::ReadMsr(int cpu, uint32_t msr, uint64_t* value) {
  std::string path;
  int raw_fd = -1;
  Status s = OpenMsr(cpu, O_RDONLY, &path, &raw_fd);
  if (!s.ok()) return s;
  Fd fd(raw_fd);
  uint64_t word = 0;
  ssize_t n = pread(fd.get(), &word, sizeof word, static_cast<off_t>(msr));
  if (n != static_cast<ssize_t>(sizeof word))
    return Status::IOError("cannot read " + path + " at " + Hex(msr) + ": " +
                           (n < 0 ? Errno(errno) : std::string("short read")));
  *value = word;
  return Status::OK();
}

Status RootedMachine::WriteMsr(int cpu, uint32_t msr, uint64_t value) {
  std::string path;
  int raw_fd = -1;
  Status s = OpenMsr(cpu, O_WRONLY, &path, &raw_fd);
  if (!s.ok()) return s;
  Fd fd(raw_fd);
  ssize_t n = pwrite(fd.get(), &value, sizeof value, static_cast<off_t>(msr));
  if (n != static_cast<ssize_t>(sizeof value))
    return Status::IOError("cannot write " + path + " at " + Hex(msr) + ": " +
                           (n < 0 ? Errno(errno) : std::string("short write")));
  return Status::OK();
}

}  // namespace

std::unique_ptr<Machine> MakeMachine(const std::string& root) {
  std::string trimmed = root;
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
  return std::make_unique<RootedMachine>(trimmed);
}

std::string Hex(uint64_t value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(value));
  return buffer;
}

Status ParseCpuList(const std::string& text, std::vector<int>* cpus) {
  cpus->clear();
  std::string list;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) list += c;
  if (list.empty()) return Status::OK();
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(start, end - start);
    int first = 0, last = 0;
    char extra = 0;
    int fields = std::sscanf(item.c_str(), "%d-%d%c", &first, &last, &extra);
    bool range = item.find('-') != std::string::npos;
    if (item.empty() || item.find_first_not_of("0123456789-") != std::string::npos ||
        (range ? fields != 2 : fields != 1) || first < 0 || (range && last < first) ||
        (range && last - first > 1 << 20))
      return Status::InvalidArgument("bad cpu list '" + text + "'");
    if (!range) last = first;
    for (int cpu = first; cpu <= last; ++cpu) cpus->push_back(cpu);
    start = end + 1;
  }
  std::sort(cpus->begin(), cpus->end());
  cpus->erase(std::unique(cpus->begin(), cpus->end()), cpus->end());
  return Status::OK();
}

}  // namespace hone
