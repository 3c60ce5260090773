// Server: honed's Unix socket. Accepts connections, authenticates each peer at
// accept (SO_PEERCRED, SO_PEERGROUPS), and runs one session per connection: a
// reader that cuts request lines and hands them to the RequestHandler, and a writer
// that drains the connection's outbox (results and watch events), as in Asio's
// chat_server example.
//
// Every member of the socket's group may connect, so each connection is treated as
// hostile: ConnectionLimits bounds how many there are, how long a request line may
// take to arrive, and how much of honed's memory they hold together. What a client
// sees at each limit is in docs/protocol.md ("Limits").
//
// Threading: everything on the io_context's thread. `handler` must outlive the
// server.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/status.h"
#include "daemon/server/handler.h"

namespace hone {

// With the defaults, connections hold at most about 81 MiB of honed's memory: the
// two budgets (64 MiB), a line buffer being regrown (4 MiB), one line being decoded
// (about 8 MiB), one reply before it is admitted (4 MiB), and about 5 KiB for each
// open connection. docs/protocol.md ("Limits") has the sum.
struct ConnectionLimits {
  // Connections served at once. One more is answered with an `unavailable` error
  // line and closed. Each takes a descriptor: keep RLIMIT_NOFILE above this.
  size_t max_connections = 256;
  // Connections of one user (peer uid) at once, so that no member of the socket's
  // group can take every place from the others. One more is refused as above.
  size_t max_connections_per_user = 64;

  // A request line must arrive complete within this time of its first byte, or the
  // connection is answered with an error and closed. A connection with no partial
  // line (an idle one, or one waiting for watch events) never times out.
  std::chrono::milliseconds line_timeout{10000};

  // The partial request lines of all connections together hold at most this much
  // (each line is capped at kMaxLineBytes, common/protocol.h). Past it, the
  // connection holding the largest partial line gets an error and is closed.
  size_t max_line_memory = 32 << 20;

  // A connection whose unsent replies and events pass this (beyond one message,
  // which is always taken) reads too slowly and is closed.
  size_t max_outbox_bytes = 4 << 20;

  // The outboxes of all connections together hold at most this much. Past it, the
  // connection with the largest outbox is closed.
  size_t max_outbox_memory = 32 << 20;

  // A connection refused for its line (too long, too slow, over the budget) is given
  // this long to finish sending it and to read the error, then closed.
  std::chrono::milliseconds close_grace{2000};
};

// Creates the Unix socket `path` (its directory when missing; a stale socket of a
// dead honed is replaced, a live one refused), listening, mode 0660, owned by
// `group` when honed is root. `flag` names the option that sets the path, for the
// message when something else is there.
Status ListenUnixSocket(boost::asio::io_context& io,
                        boost::asio::local::stream_protocol::acceptor& acceptor,
                        const std::string& path, const std::string& group,
                        const std::string& flag);

struct ServerOptions {
  // Where the socket is created; its directory is created when missing.
  std::string socket_path = "/run/honed/honed.sock";
  // Group that may connect (socket mode 0660); ignored when honed is not root or
  // the group does not exist.
  std::string socket_group = "hone";
  ConnectionLimits limits;
};

class Session;

class Server {
 public:
  Server(boost::asio::io_context& io, RequestHandler* handler, ServerOptions options);
  ~Server();

  // Creates and binds the socket. Fails when another honed is listening on it.
  Status Listen();
  void Start();
  // Serves a connection that did not come through the socket (one end of a socket
  // pair, in tests), under the same limits as an accepted one.
  void Adopt(boost::asio::local::stream_protocol::socket socket) { Admit(std::move(socket)); }
  // Stops accepting and closes every connection.
  void Stop();
  size_t session_count() const { return sessions_.size(); }

 private:
  friend class Session;

  // Logs at most once per interval and counts what it held back.
  struct LogLimiter {
    std::chrono::steady_clock::time_point next{};
    size_t held_back = 0;
    // True when a message may be logged now; `*held_back` is how many were not
    // since the last one.
    bool Ready(size_t* held_back);
  };

  boost::asio::awaitable<void> AcceptLoop();
  // Starts a session for a new connection, or refuses it when at the cap.
  void Admit(boost::asio::local::stream_protocol::socket socket);
  void WarnIfDescriptorsAreShort() const;

  // Accounting of the memory budgets. Each makes room for `bytes` more by closing
  // the connections that hold the most, then counts them; false when `session`
  // itself was the one to go (it has then been refused or closed).
  bool ReserveLineMemory(Session* session, size_t bytes);
  bool ReserveOutboxMemory(Session* session, size_t bytes);

  boost::asio::io_context& io_;
  RequestHandler* handler_;
  ServerOptions options_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer accept_pause_;  // backoff while accept fails
  std::set<std::shared_ptr<Session>> sessions_;
  std::map<uid_t, size_t> connections_of_;  // open sessions per peer uid
  bool listening_ = false;

  size_t line_memory_ = 0;    // capacity of every session's partial line
  size_t outbox_memory_ = 0;  // bytes in every session's outbox
  // Where each read lands before it is appended to a session's line: sessions read
  // only when the socket is readable, and copy out before they await anything.
  std::vector<char> scratch_;

  LogLimiter refused_log_, line_memory_log_, outbox_log_;
};

}  // namespace hone
