// Server: honed's Unix socket. Accepts connections, authenticates each peer at
// accept (SO_PEERCRED, SO_PEERGROUPS), and runs one session coroutine per
// connection: a reader that decodes request lines and hands them to the
// RequestHandler, and a writer that drains the connection's outbox (results and
// watch events), as in Asio's chat_server example.
//
// Threading: everything on the io_context's thread. `handler` must outlive the
// server.
#pragma once

#include <memory>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "common/status.h"
#include "daemon/handler.h"

namespace hone {

struct ServerOptions {
  // Where the socket is created; its directory is created when missing.
  std::string socket_path = "/run/honed/honed.sock";
  // Group that may connect (socket mode 0660); ignored when honed is not root or
  // the group does not exist.
  std::string socket_group = "hone";
};

class Session;

class Server {
 public:
  Server(boost::asio::io_context& io, RequestHandler* handler, ServerOptions options);
  ~Server();

  // Creates and binds the socket. Fails when another honed is listening on it.
  Status Listen();
  void Start();
  // Stops accepting and closes every connection.
  void Stop();
  size_t session_count() const { return sessions_.size(); }

 private:
  friend class Session;
  boost::asio::awaitable<void> AcceptLoop();

  boost::asio::io_context& io_;
  RequestHandler* handler_;
  ServerOptions options_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::set<std::shared_ptr<Session>> sessions_;
  bool listening_ = false;
};

}  // namespace hone
