// StateDir: the directory honed keeps its database and results in, checked before
// it is trusted and locked while honed uses it.
//
// honed runs jobs as the uids stored in its database, so whoever can write that
// directory can run commands as root. Before honed uses a directory it checks
// that the directory and every directory above it can be changed by honed's own
// user or root only:
//   - the state directory is a real directory (not a symlink), owned by honed's
//     user, and not writable by its group or others;
//   - every directory above it is owned by root or honed's user, and is not
//     writable by group or others unless it is sticky (as /tmp is: there nobody
//     can rename or remove another user's entries);
// otherwise honed refuses to start and says which directory is wrong and how to
// fix it. An exclusive lock on DIR/honed.lock (flock, held for honed's lifetime)
// keeps a second honed off the same directory; the refusal names the first one's
// pid. Files honed writes there are created with no-follow semantics
// (WriteFileAtomically).
//
// Not thread-safe; the lock lives as long as the StateDir object.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace hone {

class StateDir {
 public:
  StateDir() = default;
  ~StateDir();
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

  // Creates `path` and its parents when missing (the directory itself mode 0755,
  // whatever the umask), checks that it can be trusted and takes its lock.
  Status Open(const std::string& path);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int lock_fd_ = -1;
};

// What honed was doing when it last stopped abruptly: a line in a file that honed
// writes before risky work on a job ("load 12": reading job 12 at start) and clears
// after. A honed that finds a line there at start knows which job it was loading
// when it crashed, so that no job can crash it twice that way. (A job that was
// running at a crash is counted in its row instead: JobRow::crashes.)
// Written without fsync: it must survive honed's crash, not the machine's.
class Sentinel {
 public:
  // Reads what a previous honed left at `path`; an empty path disables it.
  explicit Sentinel(std::string path);
  // What was left, parsed: the action ("load") and the job; 0 when none.
  const std::string& left_action() const { return left_action_; }
  int64_t left_job() const { return left_job_; }
  void Set(const std::string& action, int64_t job);
  void Clear();

 private:
  std::string path_;
  std::string left_action_;
  int64_t left_job_ = 0;
};

// Checks that directory `path` and every directory above it can be trusted (see
// above); `what` names it in messages ("state directory").
Status CheckTrustedDirectory(const std::string& path, const std::string& what);

// Writes `contents` to `path` so that a crash leaves the old file or the new one:
// a temporary file beside it, created exclusively and never through a symlink
// (one planted at its name is removed, not followed), synced, given `mode`, then
// renamed over `path`.
Status WriteFileAtomically(const std::string& path, const std::string& contents,
                           mode_t mode);

}  // namespace hone
