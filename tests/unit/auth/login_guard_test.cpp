// login_guard_test.cpp: growing delays and lockout after repeated failed logins, with a fake clock.
#include "auth/login_guard.hpp"

#include <gtest/gtest.h>

namespace sluice::auth {
namespace {

using namespace std::chrono_literals;

LockoutPolicy policy() {
    LockoutPolicy p;
    p.max_failures = 3;
    p.window = 60s;
    p.lockout = 300s;
    p.delay = 1s;
    p.max_delay = 3s;
    return p;
}

TEST(LoginGuard, DelayDoublesUpToTheCap) {
    LockoutPolicy p = policy();
    p.max_failures = 10;
    LoginGuard g(p);
    auto t = LoginGuard::clock::time_point{} + 1000s;
    EXPECT_EQ(g.failure("a", t).delay, std::chrono::duration_cast<LoginGuard::clock::duration>(1s));
    EXPECT_EQ(g.failure("a", t).delay, std::chrono::duration_cast<LoginGuard::clock::duration>(2s));
    EXPECT_EQ(g.failure("a", t).delay, std::chrono::duration_cast<LoginGuard::clock::duration>(3s));
    EXPECT_EQ(g.failure("a", t).delay, std::chrono::duration_cast<LoginGuard::clock::duration>(3s));
    // Another address starts from the beginning.
    EXPECT_EQ(g.failure("b", t).delay, std::chrono::duration_cast<LoginGuard::clock::duration>(1s));
}

TEST(LoginGuard, LocksOutAfterMaxFailuresInWindowThenExpires) {
    LoginGuard g(policy());
    auto t = LoginGuard::clock::time_point{} + 1000s;
    EXPECT_FALSE(g.failure("a", t).locked_now);
    EXPECT_FALSE(g.failure("a", t + 1s).locked_now);
    EXPECT_EQ(g.locked_for("a", t + 1s), LoginGuard::clock::duration::zero());
    EXPECT_TRUE(g.failure("a", t + 2s).locked_now);
    EXPECT_GT(g.locked_for("a", t + 3s), LoginGuard::clock::duration::zero());
    EXPECT_EQ(g.locked_for("b", t + 3s), LoginGuard::clock::duration::zero());
    EXPECT_EQ(g.locked_for("a", t + 303s), LoginGuard::clock::duration::zero());
}

TEST(LoginGuard, FailuresOutsideTheWindowDoNotAddUp) {
    LoginGuard g(policy());
    auto t = LoginGuard::clock::time_point{} + 1000s;
    g.failure("a", t);
    g.failure("a", t + 1s);
    EXPECT_FALSE(g.failure("a", t + 120s).locked_now);  // a new window
    EXPECT_EQ(g.failure("a", t + 121s).count, 2u);
}

TEST(LoginGuard, SuccessForgets) {
    LoginGuard g(policy());
    auto t = LoginGuard::clock::time_point{} + 1000s;
    g.failure("a", t);
    g.failure("a", t);
    g.success("a");
    EXPECT_EQ(g.tracked(), 0u);
    EXPECT_FALSE(g.failure("a", t).locked_now);
}

}  // namespace
}  // namespace sluice::auth
