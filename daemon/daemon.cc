#include "daemon/daemon.h"

#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon/handler.h"
#include "daemon/jobs.h"
#include "daemon/notifier.h"
#include "daemon/server.h"
#include "daemon/store.h"

namespace hone {

namespace asio = boost::asio;

namespace {

void SetUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("honed");
  // journald stamps each line itself; elsewhere the time is worth having.
  if (std::getenv("JOURNAL_STREAM"))
    logger->set_pattern("[%l] %v");
  else
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e honed[%P] [%l] %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace

int RunDaemon(const DaemonOptions& options) {
  SetUpLogging(options.log_level);
  // A client that disappears mid-write must not kill the daemon.
  signal(SIGPIPE, SIG_IGN);

  // The database holds submitters' environments: private by default. Files meant
  // for others (the socket, results) get their modes set explicitly.
  umask(077);
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) {
    spdlog::critical("cannot create state directory {}: {}", options.state_dir,
                     ec.message());
    return 1;
  }
  chmod(options.state_dir.c_str(), 0755);
  std::unique_ptr<Store> store;
  Status s = Store::Open(options.state_dir + "/honed.db", &store);
  if (!s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }

  asio::io_context io(1);
  JobManager jobs(io.get_executor(), store.get(), {options.state_dir + "/results"});
  s = jobs.Recover();
  if (!s.ok()) {
    spdlog::critical("cannot recover jobs: {}", s.message());
    return 1;
  }
  RequestHandler handler(&jobs);
  Server server(io, &handler, {options.socket_path, options.socket_group});
  s = server.Listen();
  if (!s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  SystemdNotifier notifier(io.get_executor(), [&jobs] { return jobs.StatusLine(); });

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code error, int signo) {
    if (error) return;
    spdlog::info("{} received; shutting down", strsignal(signo));
    notifier.Stopping();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          server.Stop();  // no new connections or requests
          co_await jobs.Stop();
          io.stop();
        },
        asio::detached);
  });

  server.Start();
  jobs.Start();
  notifier.Ready();
  spdlog::info("honed {} ready on {} (state in {})", HONE_VERSION, options.socket_path,
               options.state_dir);
  io.run();
  spdlog::info("honed stopped");
  return 0;
}

}  // namespace hone
