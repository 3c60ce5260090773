// honed's log in the journal: structured fields an administrator can query.
//
// Under systemd, honed's standard error is a journal stream (JOURNAL_STREAM names
// it); honed then logs through sd_journal_send instead, so that each line carries
// fields besides its MESSAGE and PRIORITY:
//   HONE_JOB     the job a line is about (from KnobLog, or a message that begins
//                "job N" or "apply job N")
//   HONE_KNOB    a knob instance ("vm.swappiness", "prefetch.l2_stream/cpu3")
//   HONE_OLD, HONE_NEW   its value before and after a write or a restore
//   HONE_REASON  why: "trial 4", "live", "restore at the job's end", "apply", ...
// so that `journalctl -u honed HONE_JOB=3` tells one job's story and
// `journalctl -u honed HONE_KNOB=vm.swappiness` one knob's. Elsewhere (a terminal,
// a test's log file) lines go to standard error as before, and the fields are not
// shown.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/sinks/sink.h>

namespace hone {

// Whether standard error is the journal stream systemd connected (JOURNAL_STREAM's
// device and inode are standard error's).
bool StderrIsJournal();

// A spdlog sink that sends each line to the journal with the fields above.
std::shared_ptr<spdlog::sinks::sink> MakeJournalSink();

// Fields the lines this thread logs carry while the object lives (nested: inner
// ones add to outer ones). Names must be journal field names (A-Z, 0-9, _).
class LogFields {
 public:
  explicit LogFields(std::vector<std::pair<std::string, std::string>> fields);
  ~LogFields();
  LogFields(const LogFields&) = delete;
  LogFields& operator=(const LogFields&) = delete;

  // The fields in force on this thread, outermost first.
  static std::vector<std::pair<std::string, std::string>> Current();

 private:
  size_t pushed_;
};

// One line for a write or restore of a knob instance, at info level:
// "job 3 trial 4: vm.swappiness: 60 -> 10", with HONE_JOB (when job > 0),
// HONE_KNOB, HONE_OLD, HONE_NEW and HONE_REASON.
void KnobLog(int64_t job, const std::string& key, const std::string& from,
             const std::string& to, const std::string& reason,
             const std::string& message);

// The job a log message is about, from how honed words them ("job 3: ...",
// "job 3 trial 4: ...", "apply job 3: ..."); 0 when none.
int64_t JobOfMessage(const std::string& message);

}  // namespace hone
