// Specification of daemon/store/state_dir.h: honed trusts a state directory only when
// nobody but its own user (or root) can change it, locks it against a second
// honed, and writes files there without following planted symlinks (issue 14).
#include "daemon/store/state_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace hone {
namespace {

using test::ReadFile;
using test::TempDir;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(StateDirTest, AFreshDirectoryIsCreatedTrustedAndLocked) {
  TempDir dir;
  StateDir state;
  Status s = state.Open(dir.path() + "/state");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ReadFile(dir.path() + "/state/honed.lock"), std::to_string(getpid()) + "\n");
}

TEST(StateDirTest, Issue14ASecondHonedOnTheSameDirectoryIsRefusedWithTheFirstsPid) {
  TempDir dir;
  StateDir first, second;
  ASSERT_TRUE(first.Open(dir.path()).ok());
  Status s = second.Open(dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "another honed (pid " + std::to_string(getpid()) +
                                        ") is using state directory"))
      << s.message();
}

TEST(StateDirTest, TheLockEndsWithItsHolder) {
  TempDir dir;
  { StateDir first; ASSERT_TRUE(first.Open(dir.path()).ok()); }
  StateDir second;
  EXPECT_TRUE(second.Open(dir.path()).ok());
}

TEST(StateDirTest, Issue14ADirectoryWritableByOthersIsRefused) {
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  StateDir state;
  Status s = state.Open(dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "writable by its group or others (mode 0777)"))
      << s.message();
  EXPECT_TRUE(Contains(s.message(), "chmod go-w " + dir.path())) << s.message();
}

TEST(StateDirTest, Issue14ASymlinkIsRefused) {
  TempDir dir;
  ASSERT_EQ(mkdir((dir.path() + "/real").c_str(), 0755), 0);
  ASSERT_EQ(symlink((dir.path() + "/real").c_str(), (dir.path() + "/link").c_str()), 0);
  Status s = CheckTrustedDirectory(dir.path() + "/link", "state directory");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "is a symbolic link")) << s.message();
}

TEST(StateDirTest, Issue14ADirectoryUnderOneOthersCanWriteIsRefusedUnlessSticky) {
  TempDir dir;
  std::string open_dir = dir.path() + "/open";
  ASSERT_EQ(mkdir(open_dir.c_str(), 0755), 0);
  ASSERT_EQ(chmod(open_dir.c_str(), 0777), 0);
  ASSERT_EQ(mkdir((open_dir + "/state").c_str(), 0755), 0);
  Status s = CheckTrustedDirectory(open_dir + "/state", "state directory");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), open_dir + " above it is writable")) << s.message();
  // Sticky, as /tmp is: nobody can rename or remove another user's entries.
  ASSERT_EQ(chmod(open_dir.c_str(), 01777), 0);
  s = CheckTrustedDirectory(open_dir + "/state", "state directory");
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(StateDirTest, Issue14ADirectoryOwnedBySomeoneElseIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  TempDir dir;
  std::string state = dir.path() + "/state";
  ASSERT_EQ(mkdir(state.c_str(), 0755), 0);
  ASSERT_EQ(chown(state.c_str(), 65534, 65534), 0);
  Status s = CheckTrustedDirectory(state, "state directory");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "belongs to uid 65534, not to honed's user (uid 0)"))
      << s.message();
  // Likewise a directory above it.
  ASSERT_EQ(chown(state.c_str(), 0, 0), 0);
  ASSERT_EQ(chown(dir.path().c_str(), 65534, 65534), 0);
  s = CheckTrustedDirectory(state, "state directory");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), dir.path() + " above it belongs to uid 65534"))
      << s.message();
  ASSERT_EQ(chown(dir.path().c_str(), 0, 0), 0);
}

TEST(StateDirTest, Issue14ASymlinkAtTheTemporaryNameIsRemovedNotFollowed) {
  TempDir dir;
  std::string secret = dir.Write("secret", "root only\n");
  ASSERT_EQ(chmod(secret.c_str(), 0600), 0);
  std::string target = dir.path() + "/job-1.env";
  ASSERT_EQ(symlink(secret.c_str(), (target + ".tmp").c_str()), 0);
  Status s = WriteFileAtomically(target, "inter_op=2\n", 0644);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ReadFile(secret), "root only\n");
  struct stat st {};
  ASSERT_EQ(stat(secret.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadFile(target), "inter_op=2\n");
  ASSERT_EQ(lstat(target.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

}  // namespace
}  // namespace hone
