#include "daemon/store/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace hone {

namespace {

std::string Mode(mode_t mode) {
  char text[8];
  snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string Errno(const std::string& what) { return what + ": " + strerror(errno); }

// One directory above the state directory: root's or honed's user's, and writable
// by nobody else unless sticky.
Status CheckAncestor(const std::string& dir, const std::string& what) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) return Status::IOError(Errno("cannot examine " + dir));
  uid_t self = geteuid();
  if (st.st_uid != 0 && st.st_uid != self)
    return Status::FailedPrecondition(
        what + ": " + dir + " above it belongs to uid " + std::to_string(st.st_uid) +
        ", who could replace it; honed trusts only directories of root or its own user "
        "(uid " + std::to_string(self) + "): choose another --state-dir");
  if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))
    return Status::FailedPrecondition(
        what + ": " + dir + " above it is writable by its group or others (mode " +
        Mode(st.st_mode) + "), who could replace it: chmod go-w " + dir +
        " or choose another --state-dir");
  return Status::OK();
}

}  // namespace

Status CheckTrustedDirectory(const std::string& path, const std::string& what) {
  std::string absolute = std::filesystem::absolute(path).lexically_normal().string();
  while (absolute.size() > 1 && absolute.back() == '/') absolute.pop_back();
  struct stat st {};
  if (lstat(absolute.c_str(), &st) != 0)
    return Status::IOError(Errno("cannot examine " + what + " " + absolute));
  if (S_ISLNK(st.st_mode))
    return Status::FailedPrecondition(what + " " + absolute +
                                      " is a symbolic link; give honed the real "
                                      "directory, which it checks");
  if (!S_ISDIR(st.st_mode))
    return Status::FailedPrecondition(what + " " + absolute + " is not a directory");
  uid_t self = geteuid();
  if (st.st_uid != self)
    return Status::FailedPrecondition(
        what + " " + absolute + " belongs to uid " + std::to_string(st.st_uid) +
        ", not to honed's user (uid " + std::to_string(self) +
        "); whoever owns it could change honed's jobs: chown " + std::to_string(self) +
        " " + absolute + " or choose another --state-dir");
  if (st.st_mode & 022)
    return Status::FailedPrecondition(
        what + " " + absolute + " is writable by its group or others (mode " +
        Mode(st.st_mode) + "); they could change honed's jobs: chmod go-w " + absolute);
  // The directories above, as they really are (a symlink such as /var/run resolved).
  std::string parent = std::filesystem::path(absolute).parent_path().string();
  char real[PATH_MAX];
  if (!realpath(parent.c_str(), real))
    return Status::IOError(Errno("cannot resolve " + parent));
  std::filesystem::path dir = real;
  for (;;) {
    Status s = CheckAncestor(dir.string(), what + " " + absolute);
    if (!s.ok()) return s;
    if (dir == dir.root_path()) break;
    dir = dir.parent_path();
  }
  return Status::OK();
}

StateDir::~StateDir() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

Status StateDir::Open(const std::string& path) {
  path_ = path;
  std::error_code ec;
  if (std::filesystem::create_directories(path, ec))
    chmod(path.c_str(), 0755);  // whatever the umask: results are for the submitters
  if (ec)
    return Status::IOError("cannot create state directory " + path + ": " + ec.message());
  Status s = CheckTrustedDirectory(path, "state directory");
  if (!s.ok()) return s;
  std::string lock = path + "/honed.lock";
  int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(Errno("cannot open " + lock));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    char pid[32] = {};
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    close(fd);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
      holder.pop_back();
    if (error == EWOULDBLOCK)
      return Status::FailedPrecondition(
          "another honed" + (holder.empty() ? std::string() : " (pid " + holder + ")") +
          " is using state directory " + path +
          "; stop it first, or give this one another --state-dir");
    errno = error;
    return Status::IOError(Errno("cannot lock " + lock));
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    close(fd);
    return Status::IOError(Errno("cannot write " + lock));
  }
  lock_fd_ = fd;
  return Status::OK();
}

Sentinel::Sentinel(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  int fd = open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  char text[64] = {};
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return;
  std::string line(text, static_cast<size_t>(n));
  size_t space = line.find(' ');
  if (space == std::string::npos) return;
  left_action_ = line.substr(0, space);
  left_job_ = std::strtoll(line.c_str() + space + 1, nullptr, 10);
  if (left_job_ <= 0) left_action_.clear(), left_job_ = 0;
}

void Sentinel::Set(const std::string& action, int64_t job) {
  if (path_.empty()) return;
  std::string line = action + " " + std::to_string(job) + "\n";
  int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
  close(fd);
}

void Sentinel::Clear() {
  if (!path_.empty()) unlink(path_.c_str());
}

Status WriteFileAtomically(const std::string& path, const std::string& contents,
                           mode_t mode) {
  std::string temp = path + ".tmp";
  // A symlink (or anything) planted at the temporary name is removed, not followed.
  if (unlink(temp.c_str()) != 0 && errno != ENOENT)
    return Status::IOError(Errno("cannot remove " + temp));
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError(Errno("cannot create " + temp));
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::IOError(Errno("cannot write " + temp));
      close(fd);
      unlink(temp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || fchmod(fd, mode) != 0) {
    Status s = Status::IOError(Errno("cannot sync " + temp));
    close(fd);
    unlink(temp.c_str());
    return s;
  }
  close(fd);
  if (rename(temp.c_str(), path.c_str()) != 0) {
    Status s = Status::IOError(Errno("cannot rename " + temp + " to " + path));
    unlink(temp.c_str());
    return s;
  }
  return Status::OK();
}

}  // namespace hone
