// The hone client's commands. Each takes the parsed options, talks to honed through
// a Connection, prints for a person (or JSON with --json), and returns the exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hone {

// Exit codes, documented in `hone --help` and docs/protocol.md.
enum ExitCode : int {
  kExitOk = 0,               // the command succeeded; for run/watch: the job completed
  kExitJobNotCompleted = 1,  // the job failed, was cancelled or interrupted
  kExitUsage = 2,            // bad command line or invalid config
  kExitUnavailable = 3,      // honed could not be reached, or the connection was lost
  kExitRefused = 4,        // honed refused the request (no such job, not permitted, ...)
  kExitInterrupted = 130,  // Ctrl-C
};

struct ClientOptions {
  std::string socket;           // honed's socket
  bool json = false;            // print JSON on stdout
  bool quiet = false;           // no progress line
  std::string format = "text";  // report: text, json, env, sh, html
  int64_t warm_start_job = 0;   // run/submit: learn from this earlier job first
  bool allow_unknown = false;   // run/submit/check: unknown config keys only warn
  std::vector<std::string> overrides;  // run/submit/check: --set KEY=VALUE
  bool plot = false;  // run/watch: a chart of the samples (live on a terminal)
};

int CmdPing(const ClientOptions& options);
int CmdVersion(const ClientOptions& options);
// Submits CONFIG with the workload COMMAND; with `follow`, watches it to the end.
int CmdSubmit(const ClientOptions& options, const std::string& config,
              const std::vector<std::string>& command, bool follow);
// What submitting CONFIG would do (the `check` command); exit 2 when honed would
// refuse it.
int CmdCheck(const ClientOptions& options, const std::string& config,
             const std::vector<std::string>& command);
int CmdList(const ClientOptions& options);
int CmdStatus(const ClientOptions& options, std::optional<int64_t> job);
int CmdWatch(const ClientOptions& options, int64_t job);
int CmdCancel(const ClientOptions& options, int64_t job);
int CmdAccept(const ClientOptions& options, int64_t job);
int CmdPush(const ClientOptions& options, int64_t job, const std::string& metric,
            double value);
// Deletes ended jobs, stopping at the first refusal.
int CmdDelete(const ClientOptions& options, const std::vector<int64_t>& jobs);
int CmdReport(const ClientOptions& options, int64_t job);
// Queues a re-check of job `job` (its trial `trial`, by default its best, against
// `against`) and follows it to its report.
int CmdRecheck(const ClientOptions& options, int64_t job, int64_t rounds,
               std::optional<int64_t> trial, int64_t against);
// A job's trial history: a table, CSV (`csv`: "trials" or "samples") or JSON.
int CmdTrials(const ClientOptions& options, int64_t job, const std::string& csv);
// Every sample of a job over time, and the best so far, as a character chart.
int CmdPlot(const ClientOptions& options, int64_t job, int width, int height);
// Two jobs side by side.
int CmdCompare(const ClientOptions& options, int64_t a, int64_t b);
int CmdKnobs(const ClientOptions& options, const std::vector<std::string>& names);
int CmdRestore(const ClientOptions& options);
int CmdApply(const ClientOptions& options, int64_t job);
// `format`: tuned, sysctl, env or json. `output`: "" for standard output; else a file
// (a directory for tuned: tuned.conf and, with script knobs, script.sh).
int CmdExport(const ClientOptions& options, int64_t job, const std::string& format,
              const std::string& output);

}  // namespace hone
