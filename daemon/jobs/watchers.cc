#include "daemon/jobs/watchers.h"

namespace hone {

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Cancel();
    watchers_ = std::move(other.watchers_);
    token_ = other.token_;
    other.token_ = 0;
  }
  return *this;
}

void Subscription::Cancel() {
  if (token_ == 0) return;
  if (auto watchers = watchers_.lock()) watchers->sinks_.erase(token_);
  token_ = 0;
}

bool Subscription::active() const {
  auto watchers = watchers_.lock();
  return token_ != 0 && watchers && watchers->sinks_.count(token_) > 0;
}

Subscription Watchers::Add(int64_t job, EventSink sink) {
  uint64_t token = next_token_++;
  sinks_[token] = {job, std::move(sink)};
  return Subscription(weak_from_this(), token);
}

void Watchers::Publish(int64_t job, const nlohmann::json& event, bool last) {
  // A sink may end subscriptions (a connection that closes): each token is looked
  // up again before its sink is called, and the sink is called from a copy.
  std::vector<uint64_t> tokens;
  for (const auto& [token, watcher] : sinks_)
    if (watcher.job == job) tokens.push_back(token);
  auto self = shared_from_this();  // a sink must not destroy what it is called from
  for (uint64_t token : tokens) {
    auto it = sinks_.find(token);
    if (it == sinks_.end()) continue;
    EventSink sink = it->second.sink;
    if (last) sinks_.erase(it);  // ended before the sink hears of it
    sink(event, last);
  }
}

void Watchers::Drop(int64_t job) {
  std::erase_if(sinks_, [job](const auto& w) { return w.second.job == job; });
}

}  // namespace hone
