#include "daemon/server/metrics_listener.h"

#include <unistd.h>

#include <array>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "daemon/server/server.h"

namespace hone {

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}  // namespace

MetricsListener::MetricsListener(asio::io_context& io, std::string path, std::string group,
                                 Sink sink)
    : io_(io),
      path_(std::move(path)),
      group_(std::move(group)),
      sink_(std::move(sink)),
      acceptor_(io) {}

MetricsListener::~MetricsListener() { Stop(); }

Status MetricsListener::Listen() {
  Status s = ListenUnixSocket(io_, acceptor_, path_, group_, "--metrics-socket");
  if (s.ok()) listening_ = true;
  return s;
}

void MetricsListener::Start() { asio::co_spawn(io_, AcceptLoop(), asio::detached); }

void MetricsListener::Stop() {
  if (!listening_) return;
  listening_ = false;
  boost::system::error_code ec;
  acceptor_.close(ec);
  unlink(path_.c_str());
}

asio::awaitable<void> MetricsListener::AcceptLoop() {
  while (listening_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (!listening_) co_return;
      continue;  // a failed accept (out of descriptors): the next may succeed
    }
    Peer peer = ReadPeer(socket.native_handle());
    if (connections_ >= kMaxConnections || per_user_[peer.uid] >= kMaxConnectionsPerUser) {
      spdlog::warn("metrics socket: connection of uid {} refused: {} connections open",
                   peer.uid, connections_);
      continue;  // closed as `socket` goes
    }
    ++connections_;
    ++per_user_[peer.uid];
    asio::co_spawn(io_, Serve(std::move(socket), peer), asio::detached);
  }
}

asio::awaitable<void> MetricsListener::Serve(stream_protocol::socket socket, Peer peer) {
  std::array<char, 4096> buffer;
  std::string line;
  bool dropping = false;  // a line past the limit: skipped to its newline
  bool logged = false;    // one bad line is logged per connection
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), use_tuple);
    if (ec || !listening_) break;
    for (size_t i = 0; i < n; ++i) {
      char c = buffer[i];
      if (c == '\n') {
        if (dropping) {
          ++refused_;
          if (!logged)
            spdlog::warn("metrics socket: uid {}: a line longer than {} bytes dropped",
                         peer.uid, kMaxStatsdLineBytes);
          logged = true;
        } else if (!line.empty()) {
          Line(peer, line, &logged);
        }
        line.clear();
        dropping = false;
      } else if (!dropping) {
        line += c;
        if (line.size() > kMaxStatsdLineBytes) {
          dropping = true;
          line.clear();
        }
      }
    }
  }
  if (!line.empty() && !dropping) Line(peer, line, &logged);
  --connections_;
  if (--per_user_[peer.uid] == 0) per_user_.erase(peer.uid);
}

void MetricsListener::Line(const Peer& peer, std::string_view line, bool* logged) {
  StatsdValue value;
  Status s = ParseStatsdLine(line, &value);
  if (s.ok()) s = sink_(peer, value);
  if (s.ok()) {
    ++taken_;
    return;
  }
  ++refused_;
  if (!*logged) spdlog::warn("metrics socket: uid {}: {}", peer.uid, s.message());
  *logged = true;
}

}  // namespace hone
