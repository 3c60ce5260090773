// honed: the hone daemon. Parses flags and runs the daemon; everything else lives in
// the hone_daemon library.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>

#include <cstdio>

#include "daemon/daemon.h"
#include "daemon/daemon_config.h"

int main(int argc, char** argv) {
  // What the command line says; the config file's settings go under it.
  hone::DaemonOptions options;
  CLI::App app{
      "honed - the hone performance auto-tuning daemon.\n\n"
      "honed owns tuning jobs: it runs each job's workload for every sample, as the\n"
      "user who submitted it, searches for the knob settings that optimise the target\n"
      "metric, and keeps jobs, trials and samples in a SQLite database so that nothing\n"
      "is lost on a crash. Clients (hone) talk to it over a Unix socket.\n\n"
      "Run it with `systemctl start honed`, or by hand for a private instance:\n"
      "  honed --socket /tmp/hone.sock --state-dir /tmp/hone-state\n\n"
      "Settings come from /etc/honed/honed.conf (`key = value`, keys named as the\n"
      "flags: socket, socket-group, admin-group, state-dir, log-level, on-stop,\n"
      "metrics-socket, retain-jobs, workload-cgroup); flags override the file. SIGHUP\n"
      "(systemctl reload honed) reads the file again without stopping a job.",
      "honed"};
  app.set_version_flag("--version", std::string("honed ") + HONE_VERSION);
  std::string config_path = hone::kDefaultDaemonConfig;
  app.add_option("--config", config_path,
                 "configuration file (key = value lines; a missing default file is "
                 "fine, a missing --config is an error)")
      ->capture_default_str();
  std::string on_stop = "resume";
  app.add_option("--on-stop", on_stop,
                 "what happens to a job running when honed stops: resume (it continues "
                 "when honed starts again) or interrupt (it stays interrupted); its "
                 "knobs go back either way")
      ->check(CLI::IsMember({"resume", "interrupt"}))
      ->capture_default_str();
  app.add_option("--socket", options.socket_path, "Unix socket to listen on")
      ->capture_default_str();
  app.add_option("--socket-group", options.socket_group,
                 "group allowed to connect (socket mode 0660; applied when root)")
      ->capture_default_str();
  app.add_option("--metrics-socket", options.metrics_socket,
                 "Unix socket where live jobs' services send StatsD lines (name:value|g); "
                 "default: metrics.sock beside --socket; 'none': no such socket");
  app.add_option("--state-dir", options.state_dir,
                 "directory for the database and results")
      ->capture_default_str();
  app.add_option("--root", options.root,
                 "where the machine's /sys, /proc and /dev are (a fake tree, for tests)")
      ->capture_default_str()
      ->check(CLI::ExistingDirectory);
  app.add_option("--admin-group", options.admin_group,
                 "group whose members (besides root) may tune built-in system knobs")
      ->capture_default_str();
  app.add_option("--retain-jobs", options.retain_jobs,
                 "ended jobs kept; past this many the oldest are deleted with their "
                 "trials, samples and settings files (0: keep all)")
      ->capture_default_str();
  bool no_resume = false;
  app.add_flag("--no-resume", no_resume, "the same as --on-stop interrupt");
  hone::ConnectionLimits& limits = options.connection_limits;
  app.add_option("--max-connections", limits.max_connections,
                 "connections served at once; one more gets an 'unavailable' error "
                 "line and is closed (keep the descriptor limit above it)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-connections-per-user", limits.max_connections_per_user,
                 "connections one user (peer uid, root included) may have open at once; "
                 "one more gets an 'unavailable' error line and is closed")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  double line_timeout_s = static_cast<double>(limits.line_timeout.count()) / 1000;
  app.add_option("--line-timeout", line_timeout_s,
                 "seconds a request line may take to arrive from its first byte; "
                 "then the client gets an error and is closed (0: no limit). Idle "
                 "connections never time out")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-line-memory", limits.max_line_memory,
                 "bytes that partial request lines may hold over all connections; "
                 "past it, the largest is refused (suffixes: KiB, MiB)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-outbox", limits.max_outbox_bytes,
                 "bytes of unsent replies and events one client may let pile up; past "
                 "it, it is disconnected (suffixes: KiB, MiB)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-outbox-memory", limits.max_outbox_memory,
                 "bytes of unsent replies and events over all connections; past it, "
                 "the client with the most is disconnected (suffixes: KiB, MiB)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--workload-cgroup", options.workload_cgroup,
                 "cgroup v2 directory in which each workload run gets a cgroup of its "
                 "own (default: chosen from honed's cgroup, delegated by systemd); "
                 "'none': process groups only")
      ->capture_default_str();
  bool restore = false;
  app.add_flag(
      "--restore", restore,
      "put back every original value the ledger holds for jobs and exit, without "
      "starting the server (for ExecStopPost)");
  app.add_option("--log-level", options.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  options.resume = on_stop == "resume" && !no_resume;
  limits.line_timeout = std::chrono::milliseconds(std::llround(line_timeout_s * 1000));

  // Defaults, then the file, then the flags given.
  hone::DaemonOptions settings = options;
  for (const std::string& key : hone::DaemonConfigKeys()) {
    CLI::Option* flag = app.get_option("--" + key);
    if (flag->count() > 0 || (key == "on-stop" && no_resume))
      settings.from_command_line.insert(key);
  }
  settings.config_path = config_path;
  settings.config_required = app.get_option("--config")->count() > 0;
  hone::Status s = hone::ReloadDaemonConfig(settings, &settings);
  if (!s.ok()) {
    std::fprintf(stderr, "honed: %s\n", s.message().c_str());
    return 2;
  }
  return restore ? hone::RunRestore(settings) : hone::RunDaemon(settings);
}
