// Fuzz target: a job's search space as the state directory keeps it (SpaceFromJson,
// common/space.h). honed reads it back to resume a job, rebuild a report, apply a
// job's settings or warm-start another job, and the state directory is not
// trusted: any bytes must give a space or an error, never a crash. A space that
// loads must write back as itself, and its configurations must read back as
// themselves.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/space.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json stored = nlohmann::json::parse(text, nullptr, false);
  if (stored.is_discarded()) return 0;
  hone::SearchSpace space;
  if (!hone::SpaceFromJson(stored, &space).ok()) return 0;
  const nlohmann::json written = hone::SpaceToJson(space);
  hone::SearchSpace again;
  FUZZ_CHECK(hone::SpaceFromJson(written, &again).ok());
  FUZZ_CHECK(hone::SpaceToJson(again) == written);
  const hone::Config baseline = space.Default();
  hone::Config read;
  FUZZ_CHECK(space.FromJson(space.ToJson(baseline), &read).ok());
  FUZZ_CHECK(read == baseline);
  space.Feasible(baseline);
  return 0;
}
