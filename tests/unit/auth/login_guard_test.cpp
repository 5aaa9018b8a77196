// login_guard_test.cpp: reserve-then-settle attempts, growing delays and lockouts per address, and
// spacing per account across addresses, with a fake clock.
#include "auth/login_guard.hpp"

#include <gtest/gtest.h>

namespace sluice::auth {
namespace {

using namespace std::chrono_literals;
using clock = LoginGuard::clock;
using Decision = LoginGuard::Decision;

LockoutPolicy policy() {
    LockoutPolicy p;
    p.max_failures = 3;
    p.window = 60s;
    p.lockout = 300s;
    p.delay = 1s;
    p.max_delay = 3s;
    p.account_free = 100;  // off unless a test lowers it
    p.account_max_delay = 30s;
    return p;
}

clock::duration d(std::chrono::milliseconds ms) {
    return std::chrono::duration_cast<clock::duration>(ms);
}

const clock::time_point t0 = clock::time_point{} + 1000s;

// One complete failed attempt.
LoginGuard::Failure fail(LoginGuard& g, const std::string& ip, const std::string& user,
                         clock::time_point t) {
    EXPECT_EQ(g.begin(ip, user, t).decision, Decision::check);
    return g.failed(ip, user, t);
}

TEST(LoginGuard, DelayDoublesUpToTheCap) {
    LockoutPolicy p = policy();
    p.max_failures = 10;
    LoginGuard g(p);
    EXPECT_EQ(fail(g, "192.0.2.1", "u", t0).delay, d(1s));
    EXPECT_EQ(fail(g, "192.0.2.1", "u", t0).delay, d(2s));
    EXPECT_EQ(fail(g, "192.0.2.1", "u", t0).delay, d(3s));
    EXPECT_EQ(fail(g, "192.0.2.1", "u", t0).delay, d(3s));
    // Another address starts from the beginning.
    EXPECT_EQ(fail(g, "192.0.2.2", "u", t0).delay, d(1s));
}

TEST(LoginGuard, LocksOutAfterMaxFailuresInWindowThenExpires) {
    LoginGuard g(policy());
    EXPECT_FALSE(fail(g, "192.0.2.1", "u", t0).locked_now);
    EXPECT_FALSE(fail(g, "192.0.2.1", "u", t0 + 1s).locked_now);
    EXPECT_EQ(g.locked_for("192.0.2.1", t0 + 1s), clock::duration::zero());
    EXPECT_TRUE(fail(g, "192.0.2.1", "u", t0 + 2s).locked_now);
    EXPECT_GT(g.locked_for("192.0.2.1", t0 + 3s), clock::duration::zero());
    EXPECT_EQ(g.begin("192.0.2.1", "u", t0 + 3s).decision, Decision::locked);
    EXPECT_EQ(g.locked_for("192.0.2.2", t0 + 3s), clock::duration::zero());
    EXPECT_EQ(g.locked_for("192.0.2.1", t0 + 303s), clock::duration::zero());
    EXPECT_EQ(g.lockouts(), 1u);
}

TEST(LoginGuard, FailuresOutsideTheWindowDoNotAddUp) {
    LoginGuard g(policy());
    fail(g, "192.0.2.1", "u", t0);
    fail(g, "192.0.2.1", "u", t0 + 1s);
    EXPECT_FALSE(fail(g, "192.0.2.1", "u", t0 + 120s).locked_now);  // a new window
    EXPECT_EQ(fail(g, "192.0.2.1", "u", t0 + 121s).count, 2u);
}

TEST(LoginGuard, AttemptsInFlightCountBeforeTheirCheck) {
    // 20 parallel attempts from one address: only max_failures get a check.
    LoginGuard g(policy());
    int checks = 0, busy = 0;
    for (int i = 0; i < 20; ++i) {
        auto a = g.begin("192.0.2.1", "alice", t0);
        if (a.decision == Decision::check) ++checks;
        if (a.decision == Decision::busy) ++busy;
    }
    EXPECT_EQ(checks, 3);
    EXPECT_EQ(busy, 17);
    // Two fail and the right one still succeeds: the address is not locked yet.
    g.failed("192.0.2.1", "alice", t0);
    g.failed("192.0.2.1", "alice", t0);
    EXPECT_TRUE(g.succeeded("192.0.2.1", "alice", t0));
}

TEST(LoginGuard, ParallelAttemptsCannotOutrunTheLockout) {
    // The right password is among parallel attempts: it gets a check only if a slot is left, and
    // the failures settled alongside it never exceed the limit.
    LoginGuard g(policy());
    ASSERT_EQ(g.begin("192.0.2.1", "x", t0).decision, Decision::check);
    ASSERT_EQ(g.begin("192.0.2.1", "x", t0).decision, Decision::check);
    ASSERT_EQ(g.begin("192.0.2.1", "x", t0).decision, Decision::check);
    EXPECT_EQ(g.begin("192.0.2.1", "x", t0).decision, Decision::busy);
    EXPECT_FALSE(g.failed("192.0.2.1", "x", t0).locked_now);
    EXPECT_FALSE(g.failed("192.0.2.1", "x", t0).locked_now);
    EXPECT_TRUE(g.failed("192.0.2.1", "x", t0).locked_now);
    // Locked: no more checks, and a success being settled now would not count.
    EXPECT_EQ(g.begin("192.0.2.1", "x", t0).decision, Decision::locked);
    EXPECT_FALSE(g.succeeded("192.0.2.1", "x", t0));
}

TEST(LoginGuard, ASuccessForgivesOnlyItsOwnAccount) {
    LoginGuard g(policy());
    // A wrong guess at alice, then a good login as the attacker's own account, repeated.
    fail(g, "192.0.2.1", "alice", t0);
    ASSERT_EQ(g.begin("192.0.2.1", "mallory", t0).decision, Decision::check);
    EXPECT_TRUE(g.succeeded("192.0.2.1", "mallory", t0));
    fail(g, "192.0.2.1", "alice", t0 + 1s);
    ASSERT_EQ(g.begin("192.0.2.1", "Mallory", t0 + 1s).decision, Decision::check);
    EXPECT_TRUE(g.succeeded("192.0.2.1", "Mallory", t0 + 1s));
    EXPECT_TRUE(fail(g, "192.0.2.1", "alice", t0 + 2s).locked_now);
    // The owner's own typos are forgiven by the owner's success.
    fail(g, "192.0.2.9", "bob", t0);
    fail(g, "192.0.2.9", "BOB", t0);
    ASSERT_EQ(g.begin("192.0.2.9", "bob", t0).decision, Decision::check);
    EXPECT_TRUE(g.succeeded("192.0.2.9", "bob", t0));
    EXPECT_EQ(fail(g, "192.0.2.9", "bob", t0).count, 1u);
}

TEST(LoginGuard, AnIpv6SlashSixtyFourIsOneAddress) {
    LoginGuard g(policy());
    fail(g, "2001:db8:1:2::1", "u", t0);
    fail(g, "2001:db8:1:2::2", "u", t0);
    EXPECT_TRUE(fail(g, "2001:db8:1:2:ffff::3", "u", t0).locked_now);
    EXPECT_EQ(g.begin("2001:db8:1:2::77", "u", t0).decision, Decision::locked);
    EXPECT_EQ(g.begin("2001:db8:1:3::1", "u", t0).decision, Decision::check);
}

TEST(LoginGuard, AnAccountUnderADistributedAttackIsSpacedNotLocked) {
    LockoutPolicy p = policy();
    p.account_free = 2;
    p.account_max_delay = 4s;
    LoginGuard g(p);
    // The owner logs in from home once.
    ASSERT_EQ(g.begin("198.51.100.7", "alice", t0).decision, Decision::check);
    ASSERT_TRUE(g.succeeded("198.51.100.7", "alice", t0));
    // Many addresses, one guess each.
    fail(g, "203.0.113.1", "alice", t0);
    fail(g, "203.0.113.2", "alice", t0);
    auto a = g.begin("192.0.2.3", "alice", t0);  // pressure 2: spacing starts
    EXPECT_EQ(a.decision, Decision::check);
    EXPECT_EQ(a.wait, clock::duration::zero());
    EXPECT_TRUE(a.throttle_started);
    auto b = g.begin("192.0.2.4", "alice", t0);  // waits for the slot after a's gap (1s)
    EXPECT_EQ(b.decision, Decision::check);
    EXPECT_EQ(b.wait, d(1s));
    EXPECT_FALSE(b.throttle_started);
    auto c = g.begin("192.0.2.5", "alice", t0);  // then 2s more
    EXPECT_EQ(c.wait, d(3s));
    auto e = g.begin("192.0.2.6", "alice", t0);  // its slot is 3 + 4 = 7s off: refused for now
    EXPECT_EQ(e.decision, Decision::throttled);
    EXPECT_GE(g.throttled_attempts(), 4u);
    // Other accounts are not affected, and the owner from home is not spaced.
    EXPECT_EQ(g.begin("192.0.2.6", "bob", t0).wait, clock::duration::zero());
    auto home = g.begin("198.51.100.200", "ALICE", t0);
    EXPECT_EQ(home.decision, Decision::check);
    EXPECT_EQ(home.wait, clock::duration::zero());
    EXPECT_TRUE(g.succeeded("198.51.100.200", "alice", t0));
    // Never a hard lock: once the slots have passed, a new address gets its turn.
    EXPECT_EQ(g.begin("192.0.2.99", "alice", t0 + 8s).decision, Decision::check);
}

}  // namespace
}  // namespace sluice::auth
