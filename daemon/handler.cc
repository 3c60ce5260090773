#include "daemon/handler.h"

namespace hone {

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
      {"list", "every job with its state", &RequestHandler::List},
      {"status", "one job's state and progress: job", &RequestHandler::JobStatus},
      {"watch", "follow a job's events until it ends: job", &RequestHandler::Watch},
      {"cancel", "stop a queued or running job: job", &RequestHandler::Cancel},
      {"report", "a job's report: job", &RequestHandler::Report},
  };
  return kCommands;
}

Status RequestHandler::Handle(const Request& request, Context& context, json* result) {
  for (const Command& command : Commands())
    if (command.name == request.cmd)
      return (this->*command.run)(request, context, result);
  return Status::InvalidArgument("unknown command '" + request.cmd + "'; try 'help'");
}

Status RequestHandler::Ping(const Request&, Context& context, json* result) {
  *result = {{"pong", true}, {"uid", context.peer.uid}};
  return Status::OK();
}

Status RequestHandler::Version(const Request&, Context&, json* result) {
  *result = {{"version", HONE_VERSION}, {"protocol", kProtocolVersion}};
  return Status::OK();
}

Status RequestHandler::Help(const Request&, Context&, json* result) {
  json commands = json::array();
  for (const Command& command : Commands())
    commands.push_back({{"name", command.name}, {"summary", command.summary}});
  *result = {{"commands", commands}};
  return Status::OK();
}

Status RequestHandler::Submit(const Request& request, Context& context, json* result) {
  return jobs_->Submit(context.peer, request.args, result);
}

Status RequestHandler::List(const Request&, Context&, json* result) {
  *result = jobs_->List();
  return Status::OK();
}

Status RequestHandler::JobStatus(const Request& request, Context&, json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  return s.ok() ? jobs_->JobStatus(id, result) : s;
}

Status RequestHandler::Watch(const Request& request, Context& context, json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  uint64_t token = 0;
  if (s.ok()) s = jobs_->Watch(id, context.sink, &token, result);
  if (s.ok() && token != 0 && context.watches) context.watches->push_back(token);
  return s;
}

Status RequestHandler::Cancel(const Request& request, Context& context, json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  return s.ok() ? jobs_->Cancel(context.peer, id, result) : s;
}

Status RequestHandler::Report(const Request& request, Context&, json* result) {
  int64_t id = 0;
  Status s = JobArg(request, &id);
  return s.ok() ? jobs_->Report(id, result) : s;
}

}  // namespace hone
