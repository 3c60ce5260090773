// SystemdNotifier: honed's glue to systemd, one small object on the event loop.
//
// READY=1 once the daemon is really ready (state recovered, socket listening),
// STATUS= lines as jobs progress, WATCHDOG=1 at half the WatchdogSec interval, and
// STOPPING=1 when shutdown begins. Every call is a no-op when honed does not run
// under systemd (no NOTIFY_SOCKET). Event-loop thread only.
#pragma once

#include <functional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace hone {

class SystemdNotifier {
 public:
  // `status` is polled at every watchdog tick for the STATUS= line.
  SystemdNotifier(boost::asio::any_io_executor executor,
                  std::function<std::string()> status);

  void Ready();
  // A reload begins (RELOADING=1); Ready() says it has ended.
  void Reloading();
  void Stopping();
  void Status(const std::string& line);
  bool watchdog_enabled() const { return interval_.count() > 0; }

 private:
  void ScheduleWatchdog();

  boost::asio::steady_timer timer_;
  std::function<std::string()> status_;
  std::chrono::microseconds interval_{0};
  std::string last_status_;
  bool stopping_ = false;
};

}  // namespace hone
