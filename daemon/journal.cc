#include "daemon/journal.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace hone {

namespace {

thread_local std::vector<std::pair<std::string, std::string>> tls_fields;

// syslog priorities, as the journal's PRIORITY field takes them.
int Priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return 2;
    case spdlog::level::err:
      return 3;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::info:
      return 6;
    default:
      return 7;
  }
}

class JournalSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string message(msg.payload.data(), msg.payload.size());
    std::vector<std::string> lines = {"MESSAGE=" + message,
                                      "PRIORITY=" + std::to_string(Priority(msg.level)),
                                      "SYSLOG_IDENTIFIER=honed"};
    bool has_job = false;
    for (const auto& [name, value] : LogFields::Current()) {
      lines.push_back(name + "=" + value);
      has_job = has_job || name == "HONE_JOB";
    }
    if (!has_job)
      if (int64_t job = JobOfMessage(message); job > 0)
        lines.push_back("HONE_JOB=" + std::to_string(job));
    std::vector<iovec> iov;
    for (std::string& line : lines) iov.push_back({line.data(), line.size()});
    if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) < 0) {
      // The journal is gone (stopping?): standard error still reaches someone.
      std::fprintf(stderr, "%s\n", message.c_str());
    }
  }
  void flush_() override {}
};

}  // namespace

bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == device &&
         static_cast<unsigned long long>(st.st_ino) == inode;
}

std::shared_ptr<spdlog::sinks::sink> MakeJournalSink() {
  return std::make_shared<JournalSink>();
}

LogFields::LogFields(std::vector<std::pair<std::string, std::string>> fields)
    : pushed_(fields.size()) {
  for (auto& field : fields) tls_fields.push_back(std::move(field));
}

LogFields::~LogFields() { tls_fields.resize(tls_fields.size() - pushed_); }

std::vector<std::pair<std::string, std::string>> LogFields::Current() {
  return tls_fields;
}

void KnobLog(int64_t job, const std::string& key, const std::string& from,
             const std::string& to, const std::string& reason,
             const std::string& message) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"HONE_KNOB", key}, {"HONE_OLD", from}, {"HONE_NEW", to}, {"HONE_REASON", reason}};
  if (job > 0) fields.push_back({"HONE_JOB", std::to_string(job)});
  LogFields scope(std::move(fields));
  spdlog::info("{}", message);
}

int64_t JobOfMessage(const std::string& message) {
  size_t at = 0;
  if (message.starts_with("apply job "))
    at = 10;
  else if (message.starts_with("job "))
    at = 4;
  else
    return 0;
  size_t end = at;
  while (end < message.size() && end - at < 18 && message[end] >= '0' &&
         message[end] <= '9')
    ++end;
  if (end == at || (end < message.size() && message[end] != ':' && message[end] != ' '))
    return 0;
  return std::stoll(message.substr(at, end - at));
}

}  // namespace hone
