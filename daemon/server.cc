#include "daemon/server.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/protocol.h"

namespace hone {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using nlohmann::json;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// A client that lets this much output pile up unread is disconnected.
constexpr size_t kMaxOutboxBytes = 64 << 20;

Peer ReadPeer(int fd) {
  Peer peer;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    peer.pid = cred.pid;
    peer.uid = cred.uid;
    peer.gid = cred.gid;
  } else {
    peer.uid = static_cast<uid_t>(-1);  // unknown: treated as nobody in particular
    peer.gid = static_cast<gid_t>(-1);
  }
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      peer.groups = std::move(groups);
      break;
    }
    if (errno != ERANGE || groups.size() > 65536) break;
    groups.resize(glen / sizeof(gid_t) + 1);
  }
  return peer;
}
}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server* server, stream_protocol::socket socket, Peer peer)
      : server_(server), socket_(std::move(socket)), signal_(socket_.get_executor()) {
    context_.peer = std::move(peer);
    context_.watches = &watches_;
    signal_.expires_at(asio::steady_timer::time_point::max());
  }

  void Start() {
    auto self = shared_from_this();
    asio::co_spawn(
        socket_.get_executor(), [self] { return self->Reader(); }, asio::detached);
    asio::co_spawn(
        socket_.get_executor(), [self] { return self->Writer(); }, asio::detached);
  }

  void Deliver(std::string line) {
    if (closed_) return;
    outbox_bytes_ += line.size();
    if (outbox_bytes_ > kMaxOutboxBytes) {
      spdlog::warn("client pid {} reads too slowly; disconnecting", context_.peer.pid);
      Close();
      return;
    }
    outbox_.push_back(std::move(line));
    signal_.cancel_one();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    for (uint64_t token : watches_) server_->handler_->jobs()->Unwatch(token);
    watches_.clear();
    boost::system::error_code ignored;
    socket_.shutdown(stream_protocol::socket::shutdown_both, ignored);
    socket_.close(ignored);
    signal_.cancel();
    server_->sessions_.erase(shared_from_this());
  }

 private:
  asio::awaitable<void> Reader() {
    std::string buffer;
    while (!closed_) {
      auto [ec, n] = co_await asio::async_read_until(
          socket_, asio::dynamic_buffer(buffer, kMaxLineBytes + 1), '\n', use_tuple);
      if (ec == asio::error::not_found) {
        Deliver(
            EncodeError(0, Status::InvalidArgument("request line exceeds " +
                                                   std::to_string(kMaxLineBytes) +
                                                   " bytes; closing the connection")));
        close_after_flush_ = true;
        signal_.cancel_one();
        co_return;
      }
      if (ec == asio::error::eof) {
        // The client closed its side: answer what it asked, follow its watches to
        // their end, then close.
        reading_done_ = true;
        MaybeFinish();
        co_return;
      }
      if (ec) break;
      std::string line = buffer.substr(0, n - 1);
      buffer.erase(0, n);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      co_await HandleLine(line);
    }
    Close();
  }

  asio::awaitable<void> HandleLine(const std::string& line) {
    Request request;
    Status s = DecodeRequest(line, &request);
    if (!s.ok()) {
      spdlog::debug("bad request from pid {}: {}", context_.peer.pid, s.message());
      Deliver(EncodeError(request.id, s));
      co_return;
    }
    std::weak_ptr<Session> weak = weak_from_this();
    int64_t id = request.id;
    context_.sink = [weak, id](const json& event) {
      auto self = weak.lock();
      if (!self) return;
      self->Deliver(EncodeEvent(id, event));
      if (event.value("type", "") == "end") self->WatchEnded(id);
    };
    size_t watches_before = watches_.size();
    json result;
    try {
      s = co_await server_->handler_->Handle(request, context_, &result);
    } catch (const std::exception& e) {
      // A bug in a handler must not take the daemon down with it.
      spdlog::error("request '{}' failed: {}", request.cmd, e.what());
      s = Status::Internal(std::string("internal error: ") + e.what());
    }
    if (watches_.size() > watches_before) watch_of_request_[id] = watches_.back();
    Deliver(s.ok() ? EncodeResult(id, result) : EncodeError(id, s));
  }

  void WatchEnded(int64_t request_id) {
    auto it = watch_of_request_.find(request_id);
    if (it == watch_of_request_.end()) return;
    std::erase(watches_, it->second);
    watch_of_request_.erase(it);
    MaybeFinish();
  }

  // After the client's EOF, the connection closes once nothing is left to send.
  void MaybeFinish() {
    if (!reading_done_ || !watches_.empty()) return;
    close_after_flush_ = true;
    signal_.cancel_one();
  }

  asio::awaitable<void> Writer() {
    while (!closed_) {
      if (outbox_.empty()) {
        if (close_after_flush_) break;
        co_await signal_.async_wait(use_tuple);
        continue;
      }
      auto [ec, n] =
          co_await asio::async_write(socket_, asio::buffer(outbox_.front()), use_tuple);
      if (ec) break;
      outbox_bytes_ -= outbox_.front().size();
      outbox_.pop_front();
    }
    Close();
  }

  Server* server_;
  stream_protocol::socket socket_;
  asio::steady_timer signal_;  // cancelled to wake the writer
  std::deque<std::string> outbox_;
  size_t outbox_bytes_ = 0;
  bool closed_ = false;
  bool close_after_flush_ = false;
  bool reading_done_ = false;
  std::vector<uint64_t> watches_;
  std::map<int64_t, uint64_t> watch_of_request_;  // request id -> watch token
  RequestHandler::Context context_;
};

Server::Server(asio::io_context& io, RequestHandler* handler, ServerOptions options)
    : io_(io), handler_(handler), options_(std::move(options)), acceptor_(io) {}

Server::~Server() = default;

Status Server::Listen() {
  const std::string& path = options_.socket_path;
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
      return Status::FailedPrecondition(path +
                                        " exists and is not a socket; remove it or "
                                        "choose another --socket");
    stream_protocol::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(stream_protocol::endpoint(path), ec);
    if (!ec)
      return Status::FailedPrecondition("another honed is already listening on " + path);
    unlink(path.c_str());  // stale, from a honed that died
  }
  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(path), ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on " + path + ": " + ec.message());
  chmod(path.c_str(), 0660);
  if (geteuid() == 0 && !options_.socket_group.empty()) {
    if (group* g = getgrnam(options_.socket_group.c_str())) {
      if (chown(path.c_str(), 0, g->gr_gid) != 0)
        spdlog::warn("cannot give {} to group {}: {}", path, options_.socket_group,
                     strerror(errno));
    } else {
      spdlog::warn("group '{}' does not exist; only root can use {}",
                   options_.socket_group, path);
    }
  }
  listening_ = true;
  return Status::OK();
}

void Server::Start() { asio::co_spawn(io_, AcceptLoop(), asio::detached); }

asio::awaitable<void> Server::AcceptLoop() {
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    Peer peer = ReadPeer(socket.native_handle());
    auto session = std::make_shared<Session>(this, std::move(socket), std::move(peer));
    sessions_.insert(session);
    session->Start();
  }
}

void Server::Stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  if (listening_) unlink(options_.socket_path.c_str());
  listening_ = false;
  auto sessions = sessions_;
  for (const auto& session : sessions) session->Close();
}

}  // namespace hone
