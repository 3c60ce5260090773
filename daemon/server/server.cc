#include "daemon/server/server.h"

#include <grp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <string_view>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/protocol.h"
#include "daemon/server/session.h"

namespace hone {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using nlohmann::json;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Pause of the accept loop while accept fails (out of descriptors): doubling.
constexpr std::chrono::milliseconds kAcceptPauseMin{100};
constexpr std::chrono::milliseconds kAcceptPauseMax{1000};
// Connections taken from the backlog at a time.
constexpr int kAcceptBatch = 64;
// Descriptors honed wants besides its connections (database, jobs' pipes).
constexpr rlim_t kDescriptorsBesidesConnections = 64;
}  // namespace

bool Server::LogLimiter::Ready(size_t* held) {
  auto now = std::chrono::steady_clock::now();
  if (now < next) {
    ++held_back;
    return false;
  }
  next = now + session_detail::kLogInterval;
  *held = held_back;
  held_back = 0;
  return true;
}

Server::Server(asio::io_context& io, RequestHandler* handler, ServerOptions options)
    : io_(io),
      handler_(handler),
      options_(std::move(options)),
      acceptor_(io),
      accept_pause_(io),
      scratch_(session_detail::kReadChunk) {}

Server::~Server() = default;

Status ListenUnixSocket(asio::io_context& io, stream_protocol::acceptor& acceptor,
                        const std::string& path, const std::string& group_name,
                        const std::string& flag) {
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return Status::InvalidArgument("socket path is too long (at most " +
                                   std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                                   " bytes): " + path);
  std::error_code fs_ec;
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty() && std::filesystem::create_directories(dir, fs_ec))
    chmod(dir.c_str(), 0755);  // reachable; the socket's own mode decides who connects
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Status::FailedPrecondition(path + " exists and is not a socket; remove it or "
                                               "choose another " + flag);
    stream_protocol::socket probe(io);
    boost::system::error_code ec;
    probe.connect(stream_protocol::endpoint(path), ec);
    if (!ec)
      return Status::FailedPrecondition("another honed is already listening on " + path);
    unlink(path.c_str());  // stale, from a honed that died
  }
  boost::system::error_code ec;
  acceptor.open(stream_protocol(), ec);
  if (!ec) acceptor.bind(stream_protocol::endpoint(path), ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on " + path + ": " + ec.message());
  chmod(path.c_str(), 0660);
  if (geteuid() == 0 && !group_name.empty()) {
    if (group* g = getgrnam(group_name.c_str())) {
      if (chown(path.c_str(), 0, g->gr_gid) != 0)
        spdlog::warn("cannot give {} to group {}: {}", path, group_name, strerror(errno));
    } else {
      spdlog::warn("group '{}' does not exist; only root can use {}", group_name, path);
    }
  }
  return Status::OK();
}

Status Server::Listen() {
  Status s = ListenUnixSocket(io_, acceptor_, options_.socket_path, options_.socket_group,
                              "--socket");
  if (!s.ok()) return s;
  boost::system::error_code ec;
  acceptor_.non_blocking(true, ec);  // for the batches of AcceptLoop
  listening_ = true;
  WarnIfDescriptorsAreShort();
  return Status::OK();
}

void Server::WarnIfDescriptorsAreShort() const {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
  if (limit.rlim_cur >= options_.limits.max_connections + kDescriptorsBesidesConnections)
    return;
  spdlog::warn(
      "the descriptor limit ({}) leaves little room beside {} connections "
      "(--max-connections); raise it (LimitNOFILE=) or lower --max-connections",
      limit.rlim_cur, options_.limits.max_connections);
}

void Server::Start() { asio::co_spawn(io_, AcceptLoop(), asio::detached); }

// A failing accept (out of descriptors, mostly) pauses the loop, doubling the pause
// up to kAcceptPauseMax, and is logged once per episode; connections that are open
// are served meanwhile, and new ones wait in the listen backlog.
asio::awaitable<void> Server::AcceptLoop() {
  auto pause = kAcceptPauseMin;
  size_t failures = 0;
  auto first_failure = std::chrono::steady_clock::now();
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      if (failures++ == 0) {
        first_failure = std::chrono::steady_clock::now();
        rlimit limit{};
        getrlimit(RLIMIT_NOFILE, &limit);
        spdlog::warn(
            "cannot accept connections: {} ({} open, descriptor limit {}); new "
            "connections wait until it works again, retried every {} to {} ms",
            ec.message(), sessions_.size(), limit.rlim_cur, kAcceptPauseMin.count(),
            kAcceptPauseMax.count());
      }
      accept_pause_.expires_after(pause);
      co_await accept_pause_.async_wait(use_tuple);
      pause = std::min(pause * 2, kAcceptPauseMax);
      continue;
    }
    if (failures > 0) {
      std::chrono::duration<double> failing =
          std::chrono::steady_clock::now() - first_failure;
      spdlog::info("accepting connections again, after {} failed attempt(s) in {:.1f} s",
                   failures, failing.count());
      failures = 0;
      pause = kAcceptPauseMin;
    }
    Admit(std::move(socket));
    // What else waits in the backlog is taken now, rather than one connection per
    // turn of a busy event loop. A failure is left to the next async_accept.
    for (int i = 1; i < kAcceptBatch && acceptor_.is_open() && acceptor_.non_blocking();
         ++i) {
      boost::system::error_code more_ec;
      stream_protocol::socket more = acceptor_.accept(more_ec);
      if (more_ec) break;
      Admit(std::move(more));
    }
  }
}

void Server::Admit(stream_protocol::socket socket) {
  const size_t max = options_.limits.max_connections;
  const size_t per_user = options_.limits.max_connections_per_user;
  Peer peer = ReadPeer(socket.native_handle());
  size_t& of_peer = connections_of_[peer.uid];
  std::string refusal;
  if (sessions_.size() >= max)
    refusal = "honed serves at most " + std::to_string(max) + " connections; try again";
  else if (of_peer >= per_user)
    refusal = "uid " + std::to_string(peer.uid) + " has " + std::to_string(of_peer) +
              " connections open, the most honed serves to one user; close one and "
              "try again";
  if (!refusal.empty()) {
    if (of_peer == 0) connections_of_.erase(peer.uid);
    std::string line = EncodeError(0, Status::Unavailable(refusal));
    // A fresh socket's buffer takes one short line without blocking.
    (void)send(socket.native_handle(), line.data(), line.size(),
               MSG_DONTWAIT | MSG_NOSIGNAL);
    boost::system::error_code ignored;
    socket.close(ignored);
    size_t held = 0;
    if (refused_log_.Ready(&held))
      spdlog::warn(
          "{} connection(s) refused, the last because {} (--max-connections {}, "
          "--max-connections-per-user {}); logged at most every {} s",
          held + 1, refusal, max, per_user, session_detail::kLogInterval.count());
    return;
  }
  ++of_peer;
  auto session = std::make_shared<Session>(this, std::move(socket), std::move(peer));
  sessions_.insert(session);
  session->Start();
}

namespace {

// When a budget over all connections is spent, the session that holds the most by
// `held` goes: `session`, counting the `bytes` it asks for, or another.
std::shared_ptr<Session> Largest(const std::set<std::shared_ptr<Session>>& sessions,
                                 Session* session, size_t bytes,
                                 size_t (Session::*held)() const) {
  std::shared_ptr<Session> largest;
  for (const auto& s : sessions)
    if (s.get() != session && (!largest || (*s.*held)() > (*largest.*held)()))
      largest = s;
  if (!largest || (session->*held)() + bytes >= (*largest.*held)())
    return session->shared_from_this();
  return largest;
}

}  // namespace

bool Server::ReserveLineMemory(Session* session, size_t bytes) {
  size_t budget = options_.limits.max_line_memory;
  while (line_memory_ + bytes > budget) {
    std::shared_ptr<Session> largest =
        Largest(sessions_, session, bytes, &Session::line_memory);
    bool self = largest.get() == session;
    pid_t pid = largest->pid();
    size_t held = 0;
    if (line_memory_log_.Ready(&held))
      spdlog::warn(
          "partial request lines hold more than {} bytes over all connections "
          "(--max-line-memory); refusing the largest, from pid {}{}",
          budget, pid, session_detail::HeldBack(held));
    Status error = Status::Unavailable(
        "honed's memory for partial request lines (" + std::to_string(budget) +
        " bytes over all connections) is spent, and this connection's line is the "
        "largest; closing the connection; try again");
    largest->Refuse(error, /*drain=*/true);
    if (self) return false;
  }
  return true;
}

bool Server::ReserveOutboxMemory(Session* session, size_t bytes) {
  size_t budget = options_.limits.max_outbox_memory;
  while (outbox_memory_ + bytes > budget) {
    std::shared_ptr<Session> largest =
        Largest(sessions_, session, bytes, &Session::outbox_bytes);
    bool self = largest.get() == session;
    pid_t pid = largest->pid();
    size_t held = 0;
    if (outbox_log_.Ready(&held))
      spdlog::warn(
          "unsent replies and events hold more than {} bytes over all connections "
          "(--max-outbox-memory); disconnecting the client with the most, pid {}{}",
          budget, pid, session_detail::HeldBack(held));
    largest->Close();
    if (self) return false;
  }
  return true;
}

void Server::Stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_pause_.cancel();
  if (listening_) unlink(options_.socket_path.c_str());
  listening_ = false;
  auto sessions = sessions_;
  for (const auto& session : sessions) session->Close();
}

}  // namespace hone
