// honed's connection limits, one regression test per finding: every member of the
// hone group may connect, so each connection is treated as hostile. The tests talk
// to a private honed over raw sockets, as a hostile or careless client would.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "tests/test_util.h"

namespace hone {
namespace {

using nlohmann::json;
using test::CommandResult;
using test::Honed;
using test::ReadFile;
using test::TempDir;
using test::WaitFor;

std::chrono::steady_clock::time_point Deadline(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(seconds));
}

// One raw client connection to honed.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Close();
  }
  ~RawConnection() { Close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Sends every byte, blocking; returns 0, or the errno that stopped it.
  int SendAll(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      sent += static_cast<size_t>(n);
    }
    return 0;
  }

  // The next line, without its newline; nullopt when none comes within `seconds`
  // or the connection ends first.
  std::optional<std::string> ReadLine(double seconds) {
    auto deadline = Deadline(seconds);
    for (;;) {
      size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      if (!Fill(deadline)) return std::nullopt;
    }
  }

  // Reads and drops until honed closes the connection; false when it stays open
  // for `seconds`.
  bool WaitForEof(double seconds) {
    auto deadline = Deadline(seconds);
    while (Fill(deadline)) buffer_.clear();
    return eof_;
  }

 private:
  // Reads what arrives before `deadline`; false at the deadline or at the end.
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    if (fd_ < 0 || eof_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[65536];
    ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;  // closed, or reset after the last byte
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool eof_ = false;
  std::string buffer_;
};

std::string PingLine(int id) {
  return "{\"v\":1,\"id\":" + std::to_string(id) + ",\"cmd\":\"ping\"}\n";
}

// True when `connection` answers a ping.
bool Pings(RawConnection& connection, int id = 1) {
  if (!connection.connected() || connection.SendAll(PingLine(id)) != 0) return false;
  std::optional<std::string> line = connection.ReadLine(20);
  if (!line) return false;
  json reply = json::parse(*line, nullptr, false);
  return reply.is_object() && reply.value("id", -1) == id && reply.value("ok", false);
}

size_t Count(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + what.size()))
    ++count;
  return count;
}

// A line of /proc/PID/status in KiB ("VmHWM", "VmRSS"); -1 when missing.
long StatusKiB(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return -1;
}

size_t OpenDescriptors(pid_t pid) {
  std::error_code ec;
  size_t count = 0;
  for (auto it = std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++count;
  return count;
}

class ServerLimitsTest : public ::testing::Test {
 protected:
  void StartHoned(std::vector<std::string> args = {}) {
    honed_ = std::make_unique<Honed>(dir_.path(), std::move(args));
    ASSERT_TRUE(honed_->Start()) << ReadFile(honed_->log_path());
  }

  // Opens `count` connections that each answer a ping. The connections of
  // StartHoned's ping count until honed has seen them close: each place is taken
  // once it is free.
  void Hold(int count, std::vector<std::unique_ptr<RawConnection>>* held) {
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(WaitFor(
          [&] {
            auto connection = std::make_unique<RawConnection>(honed_->socket());
            if (!Pings(*connection)) return false;
            held->push_back(std::move(connection));
            return true;
          },
          20))
          << i;
    }
  }

  // Whether a new connection is served (answers a ping) within 20 s.
  bool AFreshConnectionPings() {
    return WaitFor(
        [&] {
          RawConnection again(honed_->socket());
          return Pings(again);
        },
        20);
  }

  TempDir dir_;
  std::unique_ptr<Honed> honed_;
};

// Finding: connections were unbounded.
TEST_F(ServerLimitsTest, TheConnectionBeyondTheCapIsToldSoAndTheEarlierOnesKeepWorking) {
  StartHoned({"--max-connections", "4"});
  std::vector<std::unique_ptr<RawConnection>> held;
  ASSERT_NO_FATAL_FAILURE(Hold(4, &held));

  RawConnection extra(honed_->socket());
  std::optional<std::string> line = extra.ReadLine(20);  // unasked
  ASSERT_TRUE(line) << "the fifth connection got no error";
  json reply = json::parse(*line);
  EXPECT_EQ(reply["id"], 0);
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["error"]["code"], "unavailable");
  EXPECT_EQ(reply["error"]["message"], "honed serves at most 4 connections; try again");
  EXPECT_TRUE(extra.WaitForEof(20));
  for (auto& connection : held) EXPECT_TRUE(Pings(*connection, 2));

  // hone shows that error, whether honed closed before or after its request.
  CommandResult ping = honed_->Hone({"ping"});
  EXPECT_EQ(ping.exit_code, 3);
  EXPECT_NE(ping.err.find("at most 4 connections"), std::string::npos) << ping.err;

  // Refusals are logged at most once per interval, not once per connection.
  for (int i = 0; i < 50; ++i) {
    RawConnection refused(honed_->socket());
    EXPECT_TRUE(refused.ReadLine(20)) << i;
  }
  std::string log = ReadFile(honed_->log_path());
  EXPECT_GE(Count(log, "connection(s) refused"), 1u) << log;
  EXPECT_LE(Count(log, "connection(s) refused"), 2u) << log;

  // A place that frees up is taken again.
  held.pop_back();
  EXPECT_TRUE(AFreshConnectionPings());
}

// Finding: one member of the socket's group could take every connection.
TEST_F(ServerLimitsTest, OneUserGetsAtMostItsShareOfTheConnections) {
  StartHoned({"--max-connections", "8", "--max-connections-per-user", "3"});
  std::vector<std::unique_ptr<RawConnection>> held;
  ASSERT_NO_FATAL_FAILURE(Hold(3, &held));
  // Fewer than --max-connections are open, but this user has its three.
  RawConnection extra(honed_->socket());
  std::optional<std::string> line = extra.ReadLine(20);
  ASSERT_TRUE(line) << "the fourth connection of one user got no error";
  json reply = json::parse(*line);
  EXPECT_EQ(reply["error"]["code"], "unavailable");
  EXPECT_EQ(reply["error"]["message"],
            "uid " + std::to_string(geteuid()) +
                " has 3 connections open, the most honed serves to one user; close one "
                "and try again");
  EXPECT_TRUE(extra.WaitForEof(20));
  for (auto& connection : held) EXPECT_TRUE(Pings(*connection, 2));
  EXPECT_NE(ReadFile(honed_->log_path()).find("--max-connections-per-user 3"),
            std::string::npos);

  // A place the user frees is the user's again.
  held.pop_back();
  EXPECT_TRUE(AFreshConnectionPings());
}

// Finding: no timeout on a partial line.
TEST_F(ServerLimitsTest, APartialLineIsAnsweredAndClosedAfterTheLineTimeout) {
  StartHoned({"--line-timeout", "0.3"});
  RawConnection idle(honed_->socket());
  ASSERT_TRUE(Pings(idle));

  RawConnection partial(honed_->socket());
  ASSERT_EQ(partial.SendAll("{\"v\":1,\"id\":2,\"cmd\":\"pi"), 0);
  std::optional<std::string> line = partial.ReadLine(30);
  ASSERT_TRUE(line) << "no answer to a partial line";
  json reply = json::parse(*line);
  EXPECT_EQ(reply["id"], 0);
  EXPECT_EQ(reply["error"]["code"], "invalid_argument");
  std::string message = reply["error"]["message"];
  EXPECT_NE(message.find("within 0.3 s"), std::string::npos) << message;
  EXPECT_NE(message.find("--line-timeout"), std::string::npos) << message;
  EXPECT_TRUE(partial.WaitForEof(20));

  // `idle` has been idle for longer than the timeout, with no partial line (as a
  // watch client is): it is still served.
  EXPECT_TRUE(Pings(idle, 3));
}

// Finding: 200 connections that each send 4 MiB without a newline held 842 MB.
TEST_F(ServerLimitsTest, ManyBigPartialLinesStayWithinTheLineMemoryBudget) {
  StartHoned();
  constexpr int kConnections = 64;
  const std::string line = "{\"v\":1,\"id\":1,\"cmd\":\"ping\",\"args\":{\"x\":\"" +
                           std::string(3 << 20, 'x');  // 3 MiB, no newline
  std::vector<std::unique_ptr<RawConnection>> connections;
  std::vector<size_t> sent(kConnections, 0);
  for (int i = 0; i < kConnections; ++i) {
    connections.push_back(std::make_unique<RawConnection>(honed_->socket()));
    ASSERT_TRUE(connections.back()->connected());
    fcntl(connections.back()->fd(), F_SETFL, O_NONBLOCK);
  }
  // Send until every connection has sent its line or honed has closed it.
  int busy = kConnections;
  bool finished = WaitFor(
      [&] {
        for (int i = 0; i < kConnections; ++i) {
          RawConnection& c = *connections[i];
          if (!c.connected()) continue;
          ssize_t n = send(c.fd(), line.data() + sent[i], line.size() - sent[i],
                           MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n > 0) sent[i] += static_cast<size_t>(n);
          if ((n < 0 && errno != EAGAIN) || sent[i] == line.size()) {
            c.Close();
            --busy;
          }
        }
        return busy == 0;
      },
      120);
  ASSERT_TRUE(finished) << busy << " connections still sending";
  long peak_kib = StatusKiB(honed_->pid(), "VmHWM");
  ASSERT_GT(peak_kib, 0);
  // The budget for partial lines is 32 MiB; honed itself needs about 10.
  EXPECT_LT(peak_kib, 100 * 1024) << "honed's peak RSS";
  EXPECT_EQ(honed_->Hone({"ping"}).exit_code, 0);
}

// Finding: at the descriptor limit, accept spun and wrote 435 MB of log in 20 s.
TEST_F(ServerLimitsTest, AtTheDescriptorLimitHonedPausesAcceptingAndKeepsServing) {
  StartHoned();
  RawConnection existing(honed_->socket());
  ASSERT_TRUE(Pings(existing));
  // Room for three more connections.
  pid_t pid = honed_->pid();
  rlimit limit{};
  ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, nullptr, &limit), 0) << strerror(errno);
  limit.rlim_cur = OpenDescriptors(pid) + 3;
  ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, &limit, nullptr), 0) << strerror(errno);
  size_t log_before = ReadFile(honed_->log_path()).size();

  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < 6; ++i)
    flood.push_back(std::make_unique<RawConnection>(honed_->socket()));
  ASSERT_TRUE(WaitFor([&] { return OpenDescriptors(pid) >= limit.rlim_cur; }, 20));
  // Give honed's accept the chance to fail, and prove the loop still serves.
  for (int i = 2; i < 12; ++i) EXPECT_TRUE(Pings(existing, i));

  // Once descriptors free up, new connections are accepted again.
  flood.clear();
  EXPECT_TRUE(AFreshConnectionPings());
  EXPECT_TRUE(Pings(existing, 20));

  std::string log = ReadFile(honed_->log_path()).substr(log_before);
  EXPECT_LT(log.size(), 4096u) << log.substr(0, 2000);
  EXPECT_GE(Count(log, "Too many open files"), 1u) << log.substr(0, 2000);
  EXPECT_LE(Count(log, "Too many open files"), 2u) << log.substr(0, 2000);
}

// Finding: the line-too-long error never reached a client that was still writing.
TEST_F(ServerLimitsTest, TheLineTooLongErrorReachesAClientThatIsStillWriting) {
  StartHoned();
  RawConnection writer(honed_->socket());
  std::string huge = "{\"v\":1,\"id\":1,\"cmd\":\"ping\",\"args\":{\"x\":\"" +
                     std::string(6 << 20, 'a') + "\"}}\n";
  int error = writer.SendAll(huge);
  EXPECT_EQ(error, 0) << "sending the line failed: " << strerror(error);
  std::optional<std::string> line = writer.ReadLine(20);
  ASSERT_TRUE(line) << "no error reached the client";
  json reply = json::parse(*line);
  EXPECT_EQ(reply["error"]["code"], "invalid_argument");
  EXPECT_NE(reply["error"]["message"].get<std::string>().find("exceeds 4194304 bytes"),
            std::string::npos)
      << *line;
  EXPECT_TRUE(writer.WaitForEof(20));

  // hone refuses such a config itself, before sending it, with the limit.
  std::string config =
      dir_.Write("huge.yaml",
                 "domain:\n  common:\n    knobs:\n      n: {options: [1, 2]}\n"
                 "    target: duration:min\n# " +
                     std::string(5 << 20, 'x') + "\n");
  CommandResult submit = honed_->Hone({"submit", config, "--", "true"});
  EXPECT_EQ(submit.exit_code, 2) << submit.err;
  EXPECT_NE(submit.err.find("the limit is 1048576"), std::string::npos) << submit.err;
  EXPECT_EQ(honed_->Hone({"ping"}).exit_code, 0);
}

}  // namespace
}  // namespace hone
