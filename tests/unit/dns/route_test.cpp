// route_test.cpp: RFC 5321 5.1 route planning and DNS record decoding.
#include <gtest/gtest.h>

#include <set>

#include "dns/rdata.hpp"
#include "dns/route.hpp"

using namespace sluice::dns;

namespace {

MxAnswer mx(std::vector<MxRecord> r) {
    MxAnswer a;
    a.status = Status::ok;
    a.records = std::move(r);
    return a;
}

std::mt19937_64 rng{42};

}  // namespace

TEST(PlanMx, SortedByPreference) {
    auto p = plan_mx("example.net", mx({{20, "b.example.net"}, {10, "a.example.net"}}), {}, rng);
    ASSERT_FALSE(p.error);
    EXPECT_EQ(p.hosts, (std::vector<std::string>{"a.example.net", "b.example.net"}));
    EXPECT_FALSE(p.implicit);
}

TEST(PlanMx, EqualPreferencesAreShuffled) {
    std::set<std::string> firsts;
    for (int i = 0; i < 64; ++i) {
        auto p = plan_mx("x.net", mx({{10, "a"}, {10, "b"}, {10, "c"}, {5, "z"}}), {}, rng);
        ASSERT_EQ(p.hosts.size(), 4u);
        EXPECT_EQ(p.hosts[0], "z");
        firsts.insert(p.hosts[1]);
    }
    EXPECT_EQ(firsts.size(), 3u);
}

TEST(PlanMx, ImplicitMxWhenNoRecords) {
    MxAnswer a;
    a.status = Status::nodata;
    auto p = plan_mx("example.net", a, {}, rng);
    ASSERT_FALSE(p.error);
    EXPECT_TRUE(p.implicit);
    EXPECT_EQ(p.hosts, std::vector<std::string>{"example.net"});
}

TEST(PlanMx, NullMxIsPermanent) {
    auto p = plan_mx("example.net", mx({{0, ""}}), {}, rng);
    ASSERT_TRUE(p.error);
    EXPECT_EQ(p.error->code, 556);
    EXPECT_EQ(p.error->enhanced, "5.1.10");
    EXPECT_TRUE(p.error->permanent());
}

TEST(PlanMx, NxdomainPermanentServfailTemporary) {
    MxAnswer a;
    a.status = Status::nxdomain;
    auto p = plan_mx("nx.net", a, {}, rng);
    ASSERT_TRUE(p.error);
    EXPECT_TRUE(p.error->permanent());
    a.status = Status::temp_fail;
    p = plan_mx("nx.net", a, {}, rng);
    ASSERT_TRUE(p.error);
    EXPECT_FALSE(p.error->permanent());
    EXPECT_EQ(p.error->enhanced, "4.4.3");
}

TEST(PlanMx, OwnNameKeepsOnlyBetterHosts) {
    auto p = plan_mx("x.net", mx({{10, "better"}, {20, "mx.us"}, {30, "worse"}}), {"mx.us"}, rng);
    ASSERT_FALSE(p.error);
    EXPECT_EQ(p.hosts, std::vector<std::string>{"better"});
    p = plan_mx("x.net", mx({{10, "mx.us"}, {30, "worse"}}), {"mx.us"}, rng);
    ASSERT_TRUE(p.error);
    EXPECT_EQ(p.error->enhanced, "5.4.6");
}

TEST(OrderAddresses, Ipv6FirstAndSelfDropped) {
    AddressAnswer a6{Status::ok, {"::1", "2001:db8::1"}, {}};
    AddressAnswer a4{Status::ok, {"192.0.2.1", "192.0.2.1"}, {}};
    EXPECT_EQ(order_addresses(a6, a4, {"::1"}),
              (std::vector<std::string>{"2001:db8::1", "192.0.2.1"}));
}

TEST(AddressError, PermanentOnlyForImplicitMx) {
    AddressAnswer nx{Status::nxdomain, {}, {}};
    AddressAnswer none{Status::nodata, {}, {}};
    EXPECT_TRUE(address_error("d", nx, none, true).permanent());
    EXPECT_FALSE(address_error("mx.d", nx, none, false).permanent());
    AddressAnswer tf{Status::temp_fail, {}, "timed out"};
    EXPECT_FALSE(address_error("d", tf, none, true).permanent());
}

TEST(Rdata, DecodeMx) {
    const std::string rd(
        "\x00\x0a\x02mx\x07"
        "Example\x03net\x00",
        18);
    auto m = decode_mx(rd);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->preference, 10);
    EXPECT_EQ(m->host, "mx.example.net");
    auto null_mx = decode_mx(std::string("\x00\x00\x00", 3));
    ASSERT_TRUE(null_mx);
    EXPECT_EQ(null_mx->host, "");
}

TEST(Rdata, RejectsDamage) {
    EXPECT_FALSE(decode_mx(std::string("\x00\x0a\x05mx", 5)));          // label runs off
    EXPECT_FALSE(decode_mx(std::string("\x00\x0a\xc0\x0c", 4)));        // compression pointer
    EXPECT_FALSE(decode_mx(std::string("\x00\x0a\x02mx\x00junk", 9)));  // trailing bytes
    EXPECT_FALSE(decode_address("abc"));
}

TEST(Rdata, DecodeAddress) {
    EXPECT_EQ(decode_address(std::string("\x7f\x00\x00\x02", 4)), "127.0.0.2");
    std::string v6(16, '\0');
    v6[15] = 1;
    EXPECT_EQ(decode_address(v6), "::1");
}

namespace sluice::dns {
namespace {

TEST(DecodeTxt, CharacterStringsAreConcatenated) {
    using namespace std::string_literals;
    EXPECT_EQ(decode_txt("\x06v=spf1\x05 -all"s), "v=spf1 -all");
    EXPECT_EQ(decode_txt(""s), "");
    EXPECT_EQ(decode_txt("\x00\x02ok"s), "ok");
    EXPECT_FALSE(decode_txt("\x07v=spf1"s));  // a length past the end is damage, not data
}

}  // namespace
}  // namespace sluice::dns
