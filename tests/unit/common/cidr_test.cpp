// cidr_test.cpp: IP address and CIDR parsing, printing and matching (common/cidr.hpp).
#include "common/cidr.hpp"

#include <gtest/gtest.h>

namespace sluice {
namespace {

IpAddress ip(std::string_view s) {
    const auto a = IpAddress::parse(s);
    EXPECT_TRUE(a.has_value()) << s;
    return a.value_or(IpAddress{});
}

Cidr net(std::string_view s) {
    const auto c = Cidr::parse(s);
    EXPECT_TRUE(c.has_value()) << s;
    return c.value_or(Cidr{});
}

TEST(IpAddress, ParsesIpv4AsMapped) {
    const auto a = ip("192.0.2.7");
    EXPECT_TRUE(a.is_v4());
    EXPECT_EQ(a.bytes[10], 0xff);
    EXPECT_EQ(a.bytes[11], 0xff);
    EXPECT_EQ(a.bytes[12], 192);
    EXPECT_EQ(a.bytes[15], 7);
    EXPECT_EQ(a.to_string(), "192.0.2.7");
}

TEST(IpAddress, ParsesIpv6WithAndWithoutBrackets) {
    EXPECT_EQ(ip("::1").to_string(), "::1");
    EXPECT_EQ(ip("[::1]"), ip("::1"));
    EXPECT_FALSE(ip("::1").is_v4());
    EXPECT_EQ(ip("2001:DB8::1").to_string(), "2001:db8::1");
}

TEST(IpAddress, MappedIpv6EqualsIpv4) {
    EXPECT_EQ(ip("::ffff:10.1.2.3"), ip("10.1.2.3"));
    EXPECT_TRUE(ip("::ffff:10.1.2.3").is_v4());
    EXPECT_EQ(ip("::ffff:10.1.2.3").to_string(), "10.1.2.3");
}

TEST(IpAddress, RejectsGarbage) {
    for (const char* bad :
         {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "localhost",
          "::1%lo", "[::1", "::1]", "[]", ":::", "1.2.3.4/8", "g::1"}) {
        EXPECT_FALSE(IpAddress::parse(bad).has_value()) << bad;
    }
    EXPECT_FALSE(IpAddress::parse(std::string_view("1.2.3.4\0", 8)).has_value());
}

TEST(Cidr, ParsesIpv4Networks) {
    const auto c = net("10.0.0.0/8");
    EXPECT_EQ(c.prefix, 96 + 8);
    EXPECT_EQ(c.to_string(), "10.0.0.0/8");
    EXPECT_TRUE(c.contains(ip("10.255.1.2")));
    EXPECT_FALSE(c.contains(ip("11.0.0.1")));
}

TEST(Cidr, ClearsHostBits) {
    EXPECT_EQ(net("192.168.1.77/24").to_string(), "192.168.1.0/24");
    EXPECT_EQ(net("10.1.2.3/9").to_string(), "10.0.0.0/9");
    EXPECT_EQ(net("10.129.2.3/9").to_string(), "10.128.0.0/9");
    EXPECT_EQ(net("2001:db8::ffff/64").to_string(), "2001:db8::/64");
    EXPECT_EQ(net("2001:db8:1234::/30").to_string(), "2001:db8::/30");
}

TEST(Cidr, BareAddressIsSingleHost) {
    const auto v4 = net("192.0.2.1");
    EXPECT_EQ(v4.prefix, 128);
    EXPECT_EQ(v4.to_string(), "192.0.2.1/32");
    EXPECT_TRUE(v4.contains(ip("192.0.2.1")));
    EXPECT_FALSE(v4.contains(ip("192.0.2.2")));
    const auto v6 = net("::1");
    EXPECT_EQ(v6.to_string(), "::1/128");
    EXPECT_TRUE(v6.contains(ip("::1")));
    EXPECT_FALSE(v6.contains(ip("::2")));
    EXPECT_EQ(net("[::1]").to_string(), "::1/128");
}

TEST(Cidr, PrefixBounds) {
    EXPECT_TRUE(Cidr::parse("0.0.0.0/0").has_value());
    EXPECT_TRUE(Cidr::parse("1.2.3.4/32").has_value());
    EXPECT_FALSE(Cidr::parse("1.2.3.4/33").has_value());
    EXPECT_TRUE(Cidr::parse("::/0").has_value());
    EXPECT_TRUE(Cidr::parse("::1/128").has_value());
    EXPECT_FALSE(Cidr::parse("::1/129").has_value());
    for (const char* bad :
         {"1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/08", "1.2.3.4/8/8", "1.2.3.4/ 8",
          "1.2.3.4/1000", "/8", "10/8", "10.0.0/8", "x/8", "::1/12a", "[::1/128", ""}) {
        EXPECT_FALSE(Cidr::parse(bad).has_value()) << bad;
    }
}

TEST(Cidr, ZeroPrefixMatchesItsFamilyOrEverything) {
    const auto any4 = net("0.0.0.0/0");
    EXPECT_TRUE(any4.contains(ip("203.0.113.9")));
    EXPECT_TRUE(any4.contains(ip("::ffff:203.0.113.9")));
    EXPECT_FALSE(any4.contains(ip("2001:db8::1")));
    // "::/0" is every address in the 16-byte space, IPv4 clients included.
    const auto any6 = net("::/0");
    EXPECT_TRUE(any6.contains(ip("2001:db8::1")));
    EXPECT_TRUE(any6.contains(ip("203.0.113.9")));
}

TEST(Cidr, V4MappedClientMatchesV4Network) {
    const auto c = net("192.168.0.0/16");
    EXPECT_TRUE(c.contains(ip("::ffff:192.168.3.4")));
    EXPECT_TRUE(c.contains(ip("[::ffff:192.168.3.4]")));
    EXPECT_FALSE(c.contains(ip("::ffff:192.169.0.1")));
    // The same numbers as a native IPv6 address (not mapped) are not in the IPv4 network.
    EXPECT_FALSE(c.contains(ip("::c0a8:304")));
    EXPECT_FALSE(c.contains(ip("64:ff9b::c0a8:304")));
}

TEST(Cidr, MappedNotationNetworkMatchesV4Client) {
    const auto c = net("::ffff:10.0.0.0/104");
    EXPECT_EQ(c.to_string(), "10.0.0.0/8");
    EXPECT_TRUE(c.contains(ip("10.9.9.9")));
    EXPECT_FALSE(c.contains(ip("11.0.0.0")));
}

TEST(Cidr, Ipv6Networks) {
    const auto c = net("2001:db8::/32");
    EXPECT_TRUE(c.contains(ip("2001:db8:ffff::1")));
    EXPECT_FALSE(c.contains(ip("2001:db9::1")));
    EXPECT_FALSE(c.contains(ip("10.0.0.1")));
    const auto odd = net("2001:db8:8000::/33");
    EXPECT_TRUE(odd.contains(ip("2001:db8:8000::1")));
    EXPECT_TRUE(odd.contains(ip("2001:db8:ffff::1")));
    EXPECT_FALSE(odd.contains(ip("2001:db8:7fff::1")));
}

TEST(CidrList, MatchesAnyMember) {
    CidrList list;
    EXPECT_TRUE(list.empty());
    EXPECT_FALSE(list.contains(ip("127.0.0.1")));
    list.add(net("127.0.0.0/8"));
    list.add(net("::1"));
    EXPECT_FALSE(list.empty());
    EXPECT_EQ(list.nets().size(), 2u);
    EXPECT_TRUE(list.contains(ip("127.0.0.1")));
    EXPECT_TRUE(list.contains(ip("::ffff:127.1.2.3")));
    EXPECT_TRUE(list.contains(ip("::1")));
    EXPECT_FALSE(list.contains(ip("::2")));
    EXPECT_FALSE(list.contains(ip("128.0.0.1")));

    const CidrList from_vector({net("198.51.100.0/24")});
    EXPECT_TRUE(from_vector.contains(ip("198.51.100.200")));
    EXPECT_FALSE(from_vector.contains(ip("198.51.101.1")));
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(NetworkKey, OneSpellingPerNetworkWhateverTheAddressForm) {
    EXPECT_EQ(network_key("192.0.2.77", 32, 64), "192.0.2.77");
    EXPECT_EQ(network_key("::ffff:192.0.2.77", 32, 64), "192.0.2.77");  // mapped: same key
    EXPECT_EQ(network_key("192.0.2.77", 24, 48), "192.0.2.0/24");
    EXPECT_EQ(network_key("::ffff:192.0.2.77", 24, 48), "192.0.2.0/24");
    EXPECT_EQ(network_key("2001:db8:1:2:3:4:5:6", 32, 64), "2001:db8:1:2::/64");
    EXPECT_EQ(network_key("2001:DB8:1:2::9", 32, 64), "2001:db8:1:2::/64");
    EXPECT_EQ(network_key("2001:db8:1:2::9", 24, 48), "2001:db8:1::/48");
    EXPECT_EQ(network_key("not an address", 24, 48), "not an address");
}

}  // namespace
}  // namespace sluice
