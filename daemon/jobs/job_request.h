// JobRequest: what a client submits (its job's config and how to run its workload),
// as it comes over the socket and as the store keeps it.
//
// The codec is symmetric: ToJson writes what FromStored reads back. FromJson reads
// a client's `submit` arguments and never its credentials, which come from the
// peer (SO_PEERCRED), not from anything the client says.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "daemon/process/process.h"

namespace hone {

struct JobRequest {
  std::string config_text;
  std::string config_path;                 // for messages and listings
  std::vector<std::string> command;        // the workload after `--`; may be empty
  std::string cwd;                         // the submitter's working directory
  std::map<std::string, std::string> env;  // the submitter's environment
  int64_t warm_start_job = 0;              // learn from this earlier job first; 0: none
  bool allow_unknown = false;  // run with unknown config keys ignored (else refused)
  std::vector<std::string> overrides;      // `--set KEY=VALUE`, applied after the file
  // `hone recheck`: set by honed (never by a client's submit) for a job that
  // measures trial `trial` of job `job` against its trial `against`, interleaved,
  // for `rounds` rounds. job 0: an ordinary job.
  struct Recheck {
    int64_t job = 0;
    int64_t trial = 0;
    int64_t against = 0;
    int rounds = 0;
    nlohmann::json config;          // trial's configuration
    nlohmann::json against_config;  // against's: the re-check's baseline
  };
  Recheck recheck;
  Credentials user;                        // the submitter, from the peer

  // A client's `submit` arguments (bounded: limits.h); `user` stays empty.
  static Status FromJson(const nlohmann::json& args, JobRequest* request);
  // What ToJson wrote, credentials included.
  static Status FromStored(const nlohmann::json& stored, JobRequest* request);
  nlohmann::json ToJson() const;
};

}  // namespace hone
