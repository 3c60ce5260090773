// The ledger and the knob bindings: originals stored before writes, configurations
// never half-applied (a fault-injecting machine fails the Nth write), and every
// original put back.
#include "daemon/knobs/catalog.h"
#include "daemon/knobs/ledger.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "daemon/journal.h"
#include "daemon/knobs/knob_bindings.h"
#include "tests/await.h"
#include "tests/fake_machine.h"
#include "tests/faulty_machine.h"
#include "tests/test_util.h"

namespace hone {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

// Replaces the default logger while it lives, and keeps every line with the journal
// fields in force when it was logged (daemon/journal.h).
class CapturedLog {
 public:
  struct Line {
    std::string message;
    std::map<std::string, std::string> fields;
  };
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("captured", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::vector<Line> With(const std::string& field) const {
    std::vector<Line> lines;
    for (const Line& line : sink_->lines)
      if (line.fields.count(field)) lines.push_back(line);
    return lines;
  }
  void Clear() { sink_->lines.clear(); }

 private:
  struct Sink : spdlog::sinks::base_sink<std::mutex> {
    std::vector<Line> lines;
    void sink_it_(const spdlog::details::log_msg& msg) override {
      Line line{std::string(msg.payload.data(), msg.payload.size()), {}};
      for (const auto& [name, value] : LogFields::Current()) line.fields[name] = value;
      lines.push_back(std::move(line));
    }
    void flush_() override {}
  };
  std::shared_ptr<Sink> sink_ = std::make_shared<Sink>();
  std::shared_ptr<spdlog::logger> previous_;
};

using test::Await;

SystemKnob* Find(std::vector<CatalogEntry>& catalog, const std::string& name) {
  for (CatalogEntry& e : catalog)
    if (e.name == name) return e.knob.get();
  return nullptr;
}

class LedgerTest : public ::testing::Test {
 protected:
  LedgerTest() {
    std::filesystem::create_directory(dir_.path() + "/root");
    tree_ = std::make_unique<test::FakeMachineTree>(dir_.path() + "/root");
    original_ = tree_->Snapshot();
    machine_ = MakeMachine(tree_->root());
    EXPECT_TRUE(Store::Open(dir_.path() + "/honed.db", &store_).ok());
  }

  // A space over the L2 streamer (4 CPUs: 4 MSR writes) and swappiness (1 write).
  SearchSpace Space() {
    SearchSpace space;
    EXPECT_TRUE(SearchSpace::Create({{"prefetch.l2_stream", {"on", "off"}, 0},
                                     {"vm.swappiness", {60, 10}, 0}},
                                    &space)
                    .ok());
    return space;
  }

  test::TempDir dir_;
  std::unique_ptr<test::FakeMachineTree> tree_;
  std::map<std::string, std::string> original_;
  std::unique_ptr<Machine> machine_;
  std::unique_ptr<Store> store_;
};

TEST_F(LedgerTest, ApplyWritesEveryInstanceAndRestoreHeldPutsEverythingBack) {
  std::vector<CatalogEntry> catalog = BuildCatalog(machine_.get());
  Ledger ledger(store_.get(), machine_.get());
  KnobBindings bindings(7, &ledger);
  bindings.Add(0, Find(catalog, "prefetch.l2_stream"));
  bindings.Add(1, Find(catalog, "vm.swappiness"));
  ASSERT_TRUE(Await(bindings.ReadCurrent()).ok());
  SearchSpace space = Space();
  CapturedLog captured;
  auto expect_fields = [](CapturedLog::Line& line, const char* old_value,
                          const char* new_value, const char* reason) {
    EXPECT_EQ(line.fields["HONE_KNOB"], "vm.swappiness");
    EXPECT_EQ(line.fields["HONE_OLD"], old_value);
    EXPECT_EQ(line.fields["HONE_NEW"], new_value);
    EXPECT_EQ(line.fields["HONE_REASON"], reason);
    EXPECT_EQ(line.fields["HONE_JOB"], "7");
  };
  ASSERT_TRUE(Await(bindings.Apply(space, {1, 1}, "trial 1")).ok());
  // One line per instance written, with its journal fields.
  std::vector<CapturedLog::Line> writes = captured.With("HONE_KNOB");
  ASSERT_EQ(writes.size(), 5u);
  EXPECT_EQ(writes[4].message, "job 7 trial 1: vm.swappiness: 60 -> 10");
  expect_fields(writes[4], "60", "10", "trial 1");
  for (int cpu = 0; cpu < 4; ++cpu) EXPECT_EQ(tree_->ReadMsr(cpu, 0x1a4) & 1, 1u);
  EXPECT_EQ(tree_->Read("proc/sys/vm/swappiness"), "10\n");
  std::vector<LedgerEntry> held;
  ASSERT_TRUE(ledger.Entries("held", &held).ok());
  ASSERT_EQ(held.size(), 5u);
  EXPECT_EQ(held[0].key, "prefetch.l2_stream/cpu0");
  EXPECT_EQ(held[0].original, "on");
  EXPECT_EQ(held[4].original, "60");

  std::vector<std::string> done;
  captured.Clear();
  ASSERT_TRUE(Await(ledger.RestoreHeld(7, &done)).ok());
  EXPECT_EQ(done.size(), 5u);
  // Each restore: one line with the value it replaced and the original it wrote.
  writes = captured.With("HONE_KNOB");
  ASSERT_EQ(writes.size(), 5u);
  EXPECT_EQ(writes[0].message, "job 7: vm.swappiness restored to 60 (was 10)");
  expect_fields(writes[0], "10", "60", "restore");
  EXPECT_EQ(tree_->Snapshot(), original_);
  ASSERT_TRUE(ledger.Entries("held", &held).ok());
  EXPECT_TRUE(held.empty());
}

// The Nth write fails, for every N a configuration needs: the writes already made
// are undone at once, and what the ledger holds restores the rest.
TEST_F(LedgerTest, AFailedWriteLeavesNothingHalfApplied) {
  for (int fail_at = 1; fail_at <= 5; ++fail_at) {
    SCOPED_TRACE(fail_at);
    FaultInjectingMachine faulty(machine_.get(), fail_at);
    std::vector<CatalogEntry> catalog = BuildCatalog(&faulty);
    Ledger ledger(store_.get(), &faulty);
    KnobBindings bindings(fail_at, &ledger);
    bindings.Add(0, Find(catalog, "prefetch.l2_stream"));
    bindings.Add(1, Find(catalog, "vm.swappiness"));
    ASSERT_TRUE(Await(bindings.ReadCurrent()).ok());
    SearchSpace space = Space();
    Status s = Await(bindings.Apply(space, {1, 1}, "trial 1"));
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("injected"), std::string::npos) << s.message();
    EXPECT_EQ(tree_->Snapshot(), original_)
        << "half-applied after a failure at write " << fail_at;
    ASSERT_TRUE(Await(ledger.RestoreHeld(fail_at, nullptr)).ok());
    EXPECT_EQ(tree_->Snapshot(), original_);
  }
}

TEST_F(LedgerTest, ARecipeAloneRestoresAfterTheKnobObjectsAreGone) {
  {
    std::vector<CatalogEntry> catalog = BuildCatalog(machine_.get());
    Ledger ledger(store_.get(), machine_.get());
    KnobBindings bindings(1, &ledger);
    bindings.Add(0, Find(catalog, "prefetch.l2_stream"));
    bindings.Add(1, Find(catalog, "vm.swappiness"));
    ASSERT_TRUE(Await(bindings.ReadCurrent()).ok());
    SearchSpace space = Space();
    ASSERT_TRUE(Await(bindings.Apply(space, {1, 1}, "trial 1")).ok());
  }
  ASSERT_NE(tree_->Snapshot(), original_);
  // As after a crash: a new store handle, a new machine, no catalog.
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(dir_.path() + "/honed.db", &store).ok());
  std::unique_ptr<Machine> machine = MakeMachine(tree_->root());
  Ledger ledger(store.get(), machine.get());
  ASSERT_TRUE(Await(ledger.RestoreHeld(std::nullopt, nullptr)).ok());
  EXPECT_EQ(tree_->Snapshot(), original_);
}

// hone apply: all or nothing, for every write that could fail.
TEST_F(LedgerTest, ApplyAllPutsBackWhatItWroteWhenAWriteFails) {
  for (int fail_at = 1; fail_at <= 5; ++fail_at) {
    SCOPED_TRACE(fail_at);
    FaultInjectingMachine faulty(machine_.get(), fail_at);
    std::vector<CatalogEntry> catalog = BuildCatalog(&faulty);
    Ledger ledger(store_.get(), &faulty);
    std::vector<Ledger::Setting> settings;
    SystemKnob* l2 = Find(catalog, "prefetch.l2_stream");
    for (const std::string& instance : l2->Instances())
      settings.push_back({l2, instance, "off"});
    settings.push_back({Find(catalog, "vm.swappiness"), "", "10"});
    std::vector<std::string> done;
    Status s = Await(ledger.ApplyAll(1, settings, &done));
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(done.empty());
    EXPECT_EQ(tree_->Snapshot(), original_);
    std::vector<LedgerEntry> applied;
    ASSERT_TRUE(ledger.Entries("applied", &applied).ok());
    EXPECT_TRUE(applied.empty()) << "an entry for a value never set would be re-applied";
  }
}

// The job a line is about, for its HONE_JOB field, from how honed words its lines.
TEST(JournalTest, TheJobOfALineComesFromItsFirstWords) {
  EXPECT_EQ(JobOfMessage("job 3: started"), 3);
  EXPECT_EQ(JobOfMessage("job 12 trial 4: vm.swappiness: 60 -> 10"), 12);
  EXPECT_EQ(JobOfMessage("apply job 7: vm.swappiness = 10 (was 60)"), 7);
  EXPECT_EQ(JobOfMessage("jobs: 3"), 0);
  EXPECT_EQ(JobOfMessage("job x: y"), 0);
  EXPECT_EQ(JobOfMessage("job 3x: y"), 0);
  EXPECT_EQ(JobOfMessage("job " + std::string(40, '9') + ": y"), 0);
  EXPECT_EQ(JobOfMessage("reload: log-level info -> debug"), 0);
  // Fields nest, and go with their scope.
  {
    LogFields outer(std::vector<std::pair<std::string, std::string>>{{"HONE_JOB", "3"}});
    {
      LogFields inner(
          std::vector<std::pair<std::string, std::string>>{{"HONE_KNOB", "k/"}});
      EXPECT_EQ(LogFields::Current().size(), 2u);
    }
    EXPECT_EQ(LogFields::Current().size(), 1u);
  }
  EXPECT_TRUE(LogFields::Current().empty());
}

}  // namespace
}  // namespace hone
