#include "client/commands.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include "client/connection.h"
#include "common/config.h"
#include "common/export.h"
#include "common/json_read.h"
#include "common/report.h"
#include "common/report_html.h"
#include "common/trials.h"

extern char** environ;

namespace hone {

using nlohmann::json;

namespace {

volatile std::sig_atomic_t g_interrupts = 0;

void OnInterrupt(int) { g_interrupts = g_interrupts + 1; }

int Fail(const Status& status) {
  std::cerr << "hone: " << status.message() << "\n";
  switch (status.code()) {
    case Status::Code::kInvalidArgument:
      return kExitUsage;
    case Status::Code::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitRefused;
  }
}

// Opens a connection and makes one call; prints the error and returns its exit code.
// Jobs asked for in one `list` request.
constexpr int kListPage = 200;

int CallOnce(const ClientOptions& options, const std::string& cmd, const json& args,
             json* result) {
  std::unique_ptr<Connection> connection;
  Status s = Connection::Open(options.socket, &connection);
  if (s.ok()) s = connection->Call(cmd, args, result);
  return s.ok() ? kExitOk : Fail(s);
}

std::string ConfigInline(const json& config) { return FormatConfigInline(config); }

std::string ProgressLine(const json& p) {
  if (p.contains("live") && p["live"].is_object()) {
    const json& live = p["live"];
    std::string line = "live, phase " + std::to_string(live.value("phase", 0));
    if (live.contains("incumbent") && live["incumbent"].is_object())
      line += ", incumbent " +
              ConfigInline(live["incumbent"].value("config", json::object()));
    if (live.contains("trial") && live["trial"].is_object())
      line += ", trying " + ConfigInline(live["trial"].value("config", json::object()));
    else if (live.value("settled", false))
      line += ", settled";
    line += ", " + std::to_string(live.value("changes", 0)) + " changes, " +
            FormatDuration(p.value("elapsed_s", 0.0));
    return line;
  }
  std::string line = std::to_string(p.value("configs_explored", 0)) + "/" +
                     std::to_string(p.value("configs_budget", 0)) + " configs (" +
                     std::to_string(p.value("configs_total", uint64_t{0})) + " total" +
                     (p.contains("configs_feasible")
                          ? ", " + std::to_string(p.value("configs_feasible", uint64_t{0})) +
                                " feasible)"
                          : ")");
  if (p.contains("best")) {
    line += ", best " + FormatValue(p["best"].value("value", 0.0));
    if (std::string gain = FormatImprovement(p); !gain.empty()) line += " (" + gain + ")";
    line += " at " + ConfigInline(p["best"].value("config", json::object()));
  }
  line += ", " + FormatDuration(p.value("elapsed_s", 0.0));
  if (p.contains("eta_s")) line += ", ETA " + FormatDuration(p["eta_s"].get<double>());
  return line;
}

// Prints the progress line on stderr: rewritten in place on a terminal, one line per
// update elsewhere (CI logs).
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO)) {}
  ~ProgressPrinter() { Clear(); }

  void Update(const std::string& line) {
    if (quiet_) return;
    if (tty_) {
      std::cerr << "\r\033[K" << line << std::flush;
      shown_ = true;
    } else {
      std::cerr << line << "\n";
    }
  }
  // A message that must stay on screen.
  void Note(const std::string& line) {
    Clear();
    std::cerr << line << "\n";
  }
  void Clear() {
    if (shown_) std::cerr << "\r\033[K" << std::flush;
    shown_ = false;
  }

 private:
  bool quiet_, tty_;
  bool shown_ = false;
};

// With --json, prints `result` as the command's one JSON object and returns true.
bool PrintedJson(const ClientOptions& options, const json& result) {
  if (!options.json) return false;
  std::cout << result.dump() << "\n";
  return true;
}

int ExitForState(const std::string& state) {
  return state == "completed" ? kExitOk : kExitJobNotCompleted;
}

// Every page of job `job`'s trial history, joined into one object.
Status FetchTrials(Connection& connection, int64_t job, json* history) {
  json page = {{"next", -1}};
  json trials = json::array();
  bool first = true;
  while (page.contains("next") && page["next"].is_number_integer()) {
    json args = {{"job", job}};
    if (!first) args["after"] = page["next"];
    Status s = connection.Call("trials", args, &page);
    if (!s.ok()) return s;
    if (!page.is_object())
      return Status::Internal("honed's reply to trials is not a JSON object");
    if (first) *history = page;
    first = false;
    if (page.contains("trials") && page["trials"].is_array())
      for (json& trial : page["trials"]) trials.push_back(std::move(trial));
  }
  (*history)["trials"] = std::move(trials);
  history->erase("next");
  return Status::OK();
}

// Whether `report` is printed with its job's trial history: as HTML, unless it is a
// live job's (which keeps epochs, not trials).
bool WantsHistory(const ClientOptions& options, const json& report) {
  return !options.json && options.format == "html" &&
         !(report.is_object() && report.value("kind", json()) == "live");
}

// `history`: the job's trial history, for --format html (else unused; may be {}).
void PrintReport(const ClientOptions& options, const json& report,
                 const json& history = json::object()) {
  if (options.json || options.format == "json") {
    std::cout << report.dump() << "\n";
  } else if (options.format == "env" || options.format == "sh") {
    std::cout << FormatReportEnv(report, options.format == "sh");
  } else if (options.format == "html") {
    std::cout << FormatReportHtml(report, history);
  } else {
    std::cout << FormatReportText(report);
  }
}

// `hone watch --plot`: the chart of `hone plot`, drawn on stderr above the progress
// line and redrawn after each sample on a terminal; elsewhere drawn once, at the end.
// The history starts as the job's stored trials and grows by its sample events, as
// `hone plot` would read it then.
class LivePlot {
 public:
  LivePlot(bool on, Connection& connection, int64_t job)
      : on_(on), tty_(isatty(STDERR_FILENO)) {
    if (!on_) return;
    if (!FetchTrials(connection, job, &history_).ok()) history_ = json::object();
    if (!history_.contains("trials") || !history_["trials"].is_array())
      history_["trials"] = json::array();
    const json& trials = history_["trials"];
    for (size_t i = 0; i < trials.size(); ++i)
      if (trials[i].is_object() && trials[i].contains("trial") &&
          trials[i]["trial"].is_number_integer())
        index_[trials[i]["trial"].get<int64_t>()] = i;
    if (tty_) Draw(nullptr);  // what is stored so far, at once
  }

  // A `sample` event: one more point, and a redraw on a terminal.
  void Add(const json& event, ProgressPrinter& progress) {
    if (!on_ || !event.value("valid", false) || !event.contains("value")) return;
    int64_t number = event.value("trial", int64_t{0});
    json& trials = history_["trials"];
    if (!index_.count(number)) {
      if (trials.size() >= kMaxTrials) return;
      index_[number] = trials.size();
      trials.push_back({{"trial", number}, {"samples", json::array()}});
    }
    json& samples = trials[index_[number]]["samples"];
    if (samples.size() >= kMaxSamplesPerTrial) return;
    samples.push_back({{"valid", true},
                       {"value", event["value"]},
                       {"taken_at", static_cast<double>(std::time(nullptr))}});
    if (tty_) Draw(&progress);
  }

  // The chart as it stands: over the last one on a terminal, else printed once.
  // `progress` (when there is one yet) is cleared first: the chart goes above it.
  void Draw(ProgressPrinter* progress) {
    if (!on_) return;
    if (progress) progress->Clear();
    std::string chart = FormatPlotText(history_, Columns() - 14, 12);
    if (tty_ && lines_ > 0) std::cerr << "\033[" << lines_ << "A\033[J";
    std::cerr << chart << std::flush;
    lines_ = static_cast<int>(std::count(chart.begin(), chart.end(), '\n'));
  }
  bool drawn() const { return lines_ > 0; }

 private:
  static constexpr size_t kMaxTrials = 100'000;
  static constexpr size_t kMaxSamplesPerTrial = 10'000;
  static int Columns() {
    struct winsize size {};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 40)
      return std::min<int>(size.ws_col, 200);
    return 80;
  }
  bool on_, tty_;
  json history_ = json::object();
  std::map<int64_t, size_t> index_;
  int lines_ = 0;
};

// Follows job `id` on `connection` until it ends, then prints its report.
int Follow(const ClientOptions& options, Connection& connection, int64_t id) {
  LivePlot plot(options.plot && !options.json, connection, id);
  int64_t watch_id = 0;
  Status s = connection.Send("watch", {{"job", id}}, &watch_id);
  ProgressPrinter progress(options.quiet || options.json);
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  bool cancel_sent = false;
  json report;
  std::string state;
  while (s.ok() && state.empty()) {
    if (g_interrupts > 0 && !cancel_sent) {
      progress.Note("hone: cancelling job " + std::to_string(id) +
                    " (Ctrl-C again to stop waiting)");
      int64_t ignored;
      s = connection.Send("cancel", {{"job", id}}, &ignored);
      cancel_sent = true;
      continue;
    }
    if (g_interrupts > 1) return kExitInterrupted;
    Message message;
    s = connection.Read(&message, -1);
    if (s.code() == Status::Code::kFailedPrecondition) {
      s = Status::OK();  // a signal: loop to act on it
      continue;
    }
    if (!s.ok()) break;
    if (message.kind == Message::Kind::kError) {
      if (message.id == watch_id || message.id == 0) return Fail(message.error);
      progress.Note("hone: " + message.error.message());
      continue;
    }
    const json& body = message.body;
    if (message.kind == Message::Kind::kResult) {
      // The watch reply: a job that has already ended carries its report.
      if (message.id == watch_id && body.contains("report")) {
        report = body["report"];
        state = body.value("state", "unknown");
      } else if (message.id == watch_id && body.value("state", "") == "queued") {
        progress.Update("job " + std::to_string(id) + ": queued behind the running job");
      }
      continue;
    }
    std::string type = body.value("type", "");
    if (type == "state") {
      progress.Update("job " + std::to_string(id) + ": " + body.value("state", "") +
                      ", measuring the baseline");
    } else if (type == "progress") {
      progress.Update("job " + std::to_string(id) + ": " + ProgressLine(body));
    } else if (type == "sample" && body.value("valid", false)) {
      plot.Add(body, progress);
    } else if (type == "sample" && !body.value("valid", true)) {
      progress.Note("hone: job " + std::to_string(id) + " trial " +
                    std::to_string(body.value("trial", 0)) + " (" +
                    ConfigInline(body.value("config", json::object())) +
                    "): invalid sample: " + body.value("error", ""));
    } else if (type == "note") {
      progress.Note("hone: job " + std::to_string(id) + ": " + body.value("message", ""));
    } else if (type == "change" && body.value("revert", false)) {
      progress.Note("hone: job " + std::to_string(id) + ": reverted to " +
                    ConfigInline(body.value("config", json::object())) + ": " +
                    body.value("reason", ""));
    } else if (type == "end") {
      report = body.value("report", json::object());
      state = body.value("state", "unknown");
    }
  }
  progress.Clear();
  // Elsewhere than on a terminal, and for a job that had ended, the chart comes once.
  if (s.ok() && options.plot && !options.json && !plot.drawn()) plot.Draw(&progress);
  if (!s.ok()) {
    std::cerr << "hone: " << s.message() << "; job " << id
              << " may have been interrupted: see `hone status " << id << "`\n";
    return kExitUnavailable;
  }
  if (report.is_object() && report.contains("message") && report["message"].is_string() &&
      !(options.json || options.format == "json"))
    std::cerr << "hone: job " << id << " " << state << ": "
              << report["message"].get<std::string>() << "\n";
  json history = json::object();
  if (WantsHistory(options, report)) {
    if (Status fetched = FetchTrials(connection, id, &history); !fetched.ok()) {
      std::cerr << "hone: job " << id
                << ": no trial history for the HTML report: " << fetched.message()
                << "\n";
      history = json::object();
    }
  }
  PrintReport(options, report, history);
  if (cancel_sent) return kExitInterrupted;
  return ExitForState(state);
}

Status ReadFile(const std::string& path, std::string* text) {
  std::ifstream in(path);
  if (!in)
    return Status::InvalidArgument("cannot read config " + path + ": " + strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  *text = buffer.str();
  return Status::OK();
}

json Environment() {
  json env = json::object();
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    size_t eq = entry.find('=');
    if (eq != std::string::npos && eq > 0)
      env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

std::string FormatTime(double unix_seconds) {
  if (unix_seconds <= 0) return "-";
  time_t t = static_cast<time_t>(unix_seconds);
  char text[32];
  strftime(text, sizeof text, "%Y-%m-%d %H:%M", localtime(&t));
  return text;
}

}  // namespace

int CmdPing(const ClientOptions& options) {
  json result;
  int code = CallOnce(options, "ping", json::object(), &result);
  if (code != kExitOk) return code;
  if (!PrintedJson(options, result))
    std::cout << "honed is alive at " << options.socket << "\n";
  return kExitOk;
}

int CmdVersion(const ClientOptions& options) {
  json result;
  int code = CallOnce(options, "version", json::object(), &result);
  if (code != kExitOk) return code;
  result["client"] = HONE_VERSION;
  if (!PrintedJson(options, result))
    std::cout << "hone " << HONE_VERSION << ", honed " << result.value("version", "?")
              << " (protocol " << result.value("protocol", 0) << ")\n";
  return kExitOk;
}

namespace {

// Reads and parses `config` (a broken file fails fast, even without honed) and
// builds the `submit` (or `check`) args. `strict`: unknown keys fail here too, as
// honed would refuse them. Returns an exit code; kExitOk with *args set.
int SubmitArgs(const ClientOptions& options, const std::string& config,
               const std::vector<std::string>& command, bool strict, JobSpec* spec,
               json* args) {
  std::string text;
  Status s = ReadFile(config, &text);
  if (s.ok()) s = ParseConfig(text, config, spec);
  if (s.ok()) s = ApplyOverrides(options.overrides, spec);
  if (s.ok() && strict && !options.allow_unknown) s = UnknownKeysError(*spec);
  if (s.ok() && strict) s = CompleteSpec(command, spec);
  if (!s.ok()) {
    std::cerr << "hone: " << s.message() << "\n";
    return kExitUsage;
  }
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd))
    return Fail(Status::IOError("cannot read the working directory"));
  *args = {{"config_text", text},
           {"config_path", config},
           {"command", command},
           {"cwd", cwd},
           {"env", Environment()}};
  if (options.warm_start_job) (*args)["warm_start_job"] = options.warm_start_job;
  if (options.allow_unknown) (*args)["allow_unknown"] = true;
  if (!options.overrides.empty()) (*args)["overrides"] = options.overrides;
  return kExitOk;
}

}  // namespace

int CmdSubmit(const ClientOptions& options, const std::string& config,
              const std::vector<std::string>& command, bool follow) {
  JobSpec spec;
  json args;
  if (int code = SubmitArgs(options, config, command, true, &spec, &args);
      code != kExitOk)
    return code;
  for (const std::string& warning : spec.warnings)
    std::cerr << "hone: warning: " << warning << "\n";
  Status s;
  std::unique_ptr<Connection> connection;
  s = Connection::Open(options.socket, &connection);
  json result;
  if (s.ok()) s = connection->Call("submit", args, &result);
  if (!s.ok()) return Fail(s);
  int64_t id = result.value("job", int64_t{0});
  // honed's own warnings (what it resolved: imports it skipped) beyond the client's.
  for (const json& w : result.value("warnings", json::array()))
    if (std::find(spec.warnings.begin(), spec.warnings.end(), w.get<std::string>()) ==
        spec.warnings.end())
      std::cerr << "hone: warning: " << w.get<std::string>() << "\n";
  if (!follow) {
    if (!PrintedJson(options, result)) std::cout << id << "\n";
    return kExitOk;
  }
  if (!options.quiet && !options.json)
    std::cerr << "hone: job " << id << " submitted; Ctrl-C cancels it\n";
  return Follow(options, *connection, id);
}

namespace {

// `hone check`'s reply as a person reads it.
std::string FormatCheck(const json& r) {
  using namespace json_read;
  std::string out = "Config: " + Text(r, "config_path") + "\n";
  std::string sets;
  for (const json& set : Field(r, "overrides", json::array()))
    if (set.is_string()) sets += (sets.empty() ? "" : " ") + set.get<std::string>();
  if (!sets.empty()) out += "Overrides (--set): " + sets + "\n";
  json target = Field(r, "target");
  out +=
      "Target: " + Text(target, "metric", "?") + " (" + Text(target, "goal", "?") + ")\n";
  json workload = Field(r, "workload");
  std::string command;
  for (const json& arg : Field(workload, "command", json::array()))
    if (arg.is_string()) command += (command.empty() ? "" : " ") + arg.get<std::string>();
  if (command.empty()) command = Text(workload, "shell", "-");
  out += "Workload: " + Text(workload, "kind", "sync") + ", `" + command + "`, timeout " +
         FormatDuration(Real(workload, "timeout_s")) + "\n";
  json knobs = Field(r, "knobs", json::array());
  out += "\nKnobs (" + std::to_string(knobs.is_array() ? knobs.size() : 0) + "):\n";
  if (knobs.is_array())
    for (const json& k : knobs) {
      std::string values;
      json list = Field(k, "values");
      if (list.is_array()) {
        for (size_t i = 0; i < list.size() && i < 8; ++i)
          values += (i ? " " : "") + ValueToString(list[i]);
        if (Int(k, "count") > 8)
          values += " ... (" + std::to_string(Int(k, "count")) + " values)";
      } else {
        values = "from " + Text(k, "source");
      }
      json def = Field(k, "default");
      out += "  " + Text(k, "name") + ": " + Text(k, "kind") +
             (Field(k, "type").is_string() ? ", " + Text(k, "type") : "") + "\n";
      out += "    values:  " + values + "\n";
      out += "    default: " +
             (def.is_string() ? def.get<std::string>() : ValueToString(def)) + "\n";
      if (!Text(k, "description").empty()) out += "    " + Text(k, "description") + "\n";
    }
  json space = Field(r, "space");
  out += "\nSpace: ";
  if (Field(space, "size").is_number()) {
    out += std::to_string(Size(space, "size")) + " configurations";
    if (Int(space, "constraints") > 0) {
      if (Field(space, "feasible").is_number())
        out += ", " + std::to_string(Size(space, "feasible")) + " feasible (" +
               FormatValue(Real(space, "feasible_pct")) + "%) under " +
               std::to_string(Int(space, "constraints")) + " constraint(s)";
      else
        out += ", too many to count the feasible ones";
    }
  } else {
    out += "known at start (an options_script lists values)";
  }
  out += "\n";
  json budget = Field(r, "budget");
  out += "Budget: up to " + std::to_string(Int(budget, "configs_budget")) +
         " configurations (max_configs " + std::to_string(Int(budget, "max_configs")) +
         ")";
  if (Int(budget, "max_samples") > 0)
    out += ", " + std::to_string(Int(budget, "max_samples")) + " samples";
  if (Real(budget, "max_minutes") > 0)
    out += ", " + FormatValue(Real(budget, "max_minutes")) + " minutes";
  out += "; strategy " + Text(budget, "strategy", "?") + ", seed " +
         std::to_string(Int(budget, "seed")) + "; baseline " +
         std::to_string(Int(budget, "min_baseline_samples")) + " sample(s), each other " +
         std::to_string(Int(budget, "min_samples_per_config")) + "\n";
  json privileges = Field(r, "privileges");
  out += "Needs: " + Text(privileges, "needs") + "; you " +
         (Flag(privileges, "you_may") ? "may" : "may NOT") + " submit it\n";
  for (const json& w : Field(r, "warnings", json::array()))
    if (w.is_string()) out += "warning: " + w.get<std::string>() + "\n";
  json errors = Field(r, "errors", json::array());
  for (const json& e : errors)
    if (e.is_string()) out += "error: " + e.get<std::string>() + "\n";
  out += Flag(r, "ok") ? "\nOK: honed would take this job (nothing was run)\n"
                       : "\nNot OK: honed would refuse this job (nothing was run)\n";
  return out;
}

}  // namespace

int CmdCheck(const ClientOptions& options, const std::string& config,
             const std::vector<std::string>& command) {
  JobSpec spec;
  json args;
  if (int code = SubmitArgs(options, config, command, false, &spec, &args);
      code != kExitOk)
    return code;
  json result;
  int code = CallOnce(options, "check", args, &result);
  if (code != kExitOk) return code;
  if (!PrintedJson(options, result)) std::cout << FormatCheck(result);
  return result.value("ok", false) ? kExitOk : kExitUsage;
}

int CmdList(const ClientOptions& options) {
  // honed answers a page at a time; all of them, on one connection.
  std::unique_ptr<Connection> connection;
  Status s = Connection::Open(options.socket, &connection);
  if (!s.ok()) return Fail(s);
  json jobs = json::array();
  json page = {{"next", 0}};
  while (page["next"].is_number_integer()) {
    s = connection->Call("list", {{"after", page["next"]}, {"limit", kListPage}}, &page);
    if (!s.ok()) return Fail(s);
    for (json& job : page["jobs"]) jobs.push_back(std::move(job));
  }
  json result = {{"jobs", jobs}};
  if (PrintedJson(options, result)) return kExitOk;
  if (jobs.empty()) {
    std::cout << "no jobs\n";
    return kExitOk;
  }
  printf("%-5s %-12s %-16s %-9s %-22s %s\n", "JOB", "STATE", "SUBMITTED", "CONFIGS",
         "IMPROVED (95% CI)", "CONFIG");
  for (const json& job : jobs) {
    json progress = job.value("progress", json::object());
    int64_t explored =
        job.value("configs_explored", progress.value("configs_explored", 0));
    // An ended job's improvement from its report, a running one's so far; an
    // improvement whose interval reaches zero, or whose baseline is tied with the
    // best, is "not established", never a bare percentage.
    std::string improved =
        FormatImprovement(job.contains("improvement_pct") ? job : progress);
    if (improved.starts_with("not established")) improved = "not established";
    printf("%-5lld %-12s %-16s %-9lld %-22s %s\n",
           static_cast<long long>(job.value("job", 0)), job.value("state", "").c_str(),
           FormatTime(job.value("submitted_at", 0.0)).c_str(),
           static_cast<long long>(explored), improved.empty() ? "-" : improved.c_str(),
           job.value("config_path", "").c_str());
  }
  return kExitOk;
}

int CmdStatus(const ClientOptions& options, std::optional<int64_t> job) {
  if (!job) {
    json list;
    int code = CallOnce(options, "list", {{"newest_first", true}, {"limit", 1}}, &list);
    if (code != kExitOk) return code;
    if (list["jobs"].empty()) {
      std::cerr << "hone: no jobs yet\n";
      return kExitRefused;
    }
    job = list["jobs"].front().value("job", int64_t{0});
  }
  json result;
  int code = CallOnce(options, "status", {{"job", *job}}, &result);
  if (code != kExitOk) return code;
  if (PrintedJson(options, result)) return kExitOk;
  std::string state = result.value("state", "");
  std::cout << "Job " << *job << ": " << state;
  if (result.contains("phase"))
    std::cout << " (" << result["phase"].get<std::string>() << ")";
  std::cout << "\n";
  std::cout << "Config: " << result.value("config_path", "") << "\n";
  std::string command;
  for (const json& arg : result.value("command", json::array()))
    command += (command.empty() ? "" : " ") + arg.get<std::string>();
  if (!command.empty()) std::cout << "Command: " << command << "\n";
  std::cout << "Submitted: " << FormatTime(result.value("submitted_at", 0.0)) << "\n";
  if (result.contains("progress")) {
    const json& progress = result["progress"];
    if (progress.contains("live")) {
      json live = progress["live"];
      if (live.is_object()) live["job"] = *job;
      std::cout << FormatLiveText(live);
      std::cout << "Running for: " << FormatDuration(progress.value("elapsed_s", 0.0))
                << "\n";
    } else {
      std::cout << "Progress: " << ProgressLine(progress) << "\n";
    }
  }
  if (result.contains("best") && result["best"].is_object()) {
    std::cout << "Best: " << FormatValue(result["best"].value("value", 0.0));
    if (std::string gain = FormatImprovement(result); !gain.empty())
      std::cout << " (" << gain << ")";
    std::cout << " at " << ConfigInline(result["best"].value("config", json::object()))
              << "\n";
  }
  if (result.contains("configs_explored"))
    std::cout << "Configurations explored/total: " << FormatExplored(result) << "\n";
  if (result.contains("stop_reason"))
    std::cout << "Stopped because: " << result["stop_reason"].get<std::string>() << "\n";
  if (result.contains("message"))
    std::cout << "Message: " << result["message"].get<std::string>() << "\n";
  for (const json& note : result.value("notes", json::array()))
    std::cout << "Note: " << note.get<std::string>() << "\n";
  for (const json& w : result.value("warnings", json::array()))
    std::cout << "Warning: " << w.get<std::string>() << "\n";
  return kExitOk;
}

int CmdRecheck(const ClientOptions& options, int64_t job, int64_t rounds,
               std::optional<int64_t> trial, int64_t against) {
  json args = {{"job", job}, {"rounds", rounds}, {"against", against}};
  if (trial) args["trial"] = *trial;
  std::unique_ptr<Connection> connection;
  Status s = Connection::Open(options.socket, &connection);
  json result;
  if (s.ok()) s = connection->Call("recheck", args, &result);
  if (!s.ok()) return Fail(s);
  int64_t id = result.value("job", int64_t{0});
  if (!options.quiet && !options.json)
    std::cerr << "hone: job " << id << " re-checks job " << job << " (" << rounds
              << " rounds); Ctrl-C cancels it\n";
  return Follow(options, *connection, id);
}

int CmdWatch(const ClientOptions& options, int64_t job) {
  std::unique_ptr<Connection> connection;
  Status s = Connection::Open(options.socket, &connection);
  if (!s.ok()) return Fail(s);
  return Follow(options, *connection, job);
}

int CmdCancel(const ClientOptions& options, int64_t job) {
  json result;
  int code = CallOnce(options, "cancel", {{"job", job}}, &result);
  if (code != kExitOk) return code;
  if (!PrintedJson(options, result))
    std::cout << "job " << job << ": cancel requested (" << result.value("state", "")
              << ")\n";
  return kExitOk;
}

int CmdAccept(const ClientOptions& options, int64_t job) {
  json result;
  int code = CallOnce(options, "accept", {{"job", job}}, &result);
  if (code != kExitOk) return code;
  if (!PrintedJson(options, result))
    std::cout << "job " << job << ": trying "
              << ConfigInline(result.value("accepted", json::object()))
              << " (the guard reverts it if it hurts; hone status " << job
              << " shows how it fares)\n";
  return kExitOk;
}

int CmdPush(const ClientOptions& options, int64_t job, const std::string& metric,
            double value) {
  json result;
  int code = CallOnce(options, "push",
                      {{"job", job}, {"metric", metric}, {"value", value}}, &result);
  if (code != kExitOk) return code;
  PrintedJson(options, result);
  return kExitOk;
}

int CmdDelete(const ClientOptions& options, const std::vector<int64_t>& jobs) {
  json deleted = json::array();
  for (int64_t job : jobs) {
    json result;
    int code = CallOnce(options, "delete", {{"job", job}}, &result);
    if (code != kExitOk) return code;
    deleted.push_back(job);
    if (!options.json) std::cout << "job " << job << ": deleted\n";
  }
  if (options.json) std::cout << json({{"deleted", deleted}}).dump() << "\n";
  return kExitOk;
}

namespace {

// Prints job `job`'s whole trial history as `format` writes it (--json: as is).
int PrintHistory(const ClientOptions& options, int64_t job,
                 const std::function<std::string(const json&)>& format) {
  std::unique_ptr<Connection> connection;
  Status s = Connection::Open(options.socket, &connection);
  json history;
  if (s.ok()) s = FetchTrials(*connection, job, &history);
  if (!s.ok()) return Fail(s);
  if (!PrintedJson(options, history)) std::cout << format(history);
  return kExitOk;
}

}  // namespace

int CmdTrials(const ClientOptions& options, int64_t job, const std::string& csv) {
  return PrintHistory(options, job, [&](const json& history) {
    return csv.empty() ? FormatTrialsText(history)
                       : FormatTrialsCsv(history, csv == "samples");
  });
}

int CmdPlot(const ClientOptions& options, int64_t job, int width, int height) {
  return PrintHistory(options, job, [&](const json& history) {
    return FormatPlotText(history, width, height);
  });
}

int CmdCompare(const ClientOptions& options, int64_t a, int64_t b) {
  std::unique_ptr<Connection> connection;
  Status s = Connection::Open(options.socket, &connection);
  json jobs[2];
  int64_t ids[2] = {a, b};
  for (int i = 0; i < 2 && s.ok(); ++i) {
    json report, history;
    s = connection->Call("report", {{"job", ids[i]}}, &report);
    // A live job keeps no trials: compared by its report alone.
    if (s.ok() && report.value("kind", "") != "live")
      s = FetchTrials(*connection, ids[i], &history);
    jobs[i] = {{"report", report}, {"trials", history}};
  }
  if (!s.ok()) return Fail(s);
  json both = json::object();
  both["jobs"] = json::array({jobs[0], jobs[1]});
  if (PrintedJson(options, both)) return kExitOk;
  std::cout << FormatCompareText(jobs[0], jobs[1]);
  return kExitOk;
}

int CmdReport(const ClientOptions& options, int64_t job) {
  std::unique_ptr<Connection> connection;
  Status s = Connection::Open(options.socket, &connection);
  json result, history = json::object();
  if (s.ok()) s = connection->Call("report", {{"job", job}}, &result);
  if (s.ok() && WantsHistory(options, result)) {
    s = FetchTrials(*connection, job, &history);
    // A live job that has not started yet says so only here: no history to draw.
    if (s.code() == Status::Code::kFailedPrecondition) {
      s = Status::OK();
      history = json::object();
    }
  }
  if (!s.ok()) return Fail(s);
  if ((options.format == "env" || options.format == "sh") &&
      (!result.contains("best") || result["best"].is_null())) {
    std::cerr << "hone: job " << job << " has no best configuration yet\n";
    return kExitRefused;
  }
  PrintReport(options, result, history);
  return kExitOk;
}

namespace {

// Whether `name` is picked by `filter`: the knob itself, or a group of them by the
// dotted prefix ("vm" or "vm." picks vm.swappiness and vm.dirty_ratio).
bool KnobMatches(const std::string& name, std::string filter) {
  if (name == filter) return true;
  if (!filter.empty() && filter.back() != '.') filter += '.';
  return name.starts_with(filter);
}

// One knob in full: everything `hone knobs` knows about it, one field per line.
void PrintKnobDetail(const json& knob) {
  bool available = knob.value("available", false);
  printf("%s\n", knob.value("name", "").c_str());
  auto field = [](const char* label, const std::string& value) {
    if (!value.empty()) printf("  %-12s %s\n", label, value.c_str());
  };
  field("description", knob.value("description", ""));
  field("backend", knob.value("backend", ""));
  field("location", knob.value("location", ""));
  field("risk", knob.value("risk", ""));
  field("available", available ? "yes" : "no: " + knob.value("reason", ""));
  if (knob.contains("instances") && knob["instances"].is_number_integer())
    field("instances", knob["instances"].dump());
  field("value", knob.value("value", ""));
  field("read error", knob.value("read_error", ""));
  std::string domain;
  for (const json& v : knob.value("domain", json::array()))
    domain += (domain.empty() ? "" : " ") + ValueToString(v);
  field("domain", domain);
}

}  // namespace

int CmdKnobs(const ClientOptions& options, const std::vector<std::string>& names) {
  json result;
  int code = CallOnce(options, "knobs", json::object(), &result);
  if (code != kExitOk) return code;
  json all = result.value("knobs", json::array());
  json knobs = json::array();
  std::vector<std::string> unknown;
  bool exact_only = !names.empty();
  for (const std::string& filter : names) {
    bool found = false;
    for (const json& knob : all) {
      std::string name = knob.is_object() ? knob.value("name", "") : "";
      if (!KnobMatches(name, filter)) continue;
      found = true;
      exact_only = exact_only && name == filter;
      bool listed = false;
      for (const json& k : knobs) listed = listed || k.value("name", "") == name;
      if (!listed) knobs.push_back(knob);
    }
    if (!found) unknown.push_back(filter);
  }
  if (names.empty()) knobs = all;
  if (!unknown.empty()) {
    std::string list;
    for (const std::string& u : unknown) list += (list.empty() ? "'" : ", '") + u + "'";
    fprintf(stderr,
            "hone: no built-in knob or group named %s; `hone knobs` lists them all "
            "(a group is a name's first part: vm, sched, prefetch, uncore)\n",
            list.c_str());
    return kExitRefused;
  }
  result["knobs"] = knobs;
  if (PrintedJson(options, result)) return kExitOk;
  if (exact_only) {
    for (size_t i = 0; i < knobs.size(); ++i) {
      if (i) printf("\n");
      PrintKnobDetail(knobs[i]);
    }
    return kExitOk;
  }
  printf("%-36s %-8s %-10s %-14s %s\n", "KNOB", "BACKEND", "AVAILABLE", "VALUE",
         "DOMAIN / WHY NOT");
  for (const json& knob : knobs) {
    bool available = knob.value("available", false);
    std::string detail;
    if (available) {
      const json domain = knob.value("domain", json::array());
      for (size_t i = 0; i < domain.size() && i < 6; ++i)
        detail += (i ? " " : "") + ValueToString(domain[i]);
      if (domain.size() > 6)
        detail += " ... " + ValueToString(domain.back()) + " (" +
                  std::to_string(domain.size()) + " values)";
    } else {
      detail = knob.value("reason", "");
    }
    printf("%-36s %-8s %-10s %-14s %s\n", knob.value("name", "").c_str(),
           knob.value("backend", "").c_str(), available ? "yes" : "no",
           knob.value("value", available ? "?" : "-").c_str(), detail.c_str());
  }
  return kExitOk;
}

int CmdRestore(const ClientOptions& options) {
  json result;
  int code = CallOnce(options, "restore", json::object(), &result);
  if (code != kExitOk) return code;
  if (PrintedJson(options, result)) return kExitOk;
  const json restored = result.value("restored", json::array());
  if (restored.empty()) std::cout << "nothing to restore: honed holds no changed knob\n";
  for (const json& line : restored) std::cout << line.get<std::string>() << "\n";
  return kExitOk;
}

int CmdApply(const ClientOptions& options, int64_t job) {
  json result;
  int code = CallOnce(options, "apply", {{"job", job}}, &result);
  if (code != kExitOk) return code;
  if (PrintedJson(options, result)) return kExitOk;
  for (const json& line : result.value("applied", json::array()))
    std::cout << line.get<std::string>() << "\n";
  std::cout << "kept: re-applied at every honed start until `hone restore`\n";
  return kExitOk;
}

namespace {

// Writes `text` to `path` (mode 0644, or 0755 when `executable`) through a temporary
// file renamed into place, so that a reader never sees half of it.
bool WriteFileAtomically(const std::string& path, const std::string& text,
                         bool executable) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::cerr << "hone: cannot write " << temporary << "\n";
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::permissions(
      temporary, executable ? std::filesystem::perms(0755) : std::filesystem::perms(0644),
      ec);
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::cerr << "hone: cannot write " << path << ": " << ec.message() << "\n";
    std::filesystem::remove(temporary, ec);
    return false;
  }
  return true;
}

}  // namespace

int CmdExport(const ClientOptions& options, int64_t job, const std::string& format,
              const std::string& output) {
  json result;
  int code = CallOnce(options, "export", {{"job", job}}, &result);
  if (code != kExitOk) return code;
  std::string text, script;
  if (format == "json" || options.json)
    text = result.dump(2) + "\n";
  else if (format == "sysctl")
    text = FormatExportSysctl(result);
  else if (format == "env")
    text = FormatExportEnv(result);
  else
    text = FormatExportTuned(result, &script);
  if (result.contains("note") && result["note"].is_string())
    std::cerr << "hone: " << result["note"].get<std::string>() << "\n";
  if (output.empty()) {
    std::cout << text;
    if (!script.empty())
      std::cerr << "hone: the profile's [script] runs script.sh, which standard output "
                   "cannot hold: use --output DIR to write both\n";
    return kExitOk;
  }
  if (format == "tuned" && !options.json) {
    std::error_code ec;
    std::filesystem::create_directories(output, ec);
    if (ec) {
      std::cerr << "hone: cannot make " << output << ": " << ec.message() << "\n";
      return kExitUsage;
    }
    if (!WriteFileAtomically(output + "/tuned.conf", text, false)) return kExitUsage;
    if (!script.empty() && !WriteFileAtomically(output + "/script.sh", script, true))
      return kExitUsage;
    std::cerr << "hone: wrote " << output << "/tuned.conf"
              << (script.empty() ? "" : " and script.sh") << "\n";
    return kExitOk;
  }
  if (!WriteFileAtomically(output, text, false)) return kExitUsage;
  std::cerr << "hone: wrote " << output << "\n";
  return kExitOk;
}

}  // namespace hone
