// From a job's config to the search space it tunes.
//
// At submit, ResolveBuiltins expands `imports` and binds built-in knob names to the
// catalog. At start, ResolveSpace gives every knob its values (options,
// options_script, a built-in knob's domain narrowed to the config's list) and its
// default, binds the system knobs (KnobBindings over the ledger), and reads their
// current values: a system knob's baseline is where the machine is. The resolved
// space is stored with the job (SpaceToJson, common/space.h) so that its report, apply and a resume
// after a restart use the very values it tuned.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/space.h"
#include "common/status.h"
#include "daemon/jobs/job_request.h"
#include "daemon/knobs/catalog.h"
#include "daemon/knobs/knob_bindings.h"
#include "daemon/knobs/ledger.h"
#include "daemon/process/process.h"

namespace hone {

// Expands imports and binds built-in names to `catalog` (may be null: none).
Status ResolveBuiltins(const std::vector<CatalogEntry>* catalog, JobSpec* spec);

// What a job's space will be, without running anything (`hone check`): each knob
// as the config and the catalog give it ({"name", "kind", "type", "values",
// "count", "default", "description", "source"}; an options_script's values and a
// system knob's current value are known only at start, and say so), and, when
// every knob's values are known, the space itself in `space` (system knobs at
// their first value). Errors: a built-in knob this machine lacks, a value outside
// its domain, a bad default, a constraint that does not compile.
Status PreviewSpace(const JobSpec& spec, const std::vector<CatalogEntry>* catalog,
                    nlohmann::json* knobs, std::optional<SearchSpace>* space);

// OK when the space's default configuration, the baseline, satisfies its
// constraints; otherwise InvalidArgument naming the constraint and what to change
// (hone measures the baseline first). ResolveSpace and `hone check` both ask.
Status BaselineFeasible(const SearchSpace& space);

// What ResolveSpace needs; everything must outlive the call.
struct SpaceSources {
  int64_t job = 0;
  const JobSpec* spec = nullptr;
  const JobRequest* request = nullptr;  // options_script runs as the submitter
  std::vector<CatalogEntry>* catalog = nullptr;
  Ledger* ledger = nullptr;
  ProcessRunner* runner = nullptr;
  ProcessGroups* groups = nullptr;
};
boost::asio::awaitable<Status> ResolveSpace(const SpaceSources& sources,
                                            SearchSpace* space,
                                            std::unique_ptr<KnobBindings>* bindings);

}  // namespace hone
