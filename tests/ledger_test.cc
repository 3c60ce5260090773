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

#include "daemon/knobs/knob_bindings.h"
#include "tests/await.h"
#include "tests/fake_machine.h"
#include "tests/faulty_machine.h"
#include "tests/test_util.h"

namespace hone {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

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
  std::vector<std::string> log;
  ASSERT_TRUE(Await(bindings.Apply(space, {1, 1}, &log)).ok());
  EXPECT_EQ(log.size(), 5u);
  for (int cpu = 0; cpu < 4; ++cpu) EXPECT_EQ(tree_->ReadMsr(cpu, 0x1a4) & 1, 1u);
  EXPECT_EQ(tree_->Read("proc/sys/vm/swappiness"), "10\n");
  std::vector<LedgerEntry> held;
  ASSERT_TRUE(ledger.Entries("held", &held).ok());
  ASSERT_EQ(held.size(), 5u);
  EXPECT_EQ(held[0].key, "prefetch.l2_stream/cpu0");
  EXPECT_EQ(held[0].original, "on");
  EXPECT_EQ(held[4].original, "60");

  std::vector<std::string> done;
  ASSERT_TRUE(Await(ledger.RestoreHeld(7, &done)).ok());
  EXPECT_EQ(done.size(), 5u);
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
    Status s = Await(bindings.Apply(space, {1, 1}, nullptr));
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
    ASSERT_TRUE(Await(bindings.Apply(space, {1, 1}, nullptr)).ok());
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

}  // namespace
}  // namespace hone
