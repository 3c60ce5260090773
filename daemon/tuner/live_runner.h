// LiveRunner: the loop of a live job (workload.kind: live). honed launches nothing:
// the service runs on its own. Every sampling_interval the runner takes one sample
// of its metric (the metric source's sample_script), tells the live session (on the
// worker), and applies the configuration the session decides on at once, so that a
// guard's revert reaches the machine before the next sample. It keeps the session's
// state durably after each change, and publishes each change and the progress.
// It ends when the job is cancelled, honed stops, or max_minutes is spent; the job
// manager then puts every knob back.
#pragma once

#include "daemon/tuner/runner.h"

namespace hone {

class LiveRunner : public Runner {
 public:
  boost::asio::awaitable<Outcome> Run(RunContext& context) override;
};

}  // namespace hone
