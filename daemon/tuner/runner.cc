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
  co_return co_await knobs->Apply(*context.space, config, what);
}

}  // namespace hone
