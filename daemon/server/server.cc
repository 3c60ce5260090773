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

namespace hone {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using nlohmann::json;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// The next request is handled only once the outbox is down to this, so that a client
// that sends requests without reading the replies stalls rather than filling honed.
constexpr size_t kPipelineBytes = 64 << 10;
// Bytes taken from a socket at a time.
constexpr size_t kReadChunk = 64 << 10;
// Buffer a session keeps for its partial line while it has none.
constexpr size_t kKeptLineCapacity = 4 << 10;
// Pause of the accept loop while accept fails (out of descriptors): doubling.
constexpr std::chrono::milliseconds kAcceptPauseMin{100};
constexpr std::chrono::milliseconds kAcceptPauseMax{1000};
// Connections taken from the backlog at a time.
constexpr int kAcceptBatch = 64;
// Messages about hostile or careless clients: at most one per interval and kind.
constexpr std::chrono::seconds kLogInterval{10};
// Descriptors honed wants besides its connections (database, jobs' pipes).
constexpr rlim_t kDescriptorsBesidesConnections = 64;

// Reads in a row after which a session lets the other handlers run.
constexpr int kReadsBeforeYield = 16;

// " (N more ...)" for a rate-limited message that held back N others; else "".
std::string HeldBack(size_t held) {
  return held == 0 ? "" : fmt::format(" ({} more since the last message)", held);
}

std::string Seconds(std::chrono::milliseconds d) {
  return fmt::format("{:g}", static_cast<double>(d.count()) / 1000);
}

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

bool Server::LogLimiter::Ready(size_t* held) {
  auto now = std::chrono::steady_clock::now();
  if (now < next) {
    ++held_back;
    return false;
  }
  next = now + kLogInterval;
  *held = held_back;
  held_back = 0;
  return true;
}

// One connection. The reader cuts lines out of what arrives and handles them one at
// a time; the writer sends the outbox. A line that breaks a limit gets the
// connection refused: an error line (id 0), then a close once the client has
// finished sending that line and the error is written, within close_grace.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server* server, stream_protocol::socket socket, Peer peer)
      : server_(server),
        limits_(server->options_.limits),
        socket_(std::move(socket)),
        signal_(socket_.get_executor()),
        room_(socket_.get_executor()),
        timer_(socket_.get_executor()) {
    context_.peer = std::move(peer);
    context_.watches = &watches_;
    signal_.expires_at(asio::steady_timer::time_point::max());
    room_.expires_at(asio::steady_timer::time_point::max());
  }

  void Start() {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);  // the reader reads only what is there
    auto self = shared_from_this();
    asio::co_spawn(
        socket_.get_executor(), [self] { return self->Reader(); }, asio::detached);
    asio::co_spawn(
        socket_.get_executor(), [self] { return self->Writer(); }, asio::detached);
  }

  pid_t pid() const { return context_.peer.pid; }
  // What this session holds of each budget.
  size_t line_memory() const { return line_.capacity(); }
  size_t outbox_bytes() const { return outbox_bytes_; }

  void Deliver(std::string line) {
    if (closed_ || refused_) return;
    if (!outbox_.empty() && outbox_bytes_ + line.size() > limits_.max_outbox_bytes) {
      size_t held = 0;
      if (server_->outbox_log_.Ready(&held))
        spdlog::warn(
            "client pid {} reads too slowly (more than {} bytes unsent, --max-outbox); "
            "disconnecting it{}",
            pid(), limits_.max_outbox_bytes, HeldBack(held));
      Close();
      return;
    }
    if (!server_->ReserveOutboxMemory(this, line.size())) return;
    Enqueue(std::move(line));
  }

  // Answers `error` and closes the connection: once the error is written and, with
  // `drain`, the client has finished sending its line (a newline or EOF), so that a
  // client that is still writing gets to read the error; never later than
  // close_grace from now. Input is read and dropped meanwhile.
  void Refuse(const Status& error, bool drain) {
    if (closed_ || refused_) return;
    refused_ = true;
    ReleaseLine();
    Enqueue(EncodeError(0, error));  // small: outside the outbox budget
    if (!drain) FinishAfterFlush();
    timer_.expires_after(limits_.close_grace);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (auto self = weak.lock(); self && !ec) self->Close();
    });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    for (uint64_t token : watches_) server_->handler_->jobs()->Unwatch(token);
    watches_.clear();
    ReleaseLine();
    // The outbox itself goes with the session, once the writer has let go of it.
    server_->outbox_memory_ -= outbox_bytes_;
    outbox_bytes_ = 0;
    boost::system::error_code ignored;
    socket_.shutdown(stream_protocol::socket::shutdown_both, ignored);
    socket_.close(ignored);
    signal_.cancel();
    room_.cancel();
    timer_.cancel();
    if (auto it = server_->connections_of_.find(context_.peer.uid);
        it != server_->connections_of_.end() && --it->second == 0)
      server_->connections_of_.erase(it);
    server_->sessions_.erase(shared_from_this());
  }

 private:
  asio::awaitable<void> Reader() {
    std::vector<char>& scratch = server_->scratch_;
    int reads_in_a_row = 0;
    while (!closed_) {
      if (++reads_in_a_row > kReadsBeforeYield) {
        // A client that keeps the socket full must not keep the others waiting.
        reads_in_a_row = 0;
        co_await asio::post(socket_.get_executor(), asio::use_awaitable);
        if (closed_) break;
      }
      boost::system::error_code ec;
      size_t n = socket_.read_some(asio::buffer(scratch), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        reads_in_a_row = 0;
        auto [wait_ec] =
            co_await socket_.async_wait(stream_protocol::socket::wait_read, use_tuple);
        if (wait_ec) break;
        continue;
      }
      if (ec == asio::error::eof) {
        OnEof();
        co_return;
      }
      if (ec) break;
      // `data` lives in the shared scratch buffer: used up before any co_await.
      std::string_view data(scratch.data(), n);
      if (!refused_ && Append(data)) {
        co_await HandleLines();
        continue;
      }
      // Refused: what the client still sends is dropped until it ends its line.
      if (data.find('\n') != std::string_view::npos) {
        FinishAfterFlush();
        co_return;
      }
    }
    Close();
  }

  // Appends what was read to the partial line, within the budget for lines; false
  // when that got this session refused instead.
  bool Append(std::string_view data) {
    size_t needed = line_.size() + data.size();
    if (needed > line_.capacity()) {
      // Doubling, but never beyond what the longest line can need.
      size_t capacity = std::max(
          needed, std::min(2 * line_.capacity(), kMaxLineBytes + 1 + kReadChunk));
      if (!server_->ReserveLineMemory(this, capacity - line_.capacity())) return false;
      size_t before = line_.capacity();
      line_.reserve(capacity);
      server_->line_memory_ += line_.capacity() - before;
    }
    line_.insert(line_.end(), data.begin(), data.end());
    return true;
  }

  // Hands every complete line to the handler, in order; then refuses a partial line
  // that is already too long, or starts its clock.
  asio::awaitable<void> HandleLines() {
    size_t start = 0;
    for (;;) {
      auto newline =
          std::find(line_.begin() + std::max(start, scanned_), line_.end(), '\n');
      if (newline == line_.end()) break;
      size_t end = static_cast<size_t>(newline - line_.begin());
      StopLineClock();  // that line is complete; handling it takes honed's time
      if (end - start > kMaxLineBytes) {
        Refuse(LineTooLong(), /*drain=*/false);  // its newline is here already
        co_return;
      }
      std::string line(line_.data() + start, end - start);
      start = end + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      co_await WaitForRoom();
      if (closed_ || refused_) co_return;
      co_await HandleLine(line);
      if (closed_ || refused_) co_return;
    }
    line_.erase(line_.begin(), line_.begin() + static_cast<ptrdiff_t>(start));
    scanned_ = line_.size();
    if (line_.size() > kMaxLineBytes) {
      Refuse(LineTooLong(), /*drain=*/true);
      co_return;
    }
    if (line_.empty()) {
      StopLineClock();
      if (line_.capacity() > kKeptLineCapacity) ReleaseLine();
    } else if (!line_clock_running_) {
      StartLineClock();  // a new line has begun
    }
  }

  static Status LineTooLong() {
    return Status::InvalidArgument("request line exceeds " +
                                   std::to_string(kMaxLineBytes) +
                                   " bytes; closing the connection");
  }

  // The partial line's clock: it must be complete within line_timeout.
  void StartLineClock() {
    if (limits_.line_timeout.count() <= 0) return;
    line_clock_running_ = true;
    timer_.expires_after(limits_.line_timeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (auto self = weak.lock(); self && !ec) self->OnLineTimeout();
    });
  }

  void StopLineClock() {
    if (!line_clock_running_) return;
    line_clock_running_ = false;
    timer_.cancel();
  }

  void OnLineTimeout() {
    // A handler may already have been queued when the clock was stopped or reset.
    if (!line_clock_running_ || closed_ || refused_ ||
        std::chrono::steady_clock::now() < timer_.expiry())
      return;
    line_clock_running_ = false;
    spdlog::debug("client pid {}: no complete line within {} s", pid(),
                  Seconds(limits_.line_timeout));
    Refuse(Status::InvalidArgument("no complete request line within " +
                                   Seconds(limits_.line_timeout) +
                                   " s of its first byte (honed --line-timeout); "
                                   "closing the connection"),
           /*drain=*/false);
  }

  void ReleaseLine() {
    server_->line_memory_ -= line_.capacity();
    std::vector<char>().swap(line_);
    scanned_ = 0;
    StopLineClock();
  }

  void OnEof() {
    reading_done_ = true;
    if (refused_) {
      FinishAfterFlush();
      return;
    }
    ReleaseLine();  // an unfinished last line is dropped
    // The client closed its side: answer what it asked, follow its watches to
    // their end, then close.
    MaybeFinish();
  }

  asio::awaitable<void> WaitForRoom() {
    while (!closed_ && !refused_ && outbox_bytes_ > kPipelineBytes)
      co_await room_.async_wait(use_tuple);
  }

  asio::awaitable<void> HandleLine(const std::string& line) {
    Request request;
    Status s = DecodeRequest(line, &request);
    if (!s.ok()) {
      spdlog::debug("bad request from pid {}: {}", pid(), s.message());
      Deliver(EncodeError(request.id, s));
      co_return;
    }
    std::weak_ptr<Session> weak = weak_from_this();
    int64_t id = request.id;
    RequestHandler::Context context = context_;  // this request's own
    context.sink = [weak, id](const json& event) {
      auto self = weak.lock();
      if (!self) return;
      self->Deliver(EncodeEvent(id, event));
      if (event.value("type", "") == "end") self->WatchEnded(id);
    };
    size_t watches_before = watches_.size();
    json result;
    try {
      s = co_await server_->handler_->Handle(request, context, &result);
    } catch (const std::exception& e) {
      // A bug in a handler must not take the daemon down with it.
      spdlog::error("request '{}' failed: {}", request.cmd, e.what());
      s = Status::Internal(std::string("internal error: ") + e.what());
    }
    if (watches_.size() > watches_before) watch_of_request_[id] = watches_.back();
    std::string reply = !s.ok()               ? EncodeError(id, s)
                        : context.result_text ? EncodeResultText(id, *context.result_text)
                                              : EncodeResult(id, result);
    if (reply.size() > kMaxLineBytes + 1)  // no client could read it
      reply = EncodeError(id, Status::FailedPrecondition(
                                  "the reply would be " + std::to_string(reply.size()) +
                                  " bytes, more than a line may hold (" +
                                  std::to_string(kMaxLineBytes) + ")"));
    Deliver(std::move(reply));
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
    FinishAfterFlush();
  }

  void FinishAfterFlush() {
    close_after_flush_ = true;
    signal_.cancel_one();
  }

  void Enqueue(std::string line) {
    outbox_bytes_ += line.size();
    server_->outbox_memory_ += line.size();
    outbox_.push_back(std::move(line));
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
      if (ec || closed_) break;
      outbox_bytes_ -= outbox_.front().size();
      server_->outbox_memory_ -= outbox_.front().size();
      outbox_.pop_front();
      if (outbox_bytes_ <= kPipelineBytes) room_.cancel();
    }
    Close();
  }

  Server* server_;
  const ConnectionLimits& limits_;
  stream_protocol::socket socket_;
  asio::steady_timer signal_;  // cancelled to wake the writer
  asio::steady_timer room_;    // cancelled to wake a reader waiting for the outbox
  asio::steady_timer timer_;   // the partial line's clock; after a refusal, the grace
  std::deque<std::string> outbox_;
  size_t outbox_bytes_ = 0;
  std::vector<char> line_;  // what has arrived of the next lines
  size_t scanned_ = 0;      // how much of line_ is known to hold no newline
  bool line_clock_running_ = false;
  bool closed_ = false;
  bool refused_ = false;
  bool close_after_flush_ = false;
  bool reading_done_ = false;
  std::vector<uint64_t> watches_;
  std::map<int64_t, uint64_t> watch_of_request_;  // request id -> watch token
  RequestHandler::Context context_;
};

Server::Server(asio::io_context& io, RequestHandler* handler, ServerOptions options)
    : io_(io),
      handler_(handler),
      options_(std::move(options)),
      acceptor_(io),
      accept_pause_(io),
      scratch_(kReadChunk) {}

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
          held + 1, refusal, max, per_user, kLogInterval.count());
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
          budget, pid, HeldBack(held));
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
          budget, pid, HeldBack(held));
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
