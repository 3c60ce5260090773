#include "tests/test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace hone::test {

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/hone-test-XXXXXX";
  char* made = mkdtemp(templ.data());
  path_ = made ? made : "";
  chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& text,
                           bool executable) const {
  std::string path = path_ + "/" + name;
  std::ofstream(path) << text;
  chmod(path.c_str(), executable ? 0755 : 0644);
  return path;
}

std::string HtmlDataField(const std::string& html, const std::string& name) {
  const std::string key = "data-field=\"" + name + "\">";
  size_t at = html.find(key);
  if (at == std::string::npos) return "<missing>";
  if (html.find(key, at + 1) != std::string::npos) return "<twice>";
  at += key.size();
  return html.substr(at, html.find('<', at) - at);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env,
                         const std::string& cwd) {
  CommandResult result;
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return result;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]), close(err[0]), close(out[1]), close(err[1]);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    for (const std::string& kv : extra_env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]), close(err[1]);
  // Read both pipes without deadlocking on a full one.
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buffer[8192];
      ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

bool WaitForImpl(const std::function<bool()>& predicate, double seconds) {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return predicate();
}

bool ProcessAlive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  // A zombie still answers kill(0); look at its state.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

Honed::Honed(const std::string& dir, std::vector<std::string> args)
    : dir_(dir),
      socket_(dir + "/honed.sock"),
      state_(dir + "/state"),
      log_(dir + "/honed.log"),
      args_(std::move(args)) {}

bool Honed::HasArg(const std::string& flag) const {
  return std::find(args_.begin(), args_.end(), flag) != args_.end();
}

Honed::~Honed() {
  if (pid_ > 0) Stop();
}

void Honed::Launch(const std::vector<std::string>& env) {
  std::vector<std::string> argv = {std::string(HONE_BIN_DIR) + "/honed", "--socket",
                                   socket_, "--state-dir", state_};
  // Never the machine's /etc/honed/honed.conf; a test's own file sets the log level.
  if (!HasArg("--config")) argv.insert(argv.end(), {"--config", "/dev/null"});
  if (!HasArg("--config") && !HasArg("--log-level"))
    argv.insert(argv.end(), {"--log-level", "debug"});
  argv.insert(argv.end(), args_.begin(), args_.end());
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    for (const std::string& kv : env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

bool Honed::Start() {
  Launch();
  return WaitFor([this] { return Hone({"ping"}).exit_code == 0; }, 20);
}

bool Honed::WaitForDeathBySigkill(double seconds) {
  int status = 0;
  bool died = WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, seconds);
  if (!died) return false;
  pid_ = -1;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

CommandResult Honed::RunHoned(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {std::string(HONE_BIN_DIR) + "/honed", "--state-dir",
                                   state_};
  if (!HasArg("--config")) argv.insert(argv.end(), {"--config", "/dev/null"});
  argv.insert(argv.end(), args_.begin(), args_.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

int Honed::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void Honed::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

CommandResult Honed::Hone(const std::vector<std::string>& args,
                          const std::string& cwd) const {
  std::vector<std::string> argv = {std::string(HONE_BIN_DIR) + "/hone", "--socket",
                                   socket_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {}, cwd);
}

nlohmann::json Honed::HoneJson(const std::vector<std::string>& args,
                               const std::string& cwd) const {
  std::vector<std::string> with_json = {"--json"};
  with_json.insert(with_json.end(), args.begin(), args.end());
  CommandResult result = Hone(with_json, cwd);
  return nlohmann::json::parse(result.out, nullptr, false);
}

std::vector<std::string> Honed::Raw(const std::string& bytes, bool half_close,
                                    double idle_s) const {
  std::vector<std::string> lines;
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return lines;
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (half_close) shutdown(fd, SHUT_WR);
  std::string buffer;
  for (;;) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(idle_s * 1000)) <= 0) break;
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  std::istringstream in(buffer);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

}  // namespace hone::test
