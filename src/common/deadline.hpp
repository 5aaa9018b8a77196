// deadline.hpp: the one deadline idiom for every connection, the SMTP server's (server/connection)
// and the SMTP client's (delivery/smtp_client).
//
// A Deadline is a point in time after which the owner's pending socket operation must end. One
// steady_timer is watched by one coroutine, so moving the deadline later, the common case before
// every read, only stores a time point: no timer is re-armed and nothing is allocated. Only a
// deadline earlier than the one the watcher sleeps until wakes it to re-arm. When the deadline
// passes, the owner's on_expiry runs on the timer's executor (the owner's strand, so it needs no
// lock): typically it cancels the socket's operations, which then complete with
// operation_aborted, and it may set a new, short deadline (time to write a final reply) or none.
// After firing, there is no deadline until the owner sets one.
//
// Lifetime: the watcher holds only a weak_ptr to the owner, so a connection dropped while its
// deadline is pending is freed at once (its timer's destruction wakes the watcher, which then
// finds the owner gone and touches nothing). stop() ends the watcher early.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace sluice {

class Deadline {
  public:
    using clock = std::chrono::steady_clock;

    explicit Deadline(const boost::asio::any_io_executor& ex)
        : timer_(ex, clock::time_point::max()) {}
    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;

    // Starts the watcher (once; later calls do nothing). `owner` is the object this deadline is a
    // member of; on_expiry runs each time the deadline passes while the owner lives.
    void start(std::weak_ptr<void> owner, std::function<void()> on_expiry) {
        if (started_) return;
        started_ = true;
        on_expiry_ = std::move(on_expiry);
        boost::asio::co_spawn(timer_.get_executor(), watch(std::move(owner), this),
                              boost::asio::detached);
    }

    void expires_at(clock::time_point t) {
        deadline_ = t;
        // Wake the watcher only when it sleeps past the new deadline (rare: see above).
        if (t < timer_.expiry()) timer_.cancel();
    }
    void expires_after(clock::duration d) { expires_at(clock::now() + d); }
    void clear() { deadline_ = clock::time_point::max(); }  // none; the watcher wakes for nothing
    clock::time_point expiry() const { return deadline_; }

    void stop() {
        stopped_ = true;
        timer_.cancel();
    }

  private:
    // Static, and `self` is used only while `owner` is locked: after the owner (and this member)
    // is destroyed the coroutine touches nothing of it.
    static boost::asio::awaitable<void> watch(std::weak_ptr<void> owner, Deadline* self) {
        while (true) {
            {
                auto alive = owner.lock();
                if (!alive || self->stopped_) co_return;
                self->timer_.expires_at(self->deadline_);
            }
            // The timer outlives this wait or completes it with operation_aborted when destroyed.
            auto& timer = self->timer_;
            co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            auto alive = owner.lock();
            if (!alive || self->stopped_) co_return;
            if (self->deadline_ > clock::now()) continue;  // moved meanwhile: sleep again
            self->deadline_ = clock::time_point::max();
            self->on_expiry_();
        }
    }

    boost::asio::steady_timer timer_;
    clock::time_point deadline_ = clock::time_point::max();
    std::function<void()> on_expiry_;
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace sluice
