#include "client/connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace hone {

using nlohmann::json;

std::string DefaultSocketPath() {
  const char* env = std::getenv("HONE_SOCKET");
  return env && *env ? env : "/run/honed/honed.sock";
}

Status Connection::Open(const std::string& path,
                        std::unique_ptr<Connection>* connection) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Status::InvalidArgument("socket path is too long: " + path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(std::string("socket: ") + strerror(errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int error = errno;
    close(fd);
    std::string hint =
        error == ENOENT || error == ECONNREFUSED
            ? "; is honed running? Start it with `systemctl start honed`, or point "
              "--socket / HONE_SOCKET at a running honed"
        : error == EACCES ? "; you need to be root or in the 'hone' group"
                          : "";
    return Status::Unavailable("cannot connect to honed at " + path + ": " +
                               strerror(error) + hint);
  }
  connection->reset(new Connection(fd));
  return Status::OK();
}

Connection::~Connection() { close(fd_); }

Status Connection::Send(const std::string& cmd, const json& args, int64_t* id) {
  Request request;
  request.id = next_id_++;
  request.cmd = cmd;
  request.args = args;
  std::string line = EncodeRequest(request);
  size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status lost = Status::Unavailable(std::string("lost connection to honed: ") +
                                        strerror(errno));
      // honed may have said why before it closed (a limit): show that instead.
      Message message;
      if (Read(&message, 0).ok() && message.kind == Message::Kind::kError &&
          message.id == 0)
        return message.error;
      return lost;
    }
    sent += static_cast<size_t>(n);
  }
  *id = request.id;
  return Status::OK();
}

Status Connection::Read(Message* message, int timeout_ms) {
  for (;;) {
    size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      Status s = DecodeMessage(line, message);
      if (!s.ok())
        return Status::Internal("honed sent a malformed message: " + s.message());
      return Status::OK();
    }
    if (buffer_.size() > kMaxLineBytes)
      return Status::Internal("honed sent a message longer than the protocol allows");
    pollfd pfd{fd_, POLLIN, 0};
    int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) return Status::FailedPrecondition("interrupted");
    if (ready < 0) return Status::IOError(std::string("poll: ") + strerror(errno));
    if (ready == 0) return Status::Unavailable("timeout");
    char chunk[65536];
    ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) return Status::FailedPrecondition("interrupted");
    if (n < 0)
      return Status::Unavailable(std::string("lost connection to honed: ") +
                                 strerror(errno));
    if (n == 0) return Status::Unavailable("honed closed the connection");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

Status Connection::Call(const std::string& cmd, const json& args, json* result) {
  int64_t id = 0;
  Status s = Send(cmd, args, &id);
  while (s.ok()) {
    Message message;
    s = Read(&message, -1);
    if (s.code() == Status::Code::kFailedPrecondition) {
      s = Status::OK();  // a signal; keep waiting for the reply
      continue;
    }
    if (!s.ok()) break;
    // Id 0: honed could not tie the error to a request; it is about the connection.
    if (message.kind == Message::Kind::kError && (message.id == id || message.id == 0))
      return message.error;
    if (message.id != id || message.kind == Message::Kind::kEvent) continue;
    *result = std::move(message.body);
    return Status::OK();
  }
  return s;
}

}  // namespace hone
