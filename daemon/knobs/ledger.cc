#include "daemon/knobs/ledger.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "daemon/crash_point.h"
#include "daemon/journal.h"

namespace hone {

namespace asio = boost::asio;

std::string Ledger::Key(const SystemKnob& knob, const std::string& instance) {
  return instance.empty() ? knob.name() : knob.name() + "/" + instance;
}

Status Ledger::Entries(const std::string& state, std::vector<LedgerEntry>* entries) {
  std::vector<LedgerEntry> all;
  Status s = store_->LoadLedger(&all);
  entries->clear();
  for (LedgerEntry& e : all)
    if (e.state == state) entries->push_back(std::move(e));
  return s;
}

asio::awaitable<Status> Ledger::Hold(int64_t job, SystemKnob& knob,
                                     const std::string& instance) {
  std::string key = Key(knob, instance);
  std::optional<LedgerEntry> existing;
  Status s = store_->FindLedger(key, "held", &existing);
  if (!s.ok() || existing) co_return s;
  LedgerEntry entry;
  entry.key = key;
  entry.state = "held";
  entry.job = job;
  // Read first: a recipe may depend on what the knob has seen (script knobs).
  s = co_await knob.Read(instance, &entry.original);
  if (!s.ok()) co_return s.WithContext("cannot read the original of " + key);
  entry.recipe = knob.Recipe(instance);
  s = store_->PutLedger(entry);
  if (!s.ok()) co_return s;
  CrashPoint("ledger-held");
  co_return Status::OK();
}

Status Ledger::Release(const std::string& key) {
  return store_->DeleteLedger(key, "held");
}

asio::awaitable<std::string> Ledger::ReadRecipe(const LedgerEntry& entry) {
  std::unique_ptr<SystemKnob> knob;
  std::string value;
  if (!KnobFromRecipe(entry.recipe, machine_, &knob).ok()) co_return "?";
  Status s = co_await knob->Read("", &value);
  if (!s.ok()) co_return "?";
  co_return value;
}

asio::awaitable<Status> Ledger::WriteRecipe(const LedgerEntry& entry,
                                            const std::string& value) {
  std::unique_ptr<SystemKnob> knob;
  Status s = KnobFromRecipe(entry.recipe, machine_, &knob);
  if (s.ok()) s = co_await knob->Write("", value);
  co_return s.WithContext(entry.key);
}

asio::awaitable<Status> Ledger::RestoreHeld(std::optional<int64_t> job,
                                            std::vector<std::string>* done) {
  std::vector<LedgerEntry> held;
  Status first = Entries("held", &held);
  if (!first.ok()) co_return first;
  std::reverse(held.begin(), held.end());
  for (const LedgerEntry& entry : held) {
    if (job && entry.job != *job) continue;
    std::string before = co_await ReadRecipe(entry);
    // Already at its original (a write that never happened, or was undone): nothing
    // to write, which a read-only file would refuse anyway.
    Status s;
    if (before != entry.original) s = co_await WriteRecipe(entry, entry.original);
    if (s.ok()) {
      CrashPoint("restored-one");
      s = store_->DeleteLedger(entry.key, "held");
    }
    if (s.ok()) {
      KnobLog(entry.job, entry.key, before, entry.original, "restore",
              (entry.job > 0 ? "job " + std::to_string(entry.job) + ": " : "") +
                  entry.key + " restored to " + entry.original + " (was " + before + ")");
      if (done) done->push_back(entry.key + " restored to " + entry.original);
    } else if (first.ok()) {
      first = s;
    }
  }
  co_return first;
}

asio::awaitable<Status> Ledger::ApplyAll(int64_t job,
                                         const std::vector<Setting>& settings,
                                         std::vector<std::string>* done) {
  struct Undo {
    const Setting* setting;
    std::string previous;              // the instance's value before this call
    std::optional<LedgerEntry> entry;  // its applied entry before this call
  };
  std::vector<Undo> undo;
  Status s;
  for (const Setting& setting : settings) {
    std::string key = Key(*setting.knob, setting.instance);
    std::optional<LedgerEntry> existing;
    s = store_->FindLedger(key, "applied", &existing);
    if (!s.ok()) break;
    Undo step{&setting, "", std::nullopt};
    s = co_await setting.knob->Read(setting.instance, &step.previous);
    if (!s.ok()) {
      s = s.WithContext("cannot read " + key);
      break;
    }
    LedgerEntry entry;
    if (existing) {
      step.entry = existing;
      entry = *existing;  // keep the original from before the first apply
    } else {
      entry.key = key;
      entry.state = "applied";
      entry.original = step.previous;
      entry.recipe = setting.knob->Recipe(setting.instance);
    }
    entry.job = job;
    entry.value = setting.value;
    s = store_->PutLedger(entry);
    if (!s.ok()) break;
    undo.push_back(step);
    s = co_await setting.knob->Write(setting.instance, setting.value);
    if (!s.ok()) {
      s = s.WithContext("cannot apply " + key);
      break;
    }
    KnobLog(job, key, step.previous, setting.value, "apply",
            "apply job " + std::to_string(job) + ": " + key + " = " + setting.value +
                " (was " + step.previous + ")");
    if (done) done->push_back(key + " = " + setting.value);
  }
  if (s.ok()) co_return s;
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
    std::string key = Key(*it->setting->knob, it->setting->instance);
    Status w = co_await it->setting->knob->Write(it->setting->instance, it->previous);
    Status e =
        it->entry ? store_->PutLedger(*it->entry) : store_->DeleteLedger(key, "applied");
    if (!w.ok() || !e.ok())
      spdlog::error("apply: cannot undo {}: {}", key, (!w.ok() ? w : e).message());
  }
  if (done) done->clear();
  co_return s;
}

asio::awaitable<Status> Ledger::Reapply(std::vector<std::string>* done) {
  std::vector<LedgerEntry> applied;
  Status first = Entries("applied", &applied);
  for (const LedgerEntry& entry : applied) {
    std::string before = co_await ReadRecipe(entry);
    Status s = co_await WriteRecipe(entry, entry.value);
    if (s.ok())
      KnobLog(entry.job, entry.key, before, entry.value, "re-apply at start",
              "apply job " + std::to_string(entry.job) + ": " + entry.key +
                  " re-applied as " + entry.value + " (was " + before + ")");
    if (s.ok() && done) done->push_back(entry.key + " re-applied as " + entry.value);
    if (!s.ok() && first.ok()) first = s;
  }
  co_return first;
}

asio::awaitable<Status> Ledger::RestoreApplied(std::vector<std::string>* done) {
  std::vector<LedgerEntry> applied;
  Status first = Entries("applied", &applied);
  std::reverse(applied.begin(), applied.end());
  for (const LedgerEntry& entry : applied) {
    std::string before = co_await ReadRecipe(entry);
    Status s;
    if (before != entry.original) s = co_await WriteRecipe(entry, entry.original);
    if (s.ok()) s = store_->DeleteLedger(entry.key, "applied");
    if (s.ok())
      KnobLog(entry.job, entry.key, before, entry.original,
              "restore of an applied setting",
              "apply job " + std::to_string(entry.job) + ": " + entry.key +
                  " restored to " + entry.original + " (was " + before + ")");
    if (s.ok() && done) done->push_back(entry.key + " restored to " + entry.original);
    if (!s.ok() && first.ok()) first = s;
  }
  co_return first;
}

}  // namespace hone
