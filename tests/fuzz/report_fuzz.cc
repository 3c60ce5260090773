// Fuzz target: the report formats (common/report.h) and the parsers of script
// output (ParseOptionList, ParseScalar in common/config.h).
//
// The input is read twice. As text, it is an options_script's or a knob file's
// output, which honed parses as root: ParseOptionList and ParseScalar must take
// anything, and a value they return must read back as itself (ValueToString then
// ParseScalar), since the daemon writes values out and reads them in again. As JSON
// (skipped when it is not JSON), it is a report: honed writes the env form into
// its settings file, hone prints the text and env forms of what honed sends.
// Neither checks the report's shape first, so a formatter that throws on a field of
// an unexpected type aborts hone: a crash here. The same JSON is also an `export`
// reply for hone export's formats (common/export.h), a `trials` reply for hone
// trials and hone compare (common/trials.h), and both the report and the history of
// the HTML report (common/report_html.h), which must stay one bounded page that no
// string of the input turns into markup.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/export.h"
#include "common/report.h"
#include "common/report_html.h"
#include "common/trials.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using nlohmann::json;

// Values print as the option lists say them, and read back as the same value.
void CheckReadsBack(const json& value) {
  const json again = hone::ParseScalar(hone::ValueToString(value));
  FUZZ_CHECK(again == value);
}

void FuzzScriptOutput(std::string_view text) {
  std::vector<json> values;
  if (hone::ParseOptionList(text, hone::kMaxOptionsPerKnob, &values).ok())
    for (const json& value : values) CheckReadsBack(value);
  CheckReadsBack(hone::ParseScalar(text));
  double seconds = 0;
  hone::ParseDurationSeconds(text, &seconds);
}

void FuzzReport(std::string_view text) {
  const json report = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (report.is_discarded()) return;
  hone::FormatReportText(report);
  hone::FormatReportEnv(report, /*shell=*/false);
  hone::FormatReportEnv(report, /*shell=*/true);
  if (report.is_object()) hone::FormatExplored(report);
  // As an `export` reply: every line of each file is a comment or one the format
  // means (a key, a section, a value), never one a hostile value made.
  std::string script;
  for (const std::string& file :
       {hone::FormatExportSysctl(report), hone::FormatExportEnv(report),
        hone::FormatExportTuned(report, &script)}) {
    FUZZ_CHECK(file.empty() || file.back() == '\n');
    for (size_t at = 0; at < file.size();) {
      size_t end = file.find('\n', at);
      std::string_view line(file.data() + at, end - at);
      at = end + 1;
      for (char c : line) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 || c == '\t');
    }
  }
  // The profile's script quotes each set_script whole (any bytes, in '...').
  FUZZ_CHECK(script.empty() || script.starts_with("#!/bin/sh\n"));
  // As a `trials` reply (hone trials, hone compare): a CSV row per trial, or per
  // sample, after the header, each ended by CRLF.
  hone::FormatTrialsText(report);
  hone::FormatPlotText(report, 72, 16);
  for (bool per_sample : {false, true}) {
    std::string csv = hone::FormatTrialsCsv(report, per_sample);
    FUZZ_CHECK(csv.size() >= 2 && csv.ends_with("\r\n"));
  }
  hone::FormatCompareText({{"report", report}, {"trials", report}},
                          {{"report", report}, {"trials", report}});
  // As the HTML report: with itself as the history, and with none (a live job's).
  for (const json& history : {report, json::object()}) {
    const std::string html = hone::FormatReportHtml(report, history);
    FUZZ_CHECK(html.starts_with("<!DOCTYPE html>\n") && html.ends_with("</html>\n"));
    FUZZ_CHECK(html.find("<script") == std::string::npos);
    FUZZ_CHECK(html.size() < 512 * 1024 + 64 * text.size());
  }
  if (report.is_number()) {
    hone::FormatValue(report.get<double>());
    hone::FormatDuration(report.get<double>());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  FuzzScriptOutput(text);
  FuzzReport(text);
  return 0;
}
