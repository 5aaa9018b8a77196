// async_limiter.hpp: a counting semaphore for coroutines (connection concurrency limits).
//
// acquire() suspends while `max` holders are inside; release() hands the slot to the oldest waiter.
// Thread-safe; a waiter is woken by moving its timer's expiry into the past, which also completes
// a wait that had not started yet (no lost wake-up). Waiters must run on a strand (or a
// single-threaded executor), since their timer is touched from it.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>
#include <memory>
#include <mutex>

namespace sluice::delivery {

class AsyncLimiter {
  public:
    explicit AsyncLimiter(unsigned max) : max_(max ? max : 1) {}

    boost::asio::awaitable<void> acquire() {
        std::shared_ptr<boost::asio::steady_timer> t;
        {
            std::lock_guard lock(mu_);
            if (inside_ < max_) {
                ++inside_;
                co_return;
            }
            t = std::make_shared<boost::asio::steady_timer>(
                co_await boost::asio::this_coro::executor,
                boost::asio::steady_timer::time_point::max());
            waiters_.push_back(t);
        }
        // Woken (with the slot handed over) when release() moves the expiry to the past.
        while (t->expiry() != boost::asio::steady_timer::time_point::min())
            co_await t->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }

    void release() {
        std::lock_guard lock(mu_);
        if (!waiters_.empty()) {
            auto t = std::move(waiters_.front());
            waiters_.pop_front();
            // The timer belongs to the waiter's executor (a strand): touch it only there.
            boost::asio::post(t->get_executor(),
                              [t] { t->expires_at(boost::asio::steady_timer::time_point::min()); });
            return;
        }
        if (inside_) --inside_;
    }

  private:
    std::mutex mu_;
    unsigned max_;
    unsigned inside_ = 0;
    std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace sluice::delivery
