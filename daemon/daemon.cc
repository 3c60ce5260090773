#include "daemon/daemon.h"

#include <grp.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <functional>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon/daemon_config.h"
#include "daemon/jobs/job_manager.h"
#include "daemon/journal.h"
#include "daemon/knobs/catalog.h"
#include "daemon/knobs/knobs.h"
#include "daemon/knobs/ledger.h"
#include "daemon/knobs/machine.h"
#include "daemon/knobs/other_tuners.h"
#include "daemon/notifier.h"
#include "daemon/process/cgroup.h"
#include "daemon/server/handler.h"
#include "daemon/server/metrics_listener.h"
#include "daemon/server/server.h"
#include "daemon/store/state_dir.h"
#include "daemon/store/store.h"

namespace hone {

namespace asio = boost::asio;

namespace {

void SetUpLogging(const std::string& level) {
  // Under systemd, the journal itself, with fields (daemon/journal.h); journald
  // stamps each line. Elsewhere, standard error with the time.
  std::shared_ptr<spdlog::logger> logger;
  if (StderrIsJournal()) {
    logger = std::make_shared<spdlog::logger>("honed", MakeJournalSink());
    logger->set_pattern("%v");
  } else {
    logger = spdlog::stderr_color_mt("honed");
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e honed[%P] [%l] %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// Opens (creating) the state directory, checks that it can be trusted, locks it,
// and opens its database.
Status OpenState(const DaemonOptions& options, StateDir* state_dir,
                 std::unique_ptr<Store>* store) {
  // The database holds submitters' environments: private by default. Files meant
  // for others (the socket, results) get their modes set explicitly.
  umask(077);
  Status s = state_dir->Open(options.state_dir);
  if (!s.ok()) return s;
  return Store::Open(options.state_dir + "/honed.db", store);
}

// Puts back what a honed that died left changed, then re-applies kept settings.
asio::awaitable<Status> RecoverKnobs(Ledger& ledger) {
  std::vector<std::string> done;
  Status s = co_await ledger.RestoreHeld(std::nullopt, &done);
  Status applied = co_await ledger.Reapply(&done);
  // The ledger logged each line (with its fields).
  co_return s.ok() ? applied : s;
}

std::optional<gid_t> GroupId(const std::string& name) {
  if (group* g = getgrnam(name.c_str())) return g->gr_gid;
  spdlog::info("admin group '{}' does not exist; only root may tune system knobs", name);
  return std::nullopt;
}

// Applies what a reload changed: the live settings at once, each logged with its old
// and new value; the others are logged as waiting for a restart.
void ApplyReload(const DaemonOptions& before, const DaemonOptions& after,
                 JobManager* jobs) {
  // The new level first: the lines below are logged as the administrator now asks.
  spdlog::default_logger()->set_level(spdlog::level::from_str(after.log_level));
  int changed = 0;
  for (const std::string& key : DaemonConfigKeys()) {
    std::string was = DaemonConfigValue(before, key);
    std::string now = DaemonConfigValue(after, key);
    if (was == now) continue;
    ++changed;
    if (DaemonConfigKeyIsLive(key))
      spdlog::info("reload: {} {} -> {}", key, was.empty() ? "(default)" : was, now);
    else
      spdlog::warn("reload: {} {} -> {} takes effect when honed starts again", key,
                   was.empty() ? "(default)" : was, now.empty() ? "(default)" : now);
  }
  jobs->Reconfigure(after.admin_group == before.admin_group ? jobs->admin_gid()
                                                            : GroupId(after.admin_group),
                    after.admin_group, after.retain_jobs, after.resume);
  spdlog::info("reloaded {}: {} setting(s) changed", after.config_path, changed);
}

// Where workloads get their cgroups; says once, at start, when they get none.
std::unique_ptr<WorkloadCgroups> SetUpCgroups(const DaemonOptions& options) {
  CgroupOptions cgroup_options;
  cgroup_options.dir = options.workload_cgroup;
  std::error_code ec;
  cgroup_options.instance =
      std::filesystem::weakly_canonical(options.state_dir, ec).string();
  if (ec) cgroup_options.instance = options.state_dir;
  std::unique_ptr<WorkloadCgroups> cgroups = WorkloadCgroups::Setup(cgroup_options);
  if (cgroups->usable())
    spdlog::info("workloads run in cgroups of their own under {}", cgroups->dir());
  else
    spdlog::warn(
        "workloads are contained by {}: a process that leaves its process "
        "group can outlive its run",
        cgroups->containment());
  return cgroups;
}

}  // namespace

int RunRestore(const DaemonOptions& options) {
  SetUpLogging(options.log_level);
  {
    // A running honed owns the ledger; `hone restore` asks it instead.
    asio::io_context probe_io;
    asio::local::stream_protocol::socket probe(probe_io);
    boost::system::error_code ec;
    probe.connect(asio::local::stream_protocol::endpoint(options.socket_path), ec);
    if (!ec) {
      spdlog::critical("honed is running on {}; use `hone restore` instead",
                       options.socket_path);
      return 1;
    }
  }
  StateDir state_dir;
  std::unique_ptr<Store> store;
  Status s = OpenState(options, &state_dir, &store);
  if (!s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  std::unique_ptr<Machine> machine = MakeMachine(options.root);
  Ledger ledger(store.get(), machine.get());
  asio::io_context io(1);
  std::vector<std::string> done;
  asio::co_spawn(io, ledger.RestoreHeld(std::nullopt, &done),
                 [&](std::exception_ptr e, Status result) {
                   s = e ? Status::Internal("restore failed with an exception") : result;
                 });
  io.run();
  if (!s.ok()) {
    spdlog::error("restore incomplete: {}", s.message());
    return 1;
  }
  spdlog::info("restored {} knob instance(s)", done.size());
  return 0;
}

int RunDaemon(const DaemonOptions& options) {
  SetUpLogging(options.log_level);
  // A client that disappears mid-write must not kill the daemon.
  signal(SIGPIPE, SIG_IGN);

  StateDir state_dir;
  std::unique_ptr<Store> store;
  Status s = OpenState(options, &state_dir, &store);
  if (!s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  std::unique_ptr<Machine> machine = MakeMachine(options.root);
  std::vector<CatalogEntry> catalog = BuildCatalog(machine.get());
  Ledger ledger(store.get(), machine.get());

  std::unique_ptr<WorkloadCgroups> cgroups = SetUpCgroups(options);
  asio::io_context io(1);
  JobManagerOptions job_options;
  job_options.results_dir = options.state_dir + "/results";
  job_options.ledger = &ledger;
  job_options.catalog = &catalog;
  job_options.admin_gid = GroupId(options.admin_group);
  job_options.admin_group = options.admin_group;
  job_options.sentinel_path = options.state_dir + "/handling";
  job_options.retain_jobs = options.retain_jobs;
  job_options.cgroups = cgroups.get();
  job_options.machine = machine.get();
  job_options.resume = options.resume;
  JobManager jobs(io.get_executor(), store.get(), job_options);
  s = jobs.Recover();
  if (!s.ok()) {
    spdlog::critical("cannot recover jobs: {}", s.message());
    return 1;
  }
  RequestHandler handler(&jobs);
  Server server(io, &handler,
                {options.socket_path, options.socket_group, options.connection_limits});
  s = server.Listen();
  if (!s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  std::string metrics_path = options.metrics_socket;
  if (metrics_path.empty())
    metrics_path = (std::filesystem::path(options.socket_path).parent_path() / "metrics.sock")
                       .string();
  std::unique_ptr<MetricsListener> metrics;
  if (metrics_path != "none") {
    metrics = std::make_unique<MetricsListener>(
        io, metrics_path, options.socket_group,
        [&jobs](const Peer& peer, const StatsdValue& value) {
          return jobs.PushStatsd(peer, value);
        });
    s = metrics->Listen();
    if (!s.ok()) {
      spdlog::critical("{}", s.message());
      return 1;
    }
  }
  SystemdNotifier notifier(io.get_executor(), [&jobs] { return jobs.StatusLine(); });

  // SIGHUP (systemctl reload honed): the config file again, over the defaults, under
  // the command line's flags. A broken file changes nothing.
  DaemonOptions current = options;
  asio::signal_set hangup(io, SIGHUP);
  std::function<void()> await_hangup = [&] {
    hangup.async_wait([&](boost::system::error_code error, int) {
      if (error) return;
      notifier.Reloading();
      DaemonOptions next;
      Status reloaded = ReloadDaemonConfig(current, &next);
      if (!reloaded.ok()) {
        spdlog::error("reload: {}; the settings stay as they were", reloaded.message());
      } else {
        ApplyReload(current, next, &jobs);
        current = std::move(next);
      }
      notifier.Ready();
      await_hangup();
    });
  };
  await_hangup();

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code error, int signo) {
    if (error) return;
    spdlog::info("{} received; shutting down", strsignal(signo));
    hangup.cancel();
    notifier.Stopping();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          server.Stop();  // no new connections or requests
          if (metrics) metrics->Stop();
          co_await jobs.Stop();
          io.stop();
        },
        asio::detached);
  });

  // READY only once the machine is back to how it should be.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Status recovered = co_await RecoverKnobs(ledger);
        if (!recovered.ok())
          spdlog::error("startup restore incomplete ({}); the ledger keeps the rest",
                        recovered.message());
        server.Start();
        if (metrics) metrics->Start();
        jobs.Start();
        notifier.Ready();
        spdlog::info("honed {} ready on {} (state in {}, machine root {})", HONE_VERSION,
                     options.socket_path, options.state_dir, options.root);
        for (const OtherTuner& tuner : FindOtherTuners(*machine))
          spdlog::warn("{}", OtherTunerWarning(tuner));
      },
      asio::detached);
  io.run();
  spdlog::info("honed stopped");
  return 0;
}

}  // namespace hone
