// RequestHandler: decoded requests in, results out; the daemon's command table.
//
// No socket I/O: the server decodes a line into a Request, passes it here with the peer's
// credentials, and encodes what comes back. Commands are a table (name, summary,
// function), so the protocol's command list is generated from it. Runs on the
// event-loop thread; `jobs` must outlive the handler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/protocol.h"
#include "common/status.h"
#include "daemon/jobs/job_manager.h"
#include "daemon/jobs/watchers.h"
#include "daemon/server/policy.h"

namespace hone {

class RequestHandler {
 public:
  // What a connection lends to a request: who asked, where its events go, and
  // where a watch's subscription is kept (the connection holds it until it closes
  // or the job ends). One per request.
  struct Context {
    Peer peer;
    EventSink sink;
    std::function<void(Subscription)> keep_watch;
    // Set by a command instead of its json result: the result, already serialized
    // (DumpResult), shared with other replies (`status`, many clients polling).
    std::shared_ptr<const std::string> result_text;
  };

  struct Command {
    std::string_view name;
    std::string_view summary;
    boost::asio::awaitable<Status> (RequestHandler::*run)(const Request&, Context&,
                                                          nlohmann::json*);
  };

  explicit RequestHandler(JobManager* jobs) : jobs_(jobs) {}

  boost::asio::awaitable<Status> Handle(const Request& request, Context& context,
                                        nlohmann::json* result);
  JobManager* jobs() const { return jobs_; }

  static const std::vector<Command>& Commands();

 private:
  boost::asio::awaitable<Status> Ping(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Version(const Request&, Context&,
                                         nlohmann::json* result);
  boost::asio::awaitable<Status> Help(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Submit(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> List(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> JobStatus(const Request&, Context&,
                                           nlohmann::json* result);
  boost::asio::awaitable<Status> Watch(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Cancel(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Accept(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Push(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Delete(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Report(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Check(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Recheck(const Request&, Context&,
                                         nlohmann::json* result);
  boost::asio::awaitable<Status> Trials(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Knobs(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Restore(const Request&, Context&,
                                         nlohmann::json* result);
  boost::asio::awaitable<Status> Apply(const Request&, Context&, nlohmann::json* result);
  boost::asio::awaitable<Status> Export(const Request&, Context&, nlohmann::json* result);

  JobManager* jobs_;
};

}  // namespace hone
