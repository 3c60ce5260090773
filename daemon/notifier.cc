#include "daemon/notifier.h"

#include <systemd/sd-daemon.h>

namespace hone {

SystemdNotifier::SystemdNotifier(boost::asio::any_io_executor executor,
                                 std::function<std::string()> status)
    : timer_(executor), status_(std::move(status)) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
    interval_ = std::chrono::microseconds(usec / 2);
}

void SystemdNotifier::Ready() {
  sd_notify(0, "READY=1\nSTATUS=ready");
  ScheduleWatchdog();
}

void SystemdNotifier::Reloading() { sd_notify(0, "RELOADING=1\nSTATUS=reloading"); }

void SystemdNotifier::Stopping() {
  stopping_ = true;
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void SystemdNotifier::Status(const std::string& line) {
  if (line == last_status_) return;
  last_status_ = line;
  sd_notify(0, ("STATUS=" + line).c_str());
}

void SystemdNotifier::ScheduleWatchdog() {
  // The STATUS= line is refreshed at the same pace even without a watchdog.
  auto interval =
      watchdog_enabled() ? interval_ : std::chrono::microseconds(std::chrono::seconds(5));
  timer_.expires_after(interval);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    if (watchdog_enabled()) sd_notify(0, "WATCHDOG=1");
    if (status_) Status(status_());
    ScheduleWatchdog();
  });
}

}  // namespace hone
