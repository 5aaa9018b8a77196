// connection_limits_test.cpp: total, per-address (IPv6: per /64) and per-network (IPv4 /24, IPv6
// /48) connection counts, forced admission after an eviction, and the stress threshold.
#include "server/connection_limits.hpp"

#include <gtest/gtest.h>

namespace sluice::server {
namespace {

using Admit = ConnectionLimits::Admit;

TEST(ConnectionLimits, PerAddressCountsAnIpv6SlashSixtyFourAsOneAddress) {
    ConnectionLimits l(100, 2, 100);
    EXPECT_EQ(l.acquire("2001:db8:1:2::1"), Admit::ok);
    EXPECT_EQ(l.acquire("2001:db8:1:2::2"), Admit::ok);
    EXPECT_EQ(l.acquire("2001:db8:1:2:ffff::9"), Admit::ip_full);  // same /64
    EXPECT_EQ(l.acquire("2001:db8:1:3::1"), Admit::ok);            // another /64
    EXPECT_EQ(l.acquire("192.0.2.1"), Admit::ok);
    EXPECT_EQ(l.acquire("192.0.2.1"), Admit::ok);
    EXPECT_EQ(l.acquire("192.0.2.1"), Admit::ip_full);
    EXPECT_EQ(l.acquire("192.0.2.2"), Admit::ok);  // IPv4: per address
    l.release("2001:db8:1:2::1");
    EXPECT_EQ(l.acquire("2001:db8:1:2::77"), Admit::ok);
    EXPECT_EQ(l.active(), 6u);
}

TEST(ConnectionLimits, PerNetworkIsAnIpv4SlashTwentyFourAndAnIpv6SlashFortyEight) {
    ConnectionLimits l(100, 10, 3);
    EXPECT_EQ(l.acquire("192.0.2.1"), Admit::ok);
    EXPECT_EQ(l.acquire("192.0.2.2"), Admit::ok);
    EXPECT_EQ(l.acquire("192.0.2.3"), Admit::ok);
    EXPECT_EQ(l.acquire("192.0.2.4"), Admit::net_full);
    EXPECT_EQ(l.acquire("192.0.3.4"), Admit::ok);
    EXPECT_EQ(l.acquire("2001:db8:1:1::1"), Admit::ok);
    EXPECT_EQ(l.acquire("2001:db8:1:2::1"), Admit::ok);
    EXPECT_EQ(l.acquire("2001:db8:1:3::1"), Admit::ok);
    EXPECT_EQ(l.acquire("2001:db8:1:4::1"), Admit::net_full);  // same /48
    EXPECT_EQ(l.acquire("2001:db8:2::1"), Admit::ok);
    l.release("192.0.2.2");
    EXPECT_EQ(l.acquire("192.0.2.200"), Admit::ok);
}

TEST(ConnectionLimits, ForcedAdmissionGoesPastTheTotalButNotPastTheOthers) {
    ConnectionLimits l(2, 1, 100);
    EXPECT_EQ(l.acquire("192.0.2.1"), Admit::ok);
    EXPECT_EQ(l.acquire("192.0.2.2"), Admit::ok);
    EXPECT_EQ(l.acquire("192.0.2.3"), Admit::total_full);
    EXPECT_EQ(l.force_acquire("192.0.2.3"), Admit::ok);
    EXPECT_EQ(l.force_acquire("192.0.2.3"), Admit::ip_full);
    EXPECT_EQ(l.active(), 3u);
}

TEST(ConnectionLimits, StressFromThreeQuartersOrTheConfiguredCount) {
    ConnectionLimits l(8, 100, 100);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(l.acquire("192.0.2.1"), Admit::ok);
    EXPECT_FALSE(l.stressed());
    ASSERT_EQ(l.acquire("192.0.2.1"), Admit::ok);
    EXPECT_TRUE(l.stressed());  // 6 of 8
    l.release("192.0.2.1");
    EXPECT_FALSE(l.stressed());
    ConnectionLimits m(8, 100, 100, 2);
    ASSERT_EQ(m.acquire("192.0.2.1"), Admit::ok);
    ASSERT_EQ(m.acquire("192.0.2.1"), Admit::ok);
    EXPECT_TRUE(m.stressed());
}

}  // namespace
}  // namespace sluice::server
