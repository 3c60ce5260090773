// Specification of the HTML report (common/report_html.h): one self-contained page
// whose numbers are the text report's, whose strings cannot become markup, and whose
// size stays bounded whatever the report and the history hold.
#include "common/report_html.h"

#include <algorithm>
#include <cstdio>
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "common/report.h"
#include "common/trials.h"
#include "tests/test_util.h"

namespace hone {
namespace {

using nlohmann::json;
using test::HtmlDataField;

json CompletedReport() {
  return json::parse(R"({
    "job": 3,
    "state": "completed",
    "target": {"metric": "m", "goal": "max"},
    "baseline": {"config": {"inter_op": 1, "intra_op": 10}, "value": 70.123456,
                 "samples": 2, "trial": 0},
    "best": {"config": {"inter_op": 2, "intra_op": 28}, "value": 124.0, "samples": 5,
             "trial": 7},
    "descriptions": {"inter_op": "threads between operators"},
    "improvement_pct": 76.83,
    "improvement_ci95_pct": [12.34, 140.5],
    "improvement_established": true,
    "improvement_method": {"rule": "paired", "rounds": 3, "baseline_value": 70,
                           "best_value": 124},
    "chosen_by": {"rule": "mean"},
    "tied": {"count": 2, "configs": [
      {"config": {"inter_op": 2, "intra_op": 26}, "trial": 4, "value": 123.5,
       "samples": 3}]},
    "knob_importance_pct": {"inter_op": 30, "intra_op": 70},
    "noise_pct": 1.234,
    "configs_explored": 24,
    "configs_total": 672,
    "knobs": 2,
    "samples_valid": 40,
    "samples_invalid": 1,
    "elapsed_s": 123.0,
    "stop_reason": "budget",
    "settings_file": "/x/job-3.env"
  })");
}

// Trial 0 (the baseline) 10, 10; trial 1 20, then invalid; trial 2 5, 30.
json SmallHistory() {
  return json::parse(R"({
    "job": 3, "target": {"metric": "m", "goal": "max"},
    "trials": [
      {"trial": 0, "baseline": true, "samples": [
        {"valid": true, "value": 10, "taken_at": 100},
        {"valid": true, "value": 10, "taken_at": 101}]},
      {"trial": 1, "samples": [
        {"valid": true, "value": 20, "taken_at": 102},
        {"valid": false, "error": "exit 1", "taken_at": 103}]},
      {"trial": 2, "samples": [
        {"valid": true, "value": 5, "taken_at": 104},
        {"valid": true, "value": 30, "taken_at": 105}]}]
  })");
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t count = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1))
    ++count;
  return count;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Whether `text` is UTF-8 with no control character but tab and newline.
bool CleanUtf8(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    unsigned char c = text[i];
    int length = c < 0x80         ? 1
                 : (c >> 5) == 6  ? 2
                 : (c >> 4) == 14 ? 3
                 : (c >> 3) == 30 ? 4
                                  : 0;
    if (length == 0 || i + length > text.size()) return false;
    if (length == 1 && c < 0x20 && c != '\n' && c != '\t') return false;
    if (c == 0x7f) return false;
    for (int k = 1; k < length; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    i += length;
  }
  return true;
}

// Every tag in `html` is one the formatter writes: nothing from the report became
// markup. The tags' names, and the page's overall shape.
void ExpectOnlyOwnMarkup(const std::string& html) {
  static const std::set<std::string> kTags = {
      "!doctype", "html", "head", "meta",   "title",   "style",   "body",  "header", "h1",
      "h2",       "p",    "span", "div",    "section", "table",   "thead", "tbody",  "tr",
      "th",       "td",   "code", "strong", "svg",     "line",    "rect",  "text",   "i",
      "circle",   "ul",   "li",   "pre",    "footer",  "polyline"};
  std::regex tag("<(/?)([!a-zA-Z][a-zA-Z0-9]*)");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), tag);
       it != std::sregex_iterator(); ++it)
    EXPECT_TRUE(kTags.count(Lower((*it)[2].str()))) << "tag <" << (*it)[2] << ">";
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>\n")) << html.substr(0, 200);
  EXPECT_TRUE(html.ends_with("</body>\n</html>\n"));
  EXPECT_EQ(Count(html, "<section"), Count(html, "</section>"));
  EXPECT_EQ(Count(html, "<table"), Count(html, "</table>"));
  EXPECT_EQ(Count(html, "<svg"), Count(html, "</svg>"));
  EXPECT_EQ(Count(html, "<footer id=\"end\">"), 1u);
  EXPECT_TRUE(CleanUtf8(html));
}

TEST(ReportHtmlTest, NumbersAreTheTextReportsNumbers) {
  const json report = CompletedReport();
  const std::string html = FormatReportHtml(report, SmallHistory());
  ExpectOnlyOwnMarkup(html);
  EXPECT_EQ(HtmlDataField(html, "job"), "3");
  EXPECT_EQ(HtmlDataField(html, "state"), "completed");
  EXPECT_EQ(HtmlDataField(html, "metric"), "m");
  EXPECT_EQ(HtmlDataField(html, "goal"), "max");
  EXPECT_EQ(HtmlDataField(html, "baseline_mean"), FormatValue(70.123456));
  EXPECT_EQ(HtmlDataField(html, "baseline_mean"), "70.12");
  EXPECT_EQ(HtmlDataField(html, "best_mean"), "124");
  EXPECT_EQ(HtmlDataField(html, "baseline_samples"), "2");
  EXPECT_EQ(HtmlDataField(html, "best_samples"), "5");
  EXPECT_EQ(HtmlDataField(html, "improvement_pct"), "+76.83");
  EXPECT_EQ(HtmlDataField(html, "ci_low"), "+12.34");
  EXPECT_EQ(HtmlDataField(html, "ci_high"), "+140.50");
  EXPECT_EQ(HtmlDataField(html, "improvement"), FormatImprovement(report));
  EXPECT_EQ(HtmlDataField(html, "established"), "yes");
  EXPECT_EQ(HtmlDataField(html, "noise_pct"), "1.23");
  EXPECT_EQ(HtmlDataField(html, "samples_valid"), "40");
  EXPECT_EQ(HtmlDataField(html, "samples_invalid"), "1");
  EXPECT_EQ(HtmlDataField(html, "samples"), "5");
  EXPECT_EQ(HtmlDataField(html, "samples_drawn"), "5");

  // The same text as the text report's lines.
  const std::string text = FormatReportText(report);
  for (const std::string& line :
       {"Baseline value: " + HtmlDataField(html, "baseline_mean") + " (2 samples)",
        "Best value: " + HtmlDataField(html, "best_mean") + " (5 samples)",
        "Improvement: " + HtmlDataField(html, "improvement_pct") + "% (95% CI " +
            HtmlDataField(html, "ci_low") + "% to " + HtmlDataField(html, "ci_high") +
            "%)",
        "Measurement noise: " + HtmlDataField(html, "noise_pct") + "% per sample"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
}

TEST(ReportHtmlTest, ShowsTheBestConfigurationTiesImportanceAndTheInterval) {
  const std::string html = FormatReportHtml(CompletedReport(), SmallHistory());
  EXPECT_NE(html.find("threads between operators"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"changed\"><td><code>inter_op</code>"),
            std::string::npos);
  EXPECT_NE(html.find("intra_op <code>26</code>"), std::string::npos)
      << "tied: the differing knob";
  EXPECT_NE(html.find("and 1 more"), std::string::npos) << "tied: count 2, one listed";
  EXPECT_LT(html.find("<code>intra_op</code></td><td class=\"value\">70%"),
            html.find("<code>inter_op</code></td><td class=\"value\">30%"))
      << "importance: largest first";
  EXPECT_EQ(Count(html, "class=\"interval established\""), 1u);
  EXPECT_EQ(Count(html, "class=\"estimate\""), 1u);
  EXPECT_EQ(Count(html, "class=\"zero\""), 1u);

  json weak = CompletedReport();
  weak["improvement_established"] = false;
  weak["improvement_ci95_pct"] = {-3.0, 150.0};
  const std::string not_established = FormatReportHtml(weak, json::object());
  EXPECT_EQ(Count(not_established, "class=\"interval not-established\""), 1u);
  EXPECT_EQ(HtmlDataField(not_established, "established"), "no");
  EXPECT_EQ(HtmlDataField(not_established, "improvement").rfind("not established (", 0),
            0u);
  EXPECT_NE(not_established.find("No valid sample to draw"), std::string::npos);

  json no_interval = CompletedReport();
  no_interval.erase("improvement_ci95_pct");
  const std::string bare = FormatReportHtml(no_interval, json::object());
  EXPECT_EQ(Count(bare, "class=\"interval "), 0u);
  EXPECT_EQ(HtmlDataField(bare, "ci_low"), "<missing>");
  EXPECT_EQ(HtmlDataField(bare, "improvement_pct"), "+76.83");
}

TEST(ReportHtmlTest, OneCirclePerValidSampleAndTheBestMeanSoFar) {
  const std::string html = FormatReportHtml(CompletedReport(), SmallHistory());
  EXPECT_EQ(Count(html, "<circle class=\"sample"), 5u);
  EXPECT_EQ(Count(html, "<circle class=\"sample baseline\""), 2u);
  EXPECT_EQ(Count(html, "<polyline class=\"best-so-far\""), 1u);
  EXPECT_NE(html.find("over 5.0s"), std::string::npos) << "the time the samples span";

  // The shared computation (hone plot draws the same): the best trial mean after
  // each sample, by the goal.
  std::vector<double> best, values;
  for (const SamplePoint& p : SamplesOverTime(SmallHistory(), true)) {
    best.push_back(p.best_so_far);
    values.push_back(p.value);
  }
  EXPECT_EQ(values, (std::vector<double>{10, 10, 20, 5, 30}));
  EXPECT_EQ(best, (std::vector<double>{10, 10, 20, 20, 20}));
  best.clear();
  for (const SamplePoint& p : SamplesOverTime(SmallHistory(), false))
    best.push_back(p.best_so_far);
  EXPECT_EQ(best, (std::vector<double>{10, 10, 10, 5, 10}));
}

TEST(ReportHtmlTest, HostileStringsAreEscapedEverywhere) {
  const std::string kScript = "<script>alert('x')</script>";
  const std::string kAttr = "\"><img src=x onerror=alert(1)>&amp;";
  json report = CompletedReport();
  report["target"]["metric"] = kScript;
  report["state"] = kAttr;
  report["message"] = kScript;
  report["best"]["config"] = {{kScript, kAttr}, {"plain", kScript}};
  report["baseline"]["config"] = {{kScript, "</td></tr></table>"}};
  report["descriptions"] = {{kScript, kAttr + kScript}, {"plain", "<!-- x"}};
  report["tied"]["configs"][0]["config"] = {{kScript, kScript}};
  report["knob_importance_pct"] = {{kScript, 100}};
  report["notes"] = {kScript, kAttr, "]]><svg onload=alert(1)>"};
  report["warnings"] = {kScript};
  report["stop_reason"] = kScript;
  report["settings_file"] = kAttr;
  report["overrides"] = {kScript};
  report["command"] = {"sh", "-c", kScript};
  report["strategy"] = kScript;
  json history = SmallHistory();
  history["target"]["metric"] = kScript;
  history["trials"][1]["samples"][1]["error"] = kScript;

  const std::string html = FormatReportHtml(report, history);
  ExpectOnlyOwnMarkup(html);
  const std::string lower = Lower(html);
  EXPECT_EQ(lower.find("<script"), std::string::npos);
  EXPECT_EQ(lower.find("<img"), std::string::npos);
  EXPECT_EQ(lower.find("<!--"), std::string::npos);
  EXPECT_EQ(lower.find("<svg onload"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            std::string::npos);
  EXPECT_NE(html.find("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&amp;amp;"),
            std::string::npos);
  EXPECT_EQ(HtmlDataField(html, "state"), HtmlEscape(kAttr));
}

TEST(ReportHtmlTest, BadBytesAndLongStringsAreCleanedAndCut) {
  EXPECT_EQ(HtmlEscape("a\x01"
                       "b\x7f\xff\xc3(\xed\xa0\x80z\xef\xbf\xbe"),
            "a\uFFFDb\uFFFD\uFFFD\uFFFD(\uFFFD\uFFFD\uFFFDz\uFFFD");
  EXPECT_EQ(HtmlEscape("tab\tnew\nline \xc3\xa9 \xf0\x9f\x98\x80"),
            "tab\tnew\nline \xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(HtmlEscape("\xc3\xa9\xc3\xa9\xc3\xa9", 3), "\xc3\xa9\xc3\xa9\u2026");
  EXPECT_EQ(HtmlEscape("<<<<", 2), "&lt;&lt;\u2026");

  json report = CompletedReport();
  report["best"]["config"] = {{"k\xff\x01", std::string(100000, 'v')}};
  report["notes"] = {std::string(1 << 20, '<')};
  const std::string html = FormatReportHtml(report, json::object());
  ExpectOnlyOwnMarkup(html);
  EXPECT_LT(html.size(), 64u * 1024) << "long strings are cut";
}

TEST(ReportHtmlTest, MissingOrWrongTypedFieldsStillGiveAValidPage) {
  const json kOdd[] = {nullptr,
                       true,
                       -1,
                       1e308,
                       -1e308,
                       "text",
                       json::array(),
                       json::object(),
                       json::array({1, "x", nullptr}),
                       json({{"a", json::array()}})};
  // Whole reports and histories of any type.
  for (const json& report : kOdd)
    for (const json& history : kOdd)
      ExpectOnlyOwnMarkup(FormatReportHtml(report, history));
  // Each field of a full report and history, in turn, of each odd type.
  const json full = CompletedReport();
  for (const auto& [key, value] : full.items())
    for (const json& odd : kOdd) {
      json report = full;
      report[key] = odd;
      SCOPED_TRACE(key + " = " + odd.dump());
      ExpectOnlyOwnMarkup(FormatReportHtml(report, SmallHistory()));
    }
  for (const char* key : {"trials", "target", "job"})
    for (const json& odd : kOdd) {
      json history = SmallHistory();
      history[key] = odd;
      ExpectOnlyOwnMarkup(FormatReportHtml(full, history));
    }
  for (const char* key : {"samples", "trial", "baseline"})
    for (const json& odd : kOdd) {
      json history = SmallHistory();
      history["trials"][1][key] = odd;
      history["trials"][2]["samples"][0] = {
          {"valid", odd}, {"value", odd}, {"taken_at", odd}};
      ExpectOnlyOwnMarkup(FormatReportHtml(full, history));
    }
  // The short report of a job that failed early, and one that has not started.
  const std::string failed = FormatReportHtml(
      {{"job", 4}, {"state", "failed"}, {"message", "options_script failed"}}, json());
  ExpectOnlyOwnMarkup(failed);
  EXPECT_NE(failed.find("options_script failed"), std::string::npos);
  EXPECT_EQ(HtmlDataField(failed, "best_mean"), "<missing>");
  EXPECT_EQ(HtmlDataField(failed, "improvement_pct"), "<missing>");
  // Values no chart can place are still drawn somewhere, as numbers.
  json extreme = full;
  extreme["improvement_pct"] = 1e308;
  extreme["improvement_ci95_pct"] = {-1e308, 1e308};
  json history = SmallHistory();
  history["trials"][1]["samples"][0]["value"] = 1e308;
  history["trials"][2]["samples"][0]["value"] = -1e308;
  const std::string wild = FormatReportHtml(extreme, history);
  ExpectOnlyOwnMarkup(wild);
  EXPECT_EQ(Lower(wild).find("nan"), std::string::npos);
}

TEST(ReportHtmlTest, ALiveJobsReportShowsItsState) {
  json live = {{"job", 9},
               {"kind", "live"},
               {"state", "running"},
               {"phase", 1},
               {"phases", 1},
               {"mode", "<tune>"},
               {"best", {{"config", {{"k", 3}}}}}};
  const std::string html = FormatReportHtml(live, json::object());
  ExpectOnlyOwnMarkup(html);
  EXPECT_NE(html.find("Mode: &lt;tune&gt;"), std::string::npos) << html;
  EXPECT_EQ(Count(html, "<circle"), 0u);
}

TEST(ReportHtmlTest, AHundredThousandSamplesGiveABoundedPage) {
  json history = {{"job", 1}, {"target", {{"metric", "m"}, {"goal", "min"}}}};
  json trials = json::array();
  for (int t = 0; t < 100; ++t) {
    json samples = json::array();
    for (int s = 0; s < 1000; ++s)
      samples.push_back({{"valid", true},
                         {"value", 100 + (t * 7919 + s * 104729) % 1000 / 10.0},
                         {"taken_at", 1e9 + t * 1000 + s}});
    trials.push_back({{"trial", t}, {"baseline", t == 0}, {"samples", samples}});
  }
  history["trials"] = trials;
  const std::string html = FormatReportHtml(CompletedReport(), history);
  ExpectOnlyOwnMarkup(html);
  EXPECT_EQ(HtmlDataField(html, "samples"), "100000");
  size_t circles = Count(html, "<circle class=\"sample");
  EXPECT_LE(circles, kMaxDrawnSamples);
  EXPECT_GE(circles, kMaxDrawnSamples / 2);
  EXPECT_EQ(HtmlDataField(html, "samples_drawn"), std::to_string(circles));
  EXPECT_NE(html.find("too many to draw each"), std::string::npos);
  EXPECT_LT(html.size(), 600u * 1024) << "bounded: " << html.size() << " bytes";
}

}  // namespace
}  // namespace hone
