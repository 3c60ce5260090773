// The requests that change system knobs outside a job: `knobs` (the catalog with
// current values), `restore` (every original honed holds goes back) and `apply`
// (a completed job's best system knob settings are kept). Who may, and whether a
// running job's knobs are in the way, is the job manager's to check first.
#pragma once

#include <cstdint>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/status.h"
#include "daemon/knobs/catalog.h"
#include "daemon/knobs/ledger.h"

namespace hone {

// Every catalog entry, with the current value of its first instance.
boost::asio::awaitable<Status> ListKnobs(std::vector<CatalogEntry>* catalog,
                                         nlohmann::json* result);
// Puts back every original the ledger holds, applied settings included.
boost::asio::awaitable<Status> RestoreAllKnobs(Ledger* ledger, nlohmann::json* result);
// Applies job `id`'s `best` configuration's system knobs (`stored_space`: the space
// the job resolved). Script knobs run as root: refused unless `may_run_scripts`.
boost::asio::awaitable<Status> ApplyJobSettings(Ledger* ledger,
                                                std::vector<CatalogEntry>* catalog,
                                                int64_t id, const JobSpec& job_spec,
                                                const nlohmann::json& stored_space,
                                                const nlohmann::json& best,
                                                bool may_run_scripts,
                                                nlohmann::json* result);

// What `hone export` writes for a job: its `best` configuration knob by knob, in
// the spec's order, with where each lives:
//   {"name", "kind": "application"|"builtin"|"script", "value", "baseline" (the value
//    the job started from, when `baseline` has it), "description", and for system
//    knobs "backend" (sysctl, sysfs, msr, ...), "location" (for people) and, for
//    file knobs, "files" (the path of every instance); a script knob's
//    "set_script" only when `with_scripts` (its owner or root asks)}
// A knob the catalog no longer has (a built-in unavailable here) is described with
// "available": false.
nlohmann::json DescribeJobSettings(std::vector<CatalogEntry>* catalog,
                                   const JobSpec& job_spec, const nlohmann::json& best,
                                   const nlohmann::json& baseline, bool with_scripts);

}  // namespace hone
