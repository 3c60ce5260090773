// MetricsListener: the metrics socket, where a live job's service sends the values
// of its push metrics in StatsD's line protocol (`requests:1520|g`, `hits:3|c`,
// `latency:12.5|ms`), without the hone client: `printf 'requests:1520|g\n' | socat -
// UNIX-CONNECT:/run/honed/metrics.sock`, or any StatsD client that speaks a Unix
// stream socket. Each line goes to every running live job that has a push metric of
// that name and whose submitter is the sender (root's lines go to every such job).
//
// The socket is mode 0660 in the same group as honed's main socket, and every byte is
// untrusted: lines longer than 1024 bytes are dropped (to their newline), at most
// kMaxConnections connections (kMaxConnectionsPerUser per user) are served, and a
// bad line is logged once per connection and otherwise only counted. StatsD has no
// replies; nothing is ever written back. Everything on the io_context's thread.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "common/statsd.h"
#include "common/status.h"
#include "daemon/server/policy.h"

namespace hone {

class MetricsListener {
 public:
  static constexpr size_t kMaxConnections = 64;
  static constexpr size_t kMaxConnectionsPerUser = 16;

  // Where a value goes: the number of jobs that took it, or why none did.
  using Sink = std::function<Status(const Peer& peer, const StatsdValue& value)>;

  MetricsListener(boost::asio::io_context& io, std::string path, std::string group,
                  Sink sink);
  ~MetricsListener();
  Status Listen();
  void Start();
  void Stop();

  // Lines taken and refused so far (for tests and the log).
  size_t taken() const { return taken_; }
  size_t refused() const { return refused_; }

 private:
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(boost::asio::local::stream_protocol::socket socket,
                                     Peer peer);
  void Line(const Peer& peer, std::string_view line, bool* logged);

  boost::asio::io_context& io_;
  std::string path_, group_;
  Sink sink_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  bool listening_ = false;
  size_t connections_ = 0;
  std::map<uid_t, size_t> per_user_;
  size_t taken_ = 0, refused_ = 0;
};

}  // namespace hone
