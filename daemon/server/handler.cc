#include "daemon/server/handler.h"

#include <boost/asio/use_awaitable.hpp>

#include "common/limits.h"

namespace hone {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

Status JobArg(const Request& request, int64_t* id) {
  auto job = request.args.find("job");
  if (job == request.args.end() || !job->is_number_integer() || job->get<int64_t>() <= 0)
    return Status::InvalidArgument("'" + request.cmd +
                                   "' needs \"job\", a positive job number");
  *id = job->get<int64_t>();
  return Status::OK();
}

}  // namespace

const std::vector<RequestHandler::Command>& RequestHandler::Commands() {
  static const std::vector<Command> kCommands = {
      {"ping", "check that honed answers", &RequestHandler::Ping},
      {"version", "honed's version and protocol version", &RequestHandler::Version},
      {"help", "the commands honed understands", &RequestHandler::Help},
      {"submit", "queue a tuning job: config_text, config_path, command, cwd, env",
       &RequestHandler::Submit},
      {"recheck",
       "queue a job that measures one trial of a job against another, interleaved: "
       "job, rounds, trial, against",
       &RequestHandler::Recheck},
      {"check",
       "what submit would do with the same args, without queueing anything: the "
       "knobs, space, budget, privileges, warnings and errors",
       &RequestHandler::Check},
      {"list", "jobs with their state, a page at a time: after, limit, newest_first",
       &RequestHandler::List},
      {"status", "one job's state and progress: job", &RequestHandler::JobStatus},
      {"watch", "follow a job's events until it ends: job", &RequestHandler::Watch},
      {"cancel", "stop a queued or running job: job", &RequestHandler::Cancel},
      {"push", "a value a live job's service measured: job, metric, value",
       &RequestHandler::Push},
      {"accept", "let a live job in mode recommend try the step it proposes: job",
       &RequestHandler::Accept},
      {"report", "a job's report: job", &RequestHandler::Report},
      {"trials",
       "a page of a job's trial history (configuration, samples, mean, spread, state, "
       "why): job, after, limit",
       &RequestHandler::Trials},
      {"delete", "forget an ended job, its trials, samples and settings file: job",
       &RequestHandler::Delete},
      {"knobs", "the built-in system knobs, their domains and current values",
       &RequestHandler::Knobs},
      {"restore", "put back every original value honed holds, applied ones included",
       &RequestHandler::Restore},
      {"apply", "keep a completed job's best system knob settings: job",
       &RequestHandler::Apply},
      {"export", "a job's best settings knob by knob, with where each lives: job",
       &RequestHandler::Export},
  };
  return kCommands;
}

asio::awaitable<Status> RequestHandler::Handle(const Request& request, Context& context,
                                               json* result) {
  for (const Command& command : Commands())
    if (command.name == request.cmd)
      co_return co_await (this->*command.run)(request, context, result);
  co_return Status::InvalidArgument("unknown command '" + request.cmd + "'; try 'help'");
}

asio::awaitable<Status> RequestHandler::Ping(const Request&, Context& context,
                                             json* result) {
  *result = {{"pong", true}, {"uid", context.peer.uid}};
  co_return Status::OK();
}

asio::awaitable<Status> RequestHandler::Version(const Request&, Context&, json* result) {
  *result = {{"version", HONE_VERSION}, {"protocol", kProtocolVersion}};
  co_return Status::OK();
}

asio::awaitable<Status> RequestHandler::Help(const Request&, Context&, json* result) {
  json commands = json::array();
  for (const Command& command : Commands())
    commands.push_back({{"name", command.name}, {"summary", command.summary}});
  *result = {{"commands", commands}};
  co_return Status::OK();
}

asio::awaitable<Status> RequestHandler::Recheck(const Request& request, Context& context,
                                                json* result) {
  co_return co_await jobs_->Recheck(context.peer, request.args, result);
}

asio::awaitable<Status> RequestHandler::Check(const Request& request, Context& context,
                                              json* result) {
  co_return jobs_->Check(context.peer, request.args, result);
}

asio::awaitable<Status> RequestHandler::Submit(const Request& request, Context& context,
                                               json* result) {
  co_return jobs_->Submit(context.peer, request.args, result);
}

asio::awaitable<Status> RequestHandler::List(const Request& request, Context&,
                                             json* result) {
  co_return jobs_->List(request.args, result);
}

asio::awaitable<Status> RequestHandler::JobStatus(const Request& request, Context& context,
                                                  json*) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  co_return s.ok() ? jobs_->JobStatus(id, &context.result_text) : s;
}

asio::awaitable<Status> RequestHandler::Watch(const Request& request, Context& context,
                                              json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  Subscription subscription;
  if (s.ok()) s = jobs_->Watch(id, context.sink, &subscription, result);
  if (s.ok() && subscription.active() && context.keep_watch)
    context.keep_watch(std::move(subscription));
  co_return s;
}

asio::awaitable<Status> RequestHandler::Cancel(const Request& request, Context& context,
                                               json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  co_return s.ok() ? jobs_->Cancel(context.peer, id, result) : s;
}

asio::awaitable<Status> RequestHandler::Push(const Request& request, Context& context,
                                             json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  if (!s.ok()) co_return s;
  const json& args = request.args;
  auto metric = args.find("metric");
  auto value = args.find("value");
  if (metric == args.end() || !metric->is_string() ||
      metric->get<std::string>().empty() ||
      metric->get<std::string>().size() > limits::kMaxNameBytes)
    co_return Status::InvalidArgument("\"metric\" must be a metric name of the job");
  if (value == args.end() || !value->is_number())
    co_return Status::InvalidArgument("\"value\" must be a number");
  co_return jobs_->Push(context.peer, id, metric->get<std::string>(),
                        value->get<double>(), result);
}

asio::awaitable<Status> RequestHandler::Accept(const Request& request, Context& context,
                                               json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  if (s.ok()) s = co_await jobs_->Accept(context.peer, id, result);
  co_return s;
}

asio::awaitable<Status> RequestHandler::Delete(const Request& request, Context& context,
                                               json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  co_return s.ok() ? jobs_->Delete(context.peer, id, result) : s;
}

asio::awaitable<Status> RequestHandler::Report(const Request& request, Context&,
                                               json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  if (!s.ok()) co_return s;
  co_return co_await jobs_->Report(id, result);
}

asio::awaitable<Status> RequestHandler::Trials(const Request& request, Context&,
                                               json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  if (!s.ok()) co_return s;
  co_return co_await jobs_->Trials(id, request.args, result);
}

asio::awaitable<Status> RequestHandler::Knobs(const Request&, Context&, json* result) {
  co_return co_await jobs_->Knobs(result);
}

asio::awaitable<Status> RequestHandler::Restore(const Request&, Context& context,
                                                json* result) {
  co_return co_await jobs_->RestoreAll(context.peer, result);
}

asio::awaitable<Status> RequestHandler::Apply(const Request& request, Context& context,
                                              json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  if (!s.ok()) co_return s;
  co_return co_await jobs_->ApplyBest(context.peer, id, result);
}

asio::awaitable<Status> RequestHandler::Export(const Request& request, Context& context,
                                               json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  if (!s.ok()) co_return s;
  co_return co_await jobs_->Export(context.peer, id, result);
}

}  // namespace hone
