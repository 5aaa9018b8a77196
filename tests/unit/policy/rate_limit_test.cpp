// rate_limit_test.cpp: fixed-window limits per ip/user/sender, and counter persistence.
#include "policy/rate_limit.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace sluice::policy {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiter, LimitsPerSubjectAndRecoversInTheNextWindow) {
    MemoryCounterStore store;
    RateLimiter rl({Rule{Scope::ip, Metric::messages, 2, 60s}}, store);
    const std::int64_t t = 1'700'000'020'000;  // 40 s into a minute
    Subjects a{"192.0.2.1", "", "x@y.test"};
    Subjects b{"192.0.2.2", "", "x@y.test"};
    EXPECT_FALSE(rl.check(Metric::messages, a, 1, t));
    rl.record(Metric::messages, a, 2, t);
    auto hit = rl.check(Metric::messages, a, 1, t + 1000);
    ASSERT_TRUE(hit);
    EXPECT_EQ(RateLimiter::describe(*hit),
              "Rate limit exceeded: at most 2 messages per 1m for your address, try again later");
    EXPECT_FALSE(rl.check(Metric::messages, b, 1, t));           // another address
    EXPECT_FALSE(rl.check(Metric::recipients, a, 100, t));       // another metric
    EXPECT_FALSE(rl.check(Metric::messages, a, 1, t + 20'000));  // the next window
}

TEST(RateLimiter, EmptySubjectIsNotLimitedAndCountsAreCaseInsensitive) {
    MemoryCounterStore store;
    RateLimiter rl({Rule{Scope::user, Metric::recipients, 3, 1h},
                    Rule{Scope::sender, Metric::recipients, 5, 24h}},
                   store);
    EXPECT_TRUE(rl.has(Metric::recipients));
    EXPECT_FALSE(rl.has(Metric::connections));
    Subjects anon{"ip", "", "A@B.test"};
    rl.record(Metric::recipients, anon, 4, 0);
    EXPECT_FALSE(rl.check(Metric::recipients, anon, 1, 10));
    EXPECT_TRUE(rl.check(Metric::recipients, Subjects{"ip", "", "a@b.TEST"}, 2, 10));
    Subjects user{"ip", "alice", "other@b.test"};
    rl.record(Metric::recipients, user, 3, 0);
    auto hit = rl.check(Metric::recipients, user, 1, 10);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->scope, Scope::user);
}

TEST(CounterStore, SnapshotRestoreAndFile) {
    MemoryCounterStore a;
    a.add("k1", 0, 100, 3);
    a.add("k 2 with spaces", 0, 100, 4);
    a.add("old", 0, 5, 1);
    auto path =
        std::filesystem::temp_directory_path() / ("sluice-counters-" + std::to_string(::getpid()));
    save_counters(path.string(), a.snapshot(10));
    MemoryCounterStore b;
    b.restore(load_counters(path.string()), 10);
    EXPECT_EQ(b.get("k1", 0), 3u);
    EXPECT_EQ(b.get("k 2 with spaces", 0), 4u);
    EXPECT_EQ(b.get("old", 0), 0u);   // expired, not saved
    EXPECT_EQ(b.get("k1", 100), 0u);  // another window
    std::filesystem::remove(path);
    EXPECT_TRUE(load_counters(path.string()).empty());
}

}  // namespace
}  // namespace sluice::policy
