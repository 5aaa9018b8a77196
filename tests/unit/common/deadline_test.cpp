// deadline_test.cpp: the one deadline idiom (common/deadline.hpp) on a real io_context and clock:
// it fires once when passed, a deadline moved later does not fire early, an earlier one wakes the
// watcher, the owner may set a short follow-up deadline from on_expiry, clear() and stop() mean
// no more calls, and an owner destroyed while its deadline is pending is never called back.
#include "common/deadline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <memory>

namespace sluice {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = Deadline::clock;

struct Owner {
    explicit Owner(asio::io_context& io) : deadline(io.get_executor()) {}
    Deadline deadline;
    int fired = 0;
    clock::time_point when{};
};

// Runs the loop until it has nothing left or `limit` passes.
void run_for(asio::io_context& io, clock::duration limit) {
    io.run_for(limit);
    io.restart();
}

TEST(Deadline, FiresOnceWhenPassed) {
    asio::io_context io;
    auto o = std::make_shared<Owner>(io);
    const auto start = clock::now();
    o->deadline.start(o, [&] {
        ++o->fired;
        o->when = clock::now();
    });
    o->deadline.expires_after(30ms);
    run_for(io, 300ms);
    EXPECT_EQ(o->fired, 1);
    EXPECT_GE(o->when - start, 30ms);
    o->deadline.stop();
    run_for(io, 50ms);
}

TEST(Deadline, MovedLaterDoesNotFireEarlyAndEarlierWakesTheWatcher) {
    asio::io_context io;
    auto o = std::make_shared<Owner>(io);
    const auto start = clock::now();
    o->deadline.start(o, [&] {
        ++o->fired;
        o->when = clock::now();
    });
    o->deadline.expires_after(40ms);
    // Before it passes, move it later twice (as reads do), then check it fired at the last one.
    asio::steady_timer t1(io, 20ms), t2(io, 35ms);
    t1.async_wait([&](auto) { o->deadline.expires_after(60ms); });  // ~80 ms
    t2.async_wait([&](auto) { o->deadline.expires_after(80ms); });  // ~115 ms
    run_for(io, 400ms);
    EXPECT_EQ(o->fired, 1);
    EXPECT_GE(o->when - start, 110ms);

    // Now asleep with no deadline (after firing): an earlier one must wake it.
    const auto again = clock::now();
    o->deadline.expires_after(20ms);
    run_for(io, 300ms);
    EXPECT_EQ(o->fired, 2);  // (never, had the watcher kept sleeping at "no deadline")
    EXPECT_GE(o->when - again, 20ms);
    o->deadline.stop();
    run_for(io, 50ms);
}

TEST(Deadline, OnExpiryMaySetAFollowUpAndClearMeansNone) {
    asio::io_context io;
    auto o = std::make_shared<Owner>(io);
    o->deadline.start(o, [&] {
        if (++o->fired == 1) o->deadline.expires_after(10ms);  // the final-reply grace
    });
    o->deadline.expires_after(10ms);
    run_for(io, 200ms);
    EXPECT_EQ(o->fired, 2);
    o->deadline.expires_after(20ms);
    o->deadline.clear();
    run_for(io, 100ms);
    EXPECT_EQ(o->fired, 2);
    o->deadline.stop();
    run_for(io, 50ms);
}

TEST(Deadline, AnOwnerGoneWhileItsDeadlineIsPendingIsNeverCalled) {
    asio::io_context io;
    int calls = 0;
    {
        auto o = std::make_shared<Owner>(io);
        o->deadline.start(o, [&calls] { ++calls; });
        o->deadline.expires_after(20ms);
        run_for(io, 1ms);  // the watcher is waiting on the timer
    }                      // owner, deadline and timer destroyed here
    run_for(io, 100ms);
    EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace sluice
