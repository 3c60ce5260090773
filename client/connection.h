// Connection: the client's end of honed's socket; blocking, one request at a time,
// with events read as they come.
//
// Call() sends a request and returns its reply; Send() and Read() let `watch` read
// the event stream and interleave a cancel. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/protocol.h"
#include "common/status.h"

namespace hone {

class Connection {
 public:
  // Connects to the socket at `path`; Unavailable with a hint when nobody listens.
  static Status Open(const std::string& path, std::unique_ptr<Connection>* connection);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends a request and waits for its reply; events that arrive first are dropped.
  // An error with id 0 (about the connection: a limit of honed's) ends the wait too.
  Status Call(const std::string& cmd, const nlohmann::json& args, nlohmann::json* result);
  // Sends a request; *id is the id its reply will carry. When honed has closed the
  // connection, the error it sent before closing, if any, else Unavailable.
  Status Send(const std::string& cmd, const nlohmann::json& args, int64_t* id);
  // Reads the next message. Returns Unavailable("timeout") after timeout_ms (-1:
  // wait forever) and Unavailable on EOF. A signal ends the wait early with
  // FailedPrecondition("interrupted") so the caller can check its flags.
  Status Read(Message* message, int timeout_ms);

 private:
  explicit Connection(int fd) : fd_(fd) {}
  int fd_;
  int64_t next_id_ = 1;
  std::string buffer_;
};

// The socket path: --socket, else $HONE_SOCKET, else /run/honed/honed.sock.
std::string DefaultSocketPath();

}  // namespace hone
