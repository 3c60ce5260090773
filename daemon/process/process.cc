#include "daemon/process/process.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hone {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using asio::posix::stream_descriptor;

namespace {

constexpr auto kDrainAfterExit = std::chrono::seconds(2);
// How long a killed run's cgroup may take to empty (a process in uninterruptible
// sleep dies only when it wakes); after that the run ends and the cgroup is left
// for the next start's sweep.
constexpr auto kCgroupEmptyDeadline = std::chrono::seconds(10);
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// What a child that failed before exec writes to its status pipe.
struct ChildFailure {
  int stage;  // index into kStages
  int error;  // errno
};
constexpr const char* kStages[] = {"cannot change to the working directory",
                                   "cannot set groups",
                                   "cannot set gid",
                                   "cannot set uid",
                                   "cannot execute",
                                   "cannot set up stdio",
                                   "cannot join its cgroup"};

// The state shared by the coroutine and the timers' handlers.
struct Child {
  explicit Child(asio::any_io_executor ex)
      : out(ex), err(ex), exited(ex), timeout(ex), stop(ex), drain(ex) {}
  pid_t pid = -1;
  std::string cgroup;  // the run's own cgroup; empty: its process group only
  bool leader_exited = false;
  bool timed_out = false;
  bool stopped_early = false;
  double cpu_s = 0;  // ProcessResult::cpu_s
  stream_descriptor out, err, exited;
  asio::steady_timer timeout, stop, drain;

  // SIGKILLs the run: every process of its cgroup, else of its process group.
  void Kill() {
    if (!cgroup.empty()) {
      Status s = KillCgroup(cgroup);
      if (s.ok()) return;
      spdlog::warn("{}; killing process group {} instead", s.message(), pid);
    }
    kill(-pid, SIGKILL);
  }

  // Kills the run for `stopped_early`, unless it is over or already killed.
  void StopEarly() {
    if (leader_exited || timed_out || stopped_early) return;
    stopped_early = true;
    Kill();
  }
};

// Everything the child needs, laid out before fork so that the child only makes
// async-signal-safe calls.
struct ExecPlan {
  std::vector<std::string> candidates;  // paths to try for argv[0]
  std::vector<std::string> argv_storage, env_storage;
  std::vector<char*> argv, envp;
};

ExecPlan MakePlan(const ProcessSpec& spec) {
  ExecPlan plan;
  const std::string& program = spec.argv[0];
  if (program.find('/') != std::string::npos) {
    plan.candidates.push_back(program);
  } else {
    auto path_it = spec.env.find("PATH");
    std::string path =
        path_it != spec.env.end() ? path_it->second : "/usr/local/bin:/usr/bin:/bin";
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      plan.candidates.push_back((dir.empty() ? "." : dir) + "/" + program);
      start = end + 1;
    }
  }
  plan.argv_storage = spec.argv;
  for (const auto& [key, value] : spec.env) plan.env_storage.push_back(key + "=" + value);
  for (std::string& s : plan.argv_storage) plan.argv.push_back(s.data());
  plan.argv.push_back(nullptr);
  for (std::string& s : plan.env_storage) plan.envp.push_back(s.data());
  plan.envp.push_back(nullptr);
  return plan;
}

[[noreturn]] void ChildFail(int status_fd, int stage) {
  ChildFailure failure{stage, errno};
  ssize_t ignored = write(status_fd, &failure, sizeof failure);
  (void)ignored;
  _exit(127);
}

// Runs in the child after fork or clone3: only async-signal-safe calls, and raw
// system calls where glibc's wrapper would involve other threads (the credentials:
// after a raw clone3 glibc still believes in the parent's threads). With
// `procs_fd` (cgroup.procs of the run's cgroup, when clone3 could not start the
// child there), the child first moves itself into its cgroup.
[[noreturn]] void ExecChild(const ProcessSpec& spec, ExecPlan& plan, int out_fd,
                            int err_fd, int status_fd, int procs_fd, bool switch_user,
                            pid_t parent) {
  if (procs_fd >= 0 && write(procs_fd, "0", 1) != 1) ChildFail(status_fd, 6);
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
    ChildFail(status_fd, 5);
  // Nothing of honed's (the listening socket, the database) may reach the workload.
  syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
  umask(022);  // honed's own umask keeps its state private; the workload's is the usual
  if (switch_user) {
    const Credentials& user = *spec.user;
    if (syscall(SYS_setgroups, user.groups.size(), user.groups.data()) != 0)
      ChildFail(status_fd, 1);
    if (syscall(SYS_setgid, user.gid) != 0) ChildFail(status_fd, 2);
    if (syscall(SYS_setuid, user.uid) != 0) ChildFail(status_fd, 3);
  }
  // As the user, so that a directory the user may not enter stays closed.
  if (chdir(spec.cwd.c_str()) != 0) ChildFail(status_fd, 0);
  // If honed dies (even by SIGKILL), the leader dies with it. Set after the
  // credential change, which clears it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  int first_error = ENOENT;
  bool have_error = false;
  for (const std::string& candidate : plan.candidates) {
    execve(candidate.c_str(), plan.argv.data(), plan.envp.data());
    // Like execvp: remember the first error that is not "no such file".
    if (!have_error && errno != ENOENT && errno != ENOTDIR) {
      first_error = errno;
      have_error = true;
    }
  }
  errno = first_error;
  ChildFail(status_fd, 4);
}

// Keeps the last `limit` bytes: a workload's result is usually at the end. Shows
// each piece to spec.watch, which may stop the run early.
asio::awaitable<void> ReadAll(std::shared_ptr<Child> child, bool is_stderr,
                              std::string& into, size_t& total, const ProcessSpec& spec) {
  stream_descriptor& from = is_stderr ? child->err : child->out;
  const size_t limit = spec.output_limit;
  char buffer[16384];
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer), use_tuple);
    into.append(buffer, n);
    total += n;
    if (n && spec.watch && spec.watch(std::string_view(buffer, n), is_stderr))
      child->StopEarly();
    if (into.size() > 2 * limit) into.erase(0, into.size() - limit);
    if (ec) break;
  }
  if (into.size() > limit) into.erase(0, into.size() - limit);
}

// Polls until the run's cgroup is empty, killing again what may have forked
// meanwhile (kernels without cgroup.kill), up to kCgroupEmptyDeadline.
asio::awaitable<void> WaitUntilEmpty(std::shared_ptr<Child> child) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto deadline = std::chrono::steady_clock::now() + kCgroupEmptyDeadline;
  auto delay = std::chrono::milliseconds(1);
  while (CgroupPopulated(child->cgroup)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("cgroup {} still has processes {}s after it was killed", child->cgroup,
                   kCgroupEmptyDeadline.count());
      co_return;
    }
    timer.expires_after(delay);
    co_await timer.async_wait(use_tuple);
    delay = std::min(delay * 2, std::chrono::milliseconds(50));
    child->Kill();
  }
}

// Waits for the leader, then kills what is left of its cgroup (or group) and waits
// until the cgroup is empty. The pipes then get a little time to drain (a
// grandchild that escaped a process group could hold them open).
asio::awaitable<void> WaitForExit(std::shared_ptr<Child> child, int* wait_status) {
  co_await child->exited.async_wait(stream_descriptor::wait_read, use_tuple);
  struct rusage usage {};
  while (wait4(child->pid, wait_status, 0, &usage) < 0 && errno == EINTR) {
  }
  child->cpu_s =
      static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
      static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  child->leader_exited = true;
  child->timeout.cancel();
  child->stop.cancel();
  child->Kill();
  if (!child->cgroup.empty()) {
    co_await WaitUntilEmpty(child);
    // The cgroup counts every process of the run, also those nobody waited for.
    if (std::optional<double> used = CgroupCpuSeconds(child->cgroup))
      child->cpu_s = std::max(child->cpu_s, *used);
  }
  child->drain.expires_after(kDrainAfterExit);
  child->drain.async_wait([child](boost::system::error_code ec) {
    if (ec) return;
    boost::system::error_code ignored;
    child->out.close(ignored);
    child->err.close(ignored);
  });
}

// A run's own cgroup, from creation to removal, and the descriptors its child
// needs to start in it.
class RunCgroup {
 public:
  // Makes the cgroup when `groups` has usable cgroups; a run without one is
  // contained by its process group alone.
  explicit RunCgroup(ProcessGroups* groups) {
    cgroups_ = groups ? groups->cgroups() : nullptr;
    if (!cgroups_ || !cgroups_->usable()) return;
    clone_into_ = cgroups_->clone_into_cgroup();
    Status s = cgroups_->Create(&path_);
    if (s.ok()) {
      dir_fd_ = open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir_fd_ < 0)
        s = Status::IOError("cannot open " + path_ + ": " + strerror(errno));
    }
    if (!s.ok()) {
      spdlog::warn("{}; this run is contained by its process group only", s.message());
      Remove();
    }
  }
  ~RunCgroup() { Remove(); }
  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;

  const std::string& path() const { return path_; }
  // For a child started by fork, which joins the cgroup itself; else -1.
  int procs_fd() const { return procs_fd_; }

  // Like fork(), but the child starts in the cgroup: clone3 with CLONE_INTO_CGROUP
  // (kernel 5.7), else fork, and the child writes itself to procs_fd() before
  // anything else.
  pid_t Fork() {
    if (path_.empty()) return fork();
    if (clone_into_) {
      clone_args args;
      memset(&args, 0, sizeof args);
      args.flags = CLONE_INTO_CGROUP;
      args.exit_signal = SIGCHLD;
      args.cgroup = static_cast<uint64_t>(dir_fd_);
      pid_t pid = static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
      if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL)) return pid;
    }
    procs_fd_ = openat(dir_fd_, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs_fd_ < 0) return -1;
    return fork();
  }

  // Kills what is left in the cgroup and removes it, unless its processes are
  // still dying (then the next start's sweep removes it).
  void Remove() {
    for (int* fd : {&dir_fd_, &procs_fd_})
      if (*fd >= 0) close(std::exchange(*fd, -1));
    if (path_.empty()) return;
    Status s = cgroups_->Release(path_);
    if (!s.ok()) spdlog::warn("{}; left for the next start", s.message());
    path_.clear();
  }

 private:
  WorkloadCgroups* cgroups_ = nullptr;
  std::string path_;
  bool clone_into_ = true;
  int dir_fd_ = -1, procs_fd_ = -1;
};

std::string FormatSeconds(double seconds) {
  char text[32];
  snprintf(text, sizeof text, seconds < 10 ? "%.1fs" : "%.0fs", seconds);
  return text;
}

}  // namespace

std::string ProcessResult::Describe() const {
  if (!started) return error;
  if (cancelled) return "cancelled";
  if (stopped_early) return "stopped early after " + FormatSeconds(elapsed_s);
  if (timed_out) return "timed out after " + FormatSeconds(elapsed_s) + " and was killed";
  if (signal) return std::string("killed by signal ") + strsignal(signal);
  if (exit_code != 0) return "exited with status " + std::to_string(exit_code);
  return "succeeded";
}

namespace {
// Fields of /proc/PID/stat after the command name: state is field 3.
bool ReadStat(pid_t pid, pid_t* pgrp, uint64_t* start) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) return false;
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 5) *pgrp = static_cast<pid_t>(std::stol(field));
    if (i == 22) {
      *start = std::stoull(field);
      return true;
    }
  }
  return false;
}
}  // namespace

uint64_t ProcessStartTime(pid_t pid) {
  pid_t pgrp = 0;
  uint64_t start = 0;
  return ReadStat(pid, &pgrp, &start) ? start : 0;
}

int KillGroupSince(pid_t pgid, uint64_t started) {
  int killed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    pid_t pgrp = 0;
    uint64_t start = 0;
    if (ReadStat(pid, &pgrp, &start) && pgrp == pgid && start >= started &&
        kill(pid, SIGKILL) == 0)
      ++killed;
  }
  return killed;
}

bool ProcessGroups::in_cgroups() const { return cgroups_ && cgroups_->usable(); }

std::string ProcessGroups::containment() const {
  if (!cgroups_) return "process groups (no cgroups were set up)";
  return cgroups_->containment();
}

void ProcessGroups::KillAll() {
  cancelled_ = true;
  for (const auto& [pgid, cgroup] : groups_) {
    if (!cgroup.empty()) {
      Status s = KillCgroup(cgroup);
      if (s.ok()) continue;
      spdlog::warn("{}; killing process group {} instead", s.message(), pgid);
    }
    kill(-pgid, SIGKILL);
  }
}

std::vector<std::string> ShellArgv(const std::string& command) {
  return {"/bin/sh", "-c", command};
}

asio::awaitable<ProcessResult> RunProcess(ProcessSpec spec, ProcessGroups* groups) {
  ProcessResult result;
  if (groups && groups->cancelled()) {
    result.cancelled = true;
    result.error = "cancelled";
    co_return result;
  }
  if (spec.argv.empty()) {
    result.error = "no command to run";
    co_return result;
  }
  bool switch_user = false;
  if (spec.user) {
    if (geteuid() == 0) {
      switch_user = true;
    } else if (spec.user->uid != geteuid()) {
      result.error = "honed runs as uid " + std::to_string(geteuid()) +
                     " and cannot run a process as uid " + std::to_string(spec.user->uid);
      co_return result;
    }
  }
  ExecPlan plan = MakePlan(spec);
  int out_pipe[2], err_pipe[2], status_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + strerror(errno);
    co_return result;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + strerror(errno);
    close(out_pipe[0]), close(out_pipe[1]);
    co_return result;
  }
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + strerror(errno);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    co_return result;
  }
  RunCgroup cgroup(groups);
  auto started_at = std::chrono::steady_clock::now();
  pid_t parent = getpid();
  pid_t pid = cgroup.Fork();
  if (pid == 0)
    ExecChild(spec, plan, out_pipe[1], err_pipe[1], status_pipe[1], cgroup.procs_fd(),
              switch_user, parent);
  for (int fd : {out_pipe[1], err_pipe[1], status_pipe[1]}) close(fd);
  if (pid < 0) {
    result.error = cgroup.path().empty() ? std::string("fork: ") + strerror(errno)
                                         : "cannot start a process in cgroup " +
                                               cgroup.path() + ": " + strerror(errno);
    for (int fd : {out_pipe[0], err_pipe[0], status_pipe[0]}) close(fd);
    co_return result;
  }
  setpgid(pid, pid);  // also done by the child; whichever runs first wins the race
  // Known (and recorded) from now on, so that a cancel or the next honed after a
  // crash kills it even before it has exec'd.
  if (groups) groups->Add(pid, cgroup.path());

  auto executor = co_await asio::this_coro::executor;
  // The status pipe closes at exec (CLOEXEC) or carries the reason exec never came.
  // Waited for on the loop, not in a blocking read: exec takes milliseconds.
  ChildFailure failure{};
  stream_descriptor status(executor, status_pipe[0]);
  auto [status_error, n] =
      co_await asio::async_read(status, asio::buffer(&failure, sizeof failure), use_tuple);
  status.close();
  if (n == sizeof failure) {
    int ignored;
    waitpid(pid, &ignored, 0);
    if (groups) groups->Remove(pid);
    close(out_pipe[0]), close(err_pipe[0]);
    const std::string& what = failure.stage == 0 ? spec.cwd : spec.argv[0];
    result.error =
        std::string(kStages[failure.stage]) + " " + what + ": " + strerror(failure.error);
    co_return result;
  }
  result.started = true;

  auto child = std::make_shared<Child>(executor);
  child->pid = pid;
  child->cgroup = cgroup.path();
  child->out.assign(out_pipe[0]);
  child->err.assign(err_pipe[0]);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    // Without a pidfd we cannot wait asynchronously; kill rather than block.
    child->Kill();
    int ignored;
    waitpid(pid, &ignored, 0);
    if (groups) groups->Remove(pid);
    result.started = false;
    result.error = std::string("pidfd_open: ") + strerror(errno);
    co_return result;
  }
  child->exited.assign(pidfd);

  child->timeout.expires_after(spec.timeout);
  child->timeout.async_wait([child](boost::system::error_code ec) {
    if (ec || child->leader_exited || child->stopped_early) return;
    child->timed_out = true;
    child->Kill();
  });

  if (spec.stop_at) {
    child->stop.expires_after(*spec.stop_at);
    child->stop.async_wait([child](boost::system::error_code ec) {
      if (!ec) child->StopEarly();
    });
  }

  int wait_status = 0;
  co_await (ReadAll(child, false, result.out, result.out_bytes, spec) &&
            ReadAll(child, true, result.err, result.err_bytes, spec) &&
            WaitForExit(child, &wait_status));
  child->drain.cancel();
  cgroup.Remove();
  if (groups) groups->Remove(pid);

  result.elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at)
          .count();
  result.cpu_s = child->cpu_s;
  result.timed_out = child->timed_out;
  result.stopped_early = child->stopped_early && !child->timed_out;
  if (WIFEXITED(wait_status)) result.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) result.signal = WTERMSIG(wait_status);
  result.cancelled = groups && groups->cancelled() && !result.timed_out && result.signal;
  co_return result;
}

namespace {

class SystemProcessRunner : public ProcessRunner {
 public:
  boost::asio::awaitable<ProcessResult> Run(ProcessSpec spec,
                                            ProcessGroups* groups) override {
    co_return co_await RunProcess(std::move(spec), groups);
  }
};

}  // namespace

ProcessRunner* ProcessRunner::System() {
  static SystemProcessRunner runner;
  return &runner;
}

}  // namespace hone
