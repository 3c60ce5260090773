// Session: one client connection of the Server (server.h), as in Asio's
// chat_server example. Included by server.cc only.
#pragma once

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/protocol.h"
#include "daemon/jobs/watchers.h"
#include "daemon/server/handler.h"
#include "daemon/server/server.h"

namespace hone {

namespace session_detail {

namespace asio = boost::asio;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// The next request is handled only once the outbox is down to this, so that a client
// that sends requests without reading the replies stalls rather than filling honed.
inline constexpr size_t kPipelineBytes = 64 << 10;
// Bytes taken from a socket at a time.
inline constexpr size_t kReadChunk = 64 << 10;
// Buffer a session keeps for its partial line while it has none.
inline constexpr size_t kKeptLineCapacity = 4 << 10;
// Messages about hostile or careless clients: at most one per interval and kind.
inline constexpr std::chrono::seconds kLogInterval{10};
// Reads in a row after which a session lets the other handlers run.
inline constexpr int kReadsBeforeYield = 16;

// " (N more ...)" for a rate-limited message that held back N others; else "".
inline std::string HeldBack(size_t held) {
  return held == 0 ? "" : fmt::format(" ({} more since the last message)", held);
}

inline std::string Seconds(std::chrono::milliseconds d) {
  return fmt::format("{:g}", static_cast<double>(d.count()) / 1000);
}

}  // namespace session_detail

// One connection. The reader cuts lines out of what arrives and handles them one at
// a time; the writer sends the outbox. A line that breaks a limit gets the
// connection refused: an error line (id 0), then a close once the client has
// finished sending that line and the error is written, within close_grace.
class Session : public std::enable_shared_from_this<Session> {
  using stream_protocol = boost::asio::local::stream_protocol;
  using json = nlohmann::json;

 public:
  Session(Server* server, stream_protocol::socket socket, Peer peer)
      : server_(server),
        limits_(server->options_.limits),
        socket_(std::move(socket)),
        signal_(socket_.get_executor()),
        room_(socket_.get_executor()),
        timer_(socket_.get_executor()) {
    context_.peer = std::move(peer);
    signal_.expires_at(boost::asio::steady_timer::time_point::max());
    room_.expires_at(boost::asio::steady_timer::time_point::max());
  }

  void Start() {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);  // the reader reads only what is there
    auto self = shared_from_this();
    boost::asio::co_spawn(
        socket_.get_executor(), [self] { return self->Reader(); }, boost::asio::detached);
    boost::asio::co_spawn(
        socket_.get_executor(), [self] { return self->Writer(); }, boost::asio::detached);
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
            pid(), limits_.max_outbox_bytes, session_detail::HeldBack(held));
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
    watches_.clear();  // their subscriptions end
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
  boost::asio::awaitable<void> Reader() {
    std::vector<char>& scratch = server_->scratch_;
    int reads_in_a_row = 0;
    while (!closed_) {
      if (++reads_in_a_row > session_detail::kReadsBeforeYield) {
        // A client that keeps the socket full must not keep the others waiting.
        reads_in_a_row = 0;
        co_await boost::asio::post(socket_.get_executor(), boost::asio::use_awaitable);
        if (closed_) break;
      }
      boost::system::error_code ec;
      size_t n = socket_.read_some(boost::asio::buffer(scratch), ec);
      if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        reads_in_a_row = 0;
        auto [wait_ec] =
            co_await socket_.async_wait(stream_protocol::socket::wait_read, session_detail::use_tuple);
        if (wait_ec) break;
        continue;
      }
      if (ec == boost::asio::error::eof) {
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
          needed, std::min(2 * line_.capacity(), kMaxLineBytes + 1 + session_detail::kReadChunk));
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
  boost::asio::awaitable<void> HandleLines() {
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
      if (line_.capacity() > session_detail::kKeptLineCapacity) ReleaseLine();
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
                  session_detail::Seconds(limits_.line_timeout));
    Refuse(Status::InvalidArgument("no complete request line within " +
                                   session_detail::Seconds(limits_.line_timeout) +
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

  boost::asio::awaitable<void> WaitForRoom() {
    while (!closed_ && !refused_ && outbox_bytes_ > session_detail::kPipelineBytes)
      co_await room_.async_wait(session_detail::use_tuple);
  }

  boost::asio::awaitable<void> HandleLine(const std::string& line) {
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
    context.sink = [weak, id](const json& event, bool last) {
      auto self = weak.lock();
      if (!self) return;
      self->Deliver(EncodeEvent(id, event));
      if (last) self->WatchEnded(id);
    };
    context.keep_watch = [weak, id](Subscription subscription) {
      if (auto self = weak.lock(); self && !self->closed_)
        self->watches_[id] = std::move(subscription);
    };
    json result;
    try {
      s = co_await server_->handler_->Handle(request, context, &result);
    } catch (const std::exception& e) {
      // A bug in a handler must not take the daemon down with it.
      spdlog::error("request '{}' failed: {}", request.cmd, e.what());
      s = Status::Internal(std::string("internal error: ") + e.what());
    }
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
    watches_.erase(request_id);
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

  boost::asio::awaitable<void> Writer() {
    while (!closed_) {
      if (outbox_.empty()) {
        if (close_after_flush_) break;
        co_await signal_.async_wait(session_detail::use_tuple);
        continue;
      }
      auto [ec, n] =
          co_await boost::asio::async_write(socket_, boost::asio::buffer(outbox_.front()), session_detail::use_tuple);
      if (ec || closed_) break;
      outbox_bytes_ -= outbox_.front().size();
      server_->outbox_memory_ -= outbox_.front().size();
      outbox_.pop_front();
      if (outbox_bytes_ <= session_detail::kPipelineBytes) room_.cancel();
    }
    Close();
  }

  Server* server_;
  const ConnectionLimits& limits_;
  stream_protocol::socket socket_;
  boost::asio::steady_timer signal_;  // cancelled to wake the writer
  boost::asio::steady_timer room_;    // cancelled to wake a reader waiting for the outbox
  boost::asio::steady_timer timer_;   // the partial line's clock; after a refusal, the grace
  std::deque<std::string> outbox_;
  size_t outbox_bytes_ = 0;
  std::vector<char> line_;  // what has arrived of the next lines
  size_t scanned_ = 0;      // how much of line_ is known to hold no newline
  bool line_clock_running_ = false;
  bool closed_ = false;
  bool refused_ = false;
  bool close_after_flush_ = false;
  bool reading_done_ = false;
  // The jobs this connection follows, by the id of the request that asked.
  std::map<int64_t, Subscription> watches_;
  RequestHandler::Context context_;
};

}  // namespace hone
