// Test helpers: temporary directories, running the built binaries, and a honed
// instance on a private socket and state directory.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hone::test {

// The published reference configuration of design.md, verbatim. The example in
// examples/reference/knobs.yaml must be exactly this text.
inline constexpr const char* kReferenceConfig = R"(domain:
  common:
    knobs:
      inter_op:
        options_script: seq 1 1 28
      intra_op:
        options_script: seq 10 2 56
    metrics:
      shell.my_target:
        sample_script: cat /tmp/result.txt
        aggregated: false
    include_metrics: [shell.my_target]
    plugins: []
    target: shell.my_target:max
)";

// A fresh directory under $TMPDIR, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `text` to path()/name (mode 0755 when executable) and returns the path.
  std::string Write(const std::string& name, const std::string& text,
                    bool executable = false) const;

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv to completion with extra environment variables; captures its output.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env = {},
                         const std::string& cwd = "");

std::string ReadFile(const std::string& path);

// The text of the one element with data-field="name" in an HTML page (hone report
// --format html): "<missing>" without one, "<twice>" with more than one.
std::string HtmlDataField(const std::string& html, const std::string& name);

// A honed on `dir`/honed.sock with state in `dir`/state.
class Honed {
 public:
  // `args` are extra honed flags (e.g. {"--root", tree}).
  explicit Honed(const std::string& dir, std::vector<std::string> args = {});
  ~Honed();
  // Starts honed and waits until it answers ping; false on failure.
  bool Start();
  // Starts honed with extra environment (e.g. HONE_TEST_CRASH_AT=...) without
  // waiting for it to answer.
  void Launch(const std::vector<std::string>& env = {});
  // Waits for a honed that is expected to die on its own (a crash point); returns
  // true when it died by SIGKILL within `seconds`.
  bool WaitForDeathBySigkill(double seconds);
  // Runs honed with `args` in the foreground (e.g. {"--restore"}), with this
  // instance's state directory.
  CommandResult RunHoned(const std::vector<std::string>& args) const;
  const std::string& state_dir() const { return state_; }
  // SIGTERM and wait; returns honed's exit status.
  int Stop();
  // SIGKILL and wait, as a crash would.
  void Kill();
  bool running() const { return pid_ > 0; }
  // honed's process id while it runs (for /proc/PID and prlimit in tests).
  pid_t pid() const { return pid_; }

  // Runs `hone --socket ... args...`.
  CommandResult Hone(const std::vector<std::string>& args,
                     const std::string& cwd = "") const;
  // `hone --json args...`, with stdout parsed (null when not JSON).
  nlohmann::json HoneJson(const std::vector<std::string>& args,
                          const std::string& cwd = "") const;

  // Sends raw bytes on a fresh connection and returns the reply lines it reads
  // until the connection is idle for `idle_s` or closed. With `half_close`, the
  // sending side is shut down after the bytes, as `socat` and `nc -N` do.
  std::vector<std::string> Raw(const std::string& bytes, bool half_close = false,
                               double idle_s = 1) const;

  const std::string& socket() const { return socket_; }
  const std::string& log_path() const { return log_; }

 private:
  bool HasArg(const std::string& flag) const;
  std::string dir_, socket_, state_, log_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
};

// Waits (polling every 50 ms, at most `seconds`) until `predicate` holds.
template <typename Predicate>
bool WaitFor(Predicate predicate, double seconds);

bool WaitForImpl(const std::function<bool()>& predicate, double seconds);
template <typename Predicate>
bool WaitFor(Predicate predicate, double seconds) {
  return WaitForImpl(predicate, seconds);
}

// True when a process with this pid exists (and is not a zombie of ours).
bool ProcessAlive(pid_t pid);

}  // namespace hone::test
