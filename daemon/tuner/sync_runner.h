// SyncRunner: the loop of a sync job. Until the session says the job is done: ask
// it for the next step (on the worker), set the trial's system knobs when the
// trial changes, take one sample from the metric source, record it durably (one
// transaction), tell the session, and publish the sample and the progress. A
// sample cut short by a cancel or a stop is not a result and is not recorded.
#pragma once

#include "daemon/tuner/runner.h"

namespace hone {

class SyncRunner : public Runner {
 public:
  boost::asio::awaitable<Outcome> Run(RunContext& context) override;
};

}  // namespace hone
