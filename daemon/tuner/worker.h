// The tuner's worker thread: where a job's TuningSession does its heavy work
// (proposals, model fits, reports), so that the event loop always serves the socket,
// signals and the watchdog.
#pragma once

#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hone {

// Runs `work` on `pool` and resumes the calling coroutine on its own executor with
// the result; an exception thrown by `work` is rethrown in the caller.
template <typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> OnWorker(boost::asio::thread_pool& pool,
                                                          F work) {
  namespace asio = boost::asio;
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    co_await asio::co_spawn(
        pool, [&work]() -> asio::awaitable<void> { work(); co_return; },
        asio::use_awaitable);
  } else {
    co_return co_await asio::co_spawn(
        pool, [&work]() -> asio::awaitable<R> { co_return work(); }, asio::use_awaitable);
  }
}

}  // namespace hone
