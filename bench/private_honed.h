// A private honed for benchmarks: started from the build beside the bench on a
// temporary socket and state directory, spoken to with one blocking request per
// connection, and stopped at the end. Header-only; benchmarks are not tests.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace hone::bench {

// A connected Unix stream socket to `path`, or -1.
inline int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
    return fd;
  if (fd >= 0) close(fd);
  return -1;
}

// One request on a fresh blocking connection; null on any failure.
inline nlohmann::json Call(const std::string& socket_path, const nlohmann::json& request) {
  int fd = Connect(socket_path);
  if (fd < 0) return nullptr;
  std::string line = request.dump() + "\n";
  std::string buffer;
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(line.size())) {
    while (buffer.find('\n') == std::string::npos) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 30000) <= 0) break;
      char chunk[65536];
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
    }
  }
  close(fd);
  size_t newline = buffer.find('\n');
  if (newline == std::string::npos) return nullptr;
  return nlohmann::json::parse(buffer.substr(0, newline), nullptr, false);
}

// A line of /proc/PID/status in KiB ("VmHWM", "VmRSS"); -1 when missing.
inline long StatusKiB(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return -1;
}

// User plus system CPU seconds of a /proc stat file (a process or one thread).
inline double CpuSeconds(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)  // field 3 is the state
    if (i == 14 || i == 15) ticks += std::stod(field);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

class PrivateHoned {
 public:
  PrivateHoned() = default;
  PrivateHoned(const PrivateHoned&) = delete;
  PrivateHoned& operator=(const PrivateHoned&) = delete;
  ~PrivateHoned() { Stop(false); }

  // Starts `honed` (a path) with `args` beside --socket, --state-dir and
  // --log-level warn, and waits until it answers a ping; false with a message on
  // stderr when it does not.
  bool Start(const std::string& honed, const std::vector<std::string>& args) {
    std::string templ = std::filesystem::temp_directory_path() / "hone-bench-XXXXXX";
    if (!mkdtemp(templ.data())) {
      perror("mkdtemp");
      return false;
    }
    dir_ = templ;
    socket_ = dir_ + "/honed.sock";
    std::vector<std::string> argv = {"honed", "--socket", socket_, "--state-dir",
                                     dir_ + "/state", "--log-level", "warn"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      int log = open((dir_ + "/honed.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      std::vector<char*> raw;
      for (std::string& arg : argv) raw.push_back(arg.data());
      raw.push_back(nullptr);
      execv(honed.c_str(), raw.data());
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (Call({{"v", 1}, {"id", 1}, {"cmd", "ping"}}).is_object()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::cerr << "honed did not answer; its log: " << dir_ << "/honed.log\n";
    return false;
  }

  // Stops honed; keeps the directory (and says where) when `keep` is true.
  void Stop(bool keep) {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (dir_.empty()) return;
    if (keep)
      std::cerr << "honed's log: " << dir_ << "/honed.log\n";
    else
      std::filesystem::remove_all(dir_);
    dir_.clear();
  }

  nlohmann::json Call(const nlohmann::json& request) const {
    return bench::Call(socket_, request);
  }

  // Submits a job (`command` run in the temporary directory, PATH only); its number,
  // or 0 with the reply on stderr.
  int64_t Submit(const std::string& config_text, const std::vector<std::string>& command) {
    nlohmann::json reply = Call({{"v", 1},
                                 {"id", 1},
                                 {"cmd", "submit"},
                                 {"args",
                                  {{"config_text", config_text},
                                   {"config_path", "bench.yaml"},
                                   {"command", command},
                                   {"cwd", dir_},
                                   {"env", {{"PATH", "/usr/bin:/bin"}}}}}});
    if (reply.is_object() && reply.value("ok", false))
      return reply["result"].value("job", int64_t{0});
    std::cerr << "submit failed: " << reply.dump() << "\n";
    return 0;
  }

  // The `status` result of job `job`; null when honed did not answer.
  nlohmann::json JobStatus(int64_t job) const {
    nlohmann::json reply =
        Call({{"v", 1}, {"id", 1}, {"cmd", "status"}, {"args", {{"job", job}}}});
    return reply.is_object() ? reply.value("result", nlohmann::json()) : nlohmann::json();
  }

  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  const std::string& socket_path() const { return socket_; }

 private:
  pid_t pid_ = -1;
  std::string dir_, socket_;
};

// Samples a job has taken, from its status (valid and invalid).
inline int Samples(const nlohmann::json& status) {
  if (!status.is_object() || !status.contains("progress")) return 0;
  const nlohmann::json& progress = status["progress"];
  return progress.value("samples_valid", 0) + progress.value("samples_invalid", 0);
}

}  // namespace hone::bench
