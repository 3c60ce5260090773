// hone: the command-line client of honed. Parses the command line (CLI11) and calls
// the matching command in commands.cc.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client/commands.h"
#include "client/connection.h"
#include "common/protocol.h"

namespace {

constexpr const char* kDescription =
    "hone - submit performance tuning jobs to honed and use their results.\n\n"
    "hone asks honed, the tuning daemon, to find the knob settings that make a\n"
    "workload fastest. A config file (the knobs.yaml dialect) lists the knobs and\n"
    "their values, the metric and whether to maximise or minimise it; honed runs the\n"
    "workload once per sample with the knobs in its environment ($knob and\n"
    "$HONE_KNOB_<KNOB>), as you, in your working directory.\n\n"
    "Examples:\n"
    "  hone run knobs.yaml -- ./workload.sh      tune and print the report\n"
    "  hone run --json knobs.yaml -- ./bench     the report as one JSON object\n"
    "  hone submit knobs.yaml -- ./bench         queue a job, print its number\n"
    "  hone status 3; hone watch 3; hone cancel 3\n"
    "  eval \"$(hone report 3 --format sh)\"       use the best settings\n";

constexpr const char* kFooter =
    "Exit status: 0 success (run/watch: the job completed); 1 the job failed, was\n"
    "cancelled or interrupted; 2 bad command line or invalid config; 3 honed\n"
    "unreachable or the connection was lost; 4 honed refused the request (no such\n"
    "job, not permitted); 130 interrupted by Ctrl-C (the job is cancelled).\n\n"
    "Environment: HONE_SOCKET, the socket when --socket is not given.\n"
    "See docs/ in the source tree for the config format and the protocol.";

// What a report says (run, watch, report).
constexpr const char* kReportFooter =
    "The report gives the best known knob settings: among the configurations\n"
    "measured confirm_samples times, the one with the best mean (or, among those\n"
    "statistically tied with it, one that a model of all the samples rates clearly\n"
    "better where it predicts them from their neighbours), never a single lucky\n"
    "sample. Then the baseline's and the best's values with their sample counts,\n"
    "which rule chose the best (the best mean, or the model and over which trial),\n"
    "the improvement with its 95% confidence interval, the configurations\n"
    "statistically tied with the best (within two standard errors; as far as the\n"
    "samples show, any of them serves as well) and the knobs in which they differ,\n"
    "the noise of one sample, how much each knob mattered,\n"
    "configurations explored (and how many are feasible, with constraints), samples\n"
    "taken (invalid, stopped early, in the final race), the time, and why the job\n"
    "stopped. --format json gives all of it as one object (docs/protocol.md); env\n"
    "and sh give only the best settings, each knob as NAME=value and\n"
    "HONE_KNOB_NAME=value (sh: exported and quoted, for eval); html gives one\n"
    "self-contained HTML page (no script, nothing fetched) with the interval drawn\n"
    "against zero and every valid sample charted with the best mean so far.\n\n";

// ---- hone __complete WORD... (the shell completion scripts' helper) -------------

// The values an option takes, by subcommand; empty: any (the shell completes files).
std::vector<std::string> OptionValues(const std::string& sub, const std::string& option) {
  if (option == "--format" && sub == "export") return {"tuned", "sysctl", "env", "json"};
  if (option == "--format") return {"text", "json", "env", "sh", "html"};
  return {};
}

// honed's answer to `cmd`; an empty object when it does not answer within a second
// (completion must never hang the shell).
nlohmann::json AskQuickly(const hone::ClientOptions& options, const std::string& cmd,
                          const nlohmann::json& args) {
  std::unique_ptr<hone::Connection> connection;
  if (!hone::Connection::Open(options.socket, &connection).ok()) return {};
  int64_t id = 0;
  if (!connection->Send(cmd, args, &id).ok()) return {};
  hone::Message message;
  while (connection->Read(&message, 1000).ok()) {
    if (message.id != id) continue;
    if (message.kind == hone::Message::Kind::kResult && message.body.is_object())
      return message.body;
    break;
  }
  return {};
}

// The entries of `list` in honed's answer that are objects, each's `key` as text.
std::vector<std::string> Field(const nlohmann::json& answer, const char* list,
                               const char* key) {
  std::vector<std::string> values;
  if (!answer.is_object() || !answer.contains(list) || !answer[list].is_array())
    return values;
  for (const nlohmann::json& entry : answer[list]) {
    if (!entry.is_object() || !entry.contains(key)) continue;
    if (entry[key].is_number_integer())
      values.push_back(std::to_string(entry[key].get<int64_t>()));
    else if (entry[key].is_string())
      values.push_back(entry[key].get<std::string>());
  }
  return values;
}

// Job numbers from honed, newest first.
std::vector<std::string> JobNumbers(const hone::ClientOptions& options) {
  return Field(AskQuickly(options, "list", {{"newest_first", true}, {"limit", 200}}),
               "jobs", "job");
}

// The built-in knobs' names and their groups (vm., prefetch.), from honed.
std::vector<std::string> KnobNames(const hone::ClientOptions& options) {
  std::vector<std::string> names =
      Field(AskQuickly(options, "knobs", nlohmann::json::object()), "knobs", "name");
  size_t count = names.size();
  for (size_t i = 0; i < count; ++i)
    if (size_t dot = names[i].find('.'); dot != std::string::npos)
      names.push_back(names[i].substr(0, dot + 1));
  return names;
}

// Prints the candidates for the last of `words` (the word being completed, maybe
// empty), one per line: subcommands, the options of the subcommand so far, an
// option's values, job numbers, or knob names. Nothing: the shell completes file
// names.
int Complete(CLI::App& app, hone::ClientOptions& options,
             const std::vector<std::string>& words) {
  if (words.empty()) return 0;
  CLI::App* current = &app;
  auto takes_value = [](CLI::App* sub, const std::string& word) {
    for (const CLI::App* scope : {sub, sub->get_parent()}) {
      if (!scope) continue;
      for (const CLI::Option* opt : scope->get_options())
        if (opt->check_name(word)) return opt->get_type_size() != 0;
    }
    return false;
  };
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "--socket" && i + 2 < words.size()) options.socket = words[i + 1];
    if (!word.empty() && word[0] == '-') {
      if (word.find('=') == std::string::npos && takes_value(current, word)) ++i;
      continue;
    }
    if (current == &app)
      for (CLI::App* sub : app.get_subcommands({}))
        if (sub->get_name() == word && !sub->get_group().empty()) current = sub;
  }
  const std::string& partial = words.back();
  const std::string previous = words.size() >= 2 ? words[words.size() - 2] : "";
  std::vector<std::string> candidates;
  if (!previous.empty() && previous[0] == '-' && takes_value(current, previous)) {
    candidates = OptionValues(current->get_name(), previous);
    if (previous == "--warm-start") candidates = JobNumbers(options);
  } else if (!partial.empty() && partial[0] == '-') {
    for (const CLI::App* scope : {current, current == &app ? nullptr : &app}) {
      if (!scope) continue;
      for (const CLI::Option* opt : scope->get_options()) {
        for (const std::string& name : opt->get_lnames())
          candidates.push_back("--" + name);
        for (const std::string& name : opt->get_snames())
          candidates.push_back("-" + name);
      }
    }
  } else if (current == &app) {
    for (CLI::App* sub : app.get_subcommands({}))
      if (!sub->get_group().empty()) candidates.push_back(sub->get_name());
  } else {
    // A subcommand's positional: a job number, where it takes one that is not given.
    bool has_job = false;
    for (const CLI::Option* opt : current->get_options())
      has_job = has_job || opt->get_name() == "job";
    size_t given = 0;
    for (size_t i = 0; i + 1 < words.size(); ++i)
      if (words[i] == current->get_name()) given = words.size() - 2 - i;
    std::string name = current->get_name();
    size_t most = name == "delete" || name == "push" ? SIZE_MAX
                  : name == "compare"                ? 2
                                                     : 1;
    if (has_job && given < most) candidates = JobNumbers(options);
    if (name == "knobs") candidates = KnobNames(options);
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  for (const std::string& c : candidates)
    if (c.compare(0, partial.size(), partial) == 0) std::printf("%s\n", c.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  hone::ClientOptions options;
  options.socket = hone::DefaultSocketPath();
  CLI::App app{kDescription, "hone"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string("hone ") + HONE_VERSION);
  app.add_option("--socket", options.socket, "honed's socket ($HONE_SOCKET)")
      ->capture_default_str();
  app.add_flag("--json", options.json, "print JSON on stdout (one object per command)");

  std::string config;
  std::vector<std::string> command;
  int64_t job = 0;
  std::optional<int64_t> maybe_job;
  int exit_code = hone::kExitOk;

  auto add_job_arg = [&](CLI::App* sub, bool required) {
    auto* opt = sub->add_option("job", job, "job number")->check(CLI::PositiveNumber);
    if (required) opt->required();
  };
  auto add_allow_unknown = [&](CLI::App* sub) {
    sub->add_option("--set", options.overrides,
                    "KEY=VALUE: override a global_settings key or the strategy for this "
                    "job (--set max_configs=40 --set seed=7); checked as the file's "
                    "own, and shown in the report")
        ->allow_extra_args(false);
    sub->add_flag("--allow-unknown", options.allow_unknown,
                  "run with unknown config keys ignored (each still a warning); "
                  "without it they are errors, since a typo or a misplaced key would "
                  "silently change the job");
  };
  auto add_config_args = [&](CLI::App* sub) {
    sub->add_option("config", config, "the config file (knobs.yaml)")->required();
    sub->add_option(
        "command", command,
        "the workload, after `--`; overrides the config's workload.run.command");
    sub->add_option("--warm-start", options.warm_start_job,
                    "start from an earlier job's measurements (same knobs): the search "
                    "learns from them and measures that job's best configurations again "
                    "first; the recommendation rests on this job's own samples")
        ->check(CLI::PositiveNumber);
    add_allow_unknown(sub);
  };

  CLI::App* run = app.add_subcommand(
      "run",
      "submit a job and follow it to the end, with a progress line on stderr; then "
      "print the report");
  add_config_args(run);
  run->add_flag("-q,--quiet", options.quiet, "no progress line");
  run->add_flag(
      "--plot", options.plot,
      "a chart of every sample and of the best mean so far (as hone plot), "
      "on stderr: redrawn after each sample on a terminal, else once at the end");
  run->add_option("--format", options.format,
                  "report format: text, json, env, sh or html (a self-contained page "
                  "with charts)")
      ->check(CLI::IsMember({"text", "json", "env", "sh", "html"}));
  run->footer(std::string(kReportFooter) + kFooter);
  run->callback([&] { exit_code = hone::CmdSubmit(options, config, command, true); });

  CLI::App* submit = app.add_subcommand("submit", "queue a job and print its number");
  add_config_args(submit);
  submit->callback([&] { exit_code = hone::CmdSubmit(options, config, command, false); });

  CLI::App* check = app.add_subcommand(
      "check",
      "check a config without running anything: its knobs (type, values, default), "
      "the space's size and feasible share, the budget, the privileges it needs, "
      "warnings and errors; exit 2 when honed would refuse it");
  check->add_option("config", config, "the config file (knobs.yaml)")->required();
  check->add_option(
      "command", command,
      "the workload, after `--`; overrides the config's workload.run.command");
  add_allow_unknown(check);
  check->callback([&] { exit_code = hone::CmdCheck(options, config, command); });

  app.add_subcommand("list", "list jobs with their state and result")->callback([&] {
    exit_code = hone::CmdList(options);
  });

  CLI::App* status = app.add_subcommand(
      "status", "show a job's state and progress (default: the latest job)");
  add_job_arg(status, false);
  status->callback([&] {
    if (status->count("job")) maybe_job = job;
    exit_code = hone::CmdStatus(options, maybe_job);
  });

  CLI::App* watch =
      app.add_subcommand("watch", "follow a job until it ends, then print its report");
  add_job_arg(watch, true);
  watch->add_flag("-q,--quiet", options.quiet, "no progress line");
  watch->add_flag(
      "--plot", options.plot,
      "a chart of every sample and of the best mean so far (as hone plot), "
      "on stderr: redrawn after each sample on a terminal, else once at the end");
  watch->footer(std::string(kReportFooter) + kFooter);
  watch->callback([&] { exit_code = hone::CmdWatch(options, job); });

  CLI::App* cancel = app.add_subcommand("cancel", "cancel a queued or running job");
  add_job_arg(cancel, true);
  cancel->callback([&] { exit_code = hone::CmdCancel(options, job); });

  CLI::App* accept = app.add_subcommand(
      "accept",
      "let a live job in mode recommend try the step it proposes (hone status shows the "
      "proposal); the guard still reverts it if it hurts");
  add_job_arg(accept, true);
  accept->callback([&] { exit_code = hone::CmdAccept(options, job); });

  std::string push_metric;
  double push_value = 0;
  CLI::App* push = app.add_subcommand(
      "push",
      "give a live job a value of one of its push metrics, as the service measured it "
      "(each sample is the mean of the values pushed since the last one)");
  add_job_arg(push, true);
  push->add_option("metric", push_metric, "the metric's name in the job's config")
      ->required();
  push->add_option("value", push_value, "a number")->required();
  push->callback(
      [&] { exit_code = hone::CmdPush(options, job, push_metric, push_value); });

  std::vector<int64_t> delete_jobs;
  CLI::App* remove = app.add_subcommand(
      "delete",
      "forget ended jobs: their trials, samples, report and settings file (honed also "
      "keeps only the newest --retain-jobs ended jobs)");
  remove->add_option("job", delete_jobs, "job numbers")
      ->required()
      ->check(CLI::PositiveNumber);
  remove->callback([&] { exit_code = hone::CmdDelete(options, delete_jobs); });

  CLI::App* report = app.add_subcommand(
      "report",
      "print a job's report; --format env|sh prints the best settings as "
      "environment assignments, --format html a self-contained HTML page");
  add_job_arg(report, true);
  report
      ->add_option("--format", options.format,
                   "text, json, env, sh or html (a self-contained page: the report "
                   "with its interval and every sample charted; hone report N "
                   "--format html > report.html)")
      ->check(CLI::IsMember({"text", "json", "env", "sh", "html"}));
  report->footer(std::string(kReportFooter) + kFooter);
  report->callback([&] { exit_code = hone::CmdReport(options, job); });

  int64_t recheck_rounds = 10, recheck_trial = 0, recheck_against = 0;
  CLI::App* recheck = app.add_subcommand(
      "recheck",
      "measure a job's best (or --trial T) against its baseline (or --against A) "
      "again, alternately, and report the difference with its interval as the final "
      "comparison does; a new job, followed like run");
  add_job_arg(recheck, true);
  recheck
      ->add_option("--samples", recheck_rounds,
                   "rounds: each measures both configurations once (A B A B ... A)")
      ->check(CLI::Range(int64_t{2}, int64_t{1000}))
      ->capture_default_str();
  recheck
      ->add_option("--trial", recheck_trial,
                   "the trial to measure (default: the job's best; hone trials lists "
                   "them)")
      ->check(CLI::NonNegativeNumber);
  recheck
      ->add_option("--against", recheck_against,
                   "the trial to measure it against (default: 0, the baseline)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  recheck->add_flag("-q,--quiet", options.quiet, "no progress line");
  recheck->footer(std::string(kReportFooter) + kFooter);
  recheck->callback([&] {
    std::optional<int64_t> trial;
    if (recheck->count("--trial")) trial = recheck_trial;
    exit_code = hone::CmdRecheck(options, job, recheck_rounds, trial, recheck_against);
  });

  bool trials_csv = false, trials_samples = false;
  CLI::App* trials = app.add_subcommand(
      "trials",
      "list what a job measured: each trial's configuration, samples, mean, spread, "
      "state and why it was measured (running or ended)");
  add_job_arg(trials, true);
  trials->add_flag("--csv", trials_csv,
                   "CSV (RFC 4180): one row per trial, a column per knob");
  trials->add_flag("--samples", trials_samples,
                   "with --csv: one row per sample instead (--json always has them)");
  trials->footer(
      "\nSTATE: baseline, best (the recommendation; for a running job, the best mean), "
      "tied (the samples cannot tell it from the best), stopped early, failed (no "
      "valid sample) or explored; *: measured again in the final comparison. WHY is the "
      "search's reason: the baseline, a warm start, the initial design, the model "
      "(where it expects the most gain, or where it is least sure), a step from the "
      "best so far, random exploration." +
      std::string(kFooter));
  trials->callback([&] {
    exit_code = hone::CmdTrials(
        options, job, trials_csv ? (trials_samples ? "samples" : "trials") : "");
  });

  int plot_width = 72, plot_height = 16;
  CLI::App* plot = app.add_subcommand(
      "plot",
      "chart a job's samples over time and its best configuration's mean so far, in "
      "the terminal (running or ended)");
  add_job_arg(plot, true);
  plot->add_option("--width", plot_width, "columns of the chart")
      ->check(CLI::Range(20, 400))
      ->capture_default_str();
  plot->add_option("--height", plot_height, "rows of the chart")
      ->check(CLI::Range(5, 100))
      ->capture_default_str();
  plot->callback(
      [&] { exit_code = hone::CmdPlot(options, job, plot_width, plot_height); });

  std::vector<int64_t> compare_jobs;
  CLI::App* compare = app.add_subcommand(
      "compare",
      "two jobs side by side: their results, the knobs in which their best settings "
      "differ, and the configurations both measured");
  compare->add_option("job", compare_jobs, "two job numbers")
      ->required()
      ->expected(2)
      ->check(CLI::PositiveNumber);
  compare->callback(
      [&] { exit_code = hone::CmdCompare(options, compare_jobs[0], compare_jobs[1]); });

  std::vector<std::string> knob_names;
  CLI::App* knobs = app.add_subcommand(
      "knobs",
      "list the machine's built-in system knobs: backend, availability (and why "
      "not), current value, domain; with names, only those (in full) or their groups");
  knobs->add_option("name", knob_names,
                    "a knob (vm.swappiness: shown in full, with its description, "
                    "location and whole domain) or a group (vm, prefetch)");
  knobs->callback([&] { exit_code = hone::CmdKnobs(options, knob_names); });

  CLI::App* apply = app.add_subcommand(
      "apply",
      "keep a completed job's best system knob settings (re-applied at every honed "
      "start; `hone restore` reverts them)");
  add_job_arg(apply, true);
  apply->callback([&] { exit_code = hone::CmdApply(options, job); });

  std::string export_format = "tuned", export_output;
  CLI::App* export_cmd = app.add_subcommand(
      "export",
      "write a job's best settings for the tools already on the server: a TuneD "
      "profile, a sysctl.d file, an environment file or JSON");
  add_job_arg(export_cmd, true);
  export_cmd
      ->add_option("--format", export_format,
                   "tuned (tuned.conf with [sysctl], [sysfs] and [script]), sysctl (a "
                   "sysctl.d file), env (application knobs, for EnvironmentFile= or "
                   "`. FILE`) or json")
      ->check(CLI::IsMember({"tuned", "sysctl", "env", "json"}))
      ->capture_default_str();
  export_cmd->add_option("-o,--output", export_output,
                         "write to this file instead of standard output (for tuned, a "
                         "directory: tuned.conf and, with script knobs, script.sh)");
  export_cmd->footer(
      "\nKnobs a format cannot carry are listed in its comments with the reason (an "
      "MSR knob in a TuneD profile: `hone apply` keeps it; an application knob in a "
      "sysctl file). Values with control characters are left out. docs/service.md "
      "shows how each file is used." +
      std::string(kFooter));
  export_cmd->callback(
      [&] { exit_code = hone::CmdExport(options, job, export_format, export_output); });

  app.add_subcommand("restore",
                     "put back the original value of every knob honed changed, applied "
                     "settings included")
      ->callback([&] { exit_code = hone::CmdRestore(options); });

  app.add_subcommand("ping", "check that honed answers")->callback([&] {
    exit_code = hone::CmdPing(options);
  });
  app.add_subcommand("version", "print the client's and honed's versions")->callback([&] {
    exit_code = hone::CmdVersion(options);
  });

  // The completion scripts' helper, hidden from --help.
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word == "--socket" && i + 1 < argc) {
      options.socket = argv[++i];
    } else if (word == "__complete") {
      return Complete(app, options, std::vector<std::string>(argv + i + 1, argv + argc));
    } else if (word != "--json") {
      break;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : hone::kExitUsage;
  }
  return exit_code;
}
