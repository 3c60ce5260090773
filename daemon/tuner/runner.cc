#include "daemon/tuner/runner.h"

#include <spdlog/spdlog.h>

namespace hone {

namespace asio = boost::asio;

asio::awaitable<Status> SetSystemKnobs(RunContext& context, const Config& config,
                                       const std::string& what) {
  KnobBindings* knobs = context.knobs;
  if (!knobs || knobs->empty()) co_return Status::OK();
  std::vector<std::string> notes = co_await knobs->CheckForeignChanges();
  for (const std::string& note : notes) {
    spdlog::warn("job {}: {}", context.job, note);
    context.note(note);
  }
  std::vector<std::string> log;
  Status s = co_await knobs->Apply(*context.space, config, &log);
  for (const std::string& line : log)
    spdlog::info("job {} {}: {}", context.job, what, line);
  co_return s;
}

}  // namespace hone
