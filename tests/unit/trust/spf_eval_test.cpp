// spf_eval_test.cpp: check_host() over zone data: results, limits and what is looked up.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "spf_zone.hpp"
#include "trust/spf_eval.hpp"

namespace sluice::trust::spf {
namespace {
namespace asio = boost::asio;

struct Fixture : ::testing::Test {
    test::ZoneLookup zone;

    void txt(const std::string& name, const std::string& value) {
        zone.zone[name].push_back({"TXT", value});
    }
    void a(const std::string& name, const std::string& value) {
        zone.zone[name].push_back({"A", value});
    }

    Outcome check(const std::string& ip, const std::string& sender,
                  const std::string& helo = "mx.example.net") {
        Evaluator ev(zone);
        Request r;
        r.ip = *IpAddress::parse(ip);
        r.sender = sender;
        r.helo = helo;
        asio::io_context io;
        auto f = asio::co_spawn(io, ev.check_mail_from(r), asio::use_future);
        io.run();
        return f.get();
    }
};

TEST_F(Fixture, PassFailAndDefault) {
    txt("example.com", "v=spf1 ip4:192.0.2.0/24 a:mail.example.com -all");
    a("mail.example.com", "198.51.100.7");
    EXPECT_EQ(check("192.0.2.9", "a@example.com").result, Result::pass);
    auto viaa = check("198.51.100.7", "a@example.com");
    EXPECT_EQ(viaa.result, Result::pass);
    EXPECT_EQ(viaa.mechanism, "a:mail.example.com");
    auto fail = check("203.0.113.1", "a@example.com");
    EXPECT_EQ(fail.result, Result::fail);
    EXPECT_EQ(fail.mechanism, "-all");
    txt("neutral.example", "v=spf1 ip4:192.0.2.1");
    EXPECT_EQ(check("203.0.113.1", "a@neutral.example").result, Result::neutral);
    EXPECT_EQ(check("203.0.113.1", "a@nothing.example").result, Result::none);
}

TEST_F(Fixture, IPv4MappedClientsAreIPv4) {
    txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    EXPECT_EQ(check("::ffff:192.0.2.5", "a@example.com").result, Result::pass);
}

TEST_F(Fixture, NullSenderChecksHelo) {
    txt("mx.example.net", "v=spf1 ip4:192.0.2.5 -all");
    auto out = check("192.0.2.5", "", "mx.example.net");
    EXPECT_EQ(out.result, Result::pass);
    EXPECT_EQ(out.sender, "postmaster@mx.example.net");
}

TEST_F(Fixture, TenDnsTermsAtMost) {
    // A chain of includes: each costs a lookup; the 11th is a permerror, and no more are asked.
    for (int i = 0; i < 20; ++i)
        txt("i" + std::to_string(i) + ".example",
            "v=spf1 include:i" + std::to_string(i + 1) + ".example -all");
    auto out = check("192.0.2.1", "a@i0.example");
    EXPECT_EQ(out.result, Result::permerror);
    EXPECT_LE(zone.queries.size(), 12u);
}

TEST_F(Fixture, TwoVoidLookupsAtMost) {
    txt("example.com", "v=spf1 a:n1.example a:n2.example a:n3.example ip4:192.0.2.1 -all");
    EXPECT_EQ(check("192.0.2.1", "a@example.com").result, Result::permerror);
    txt("two.example", "v=spf1 a:n1.example a:n2.example ip4:192.0.2.1 -all");
    EXPECT_EQ(check("192.0.2.1", "a@two.example").result, Result::pass);
}

TEST_F(Fixture, IncludeLoopIsBounded) {
    txt("loop.example", "v=spf1 include:loop.example -all");
    EXPECT_EQ(check("192.0.2.1", "a@loop.example").result, Result::permerror);
}

TEST_F(Fixture, TemporaryFailuresStayTemporary) {
    zone.zone["slow.example"].push_back({"TIMEOUT", ""});
    EXPECT_EQ(check("192.0.2.1", "a@slow.example").result, Result::temperror);
    txt("example.com", "v=spf1 include:error.example -all");
    EXPECT_EQ(check("192.0.2.1", "a@example.com").result, Result::temperror);
}

TEST_F(Fixture, ExplanationIsExpanded) {
    txt("example.com", "v=spf1 -all exp=why.example.com");
    txt("why.example.com", "%{i} is not one of %{d}'s senders");
    auto out = check("192.0.2.1", "a@example.com");
    EXPECT_EQ(out.result, Result::fail);
    EXPECT_EQ(out.explanation, "192.0.2.1 is not one of example.com's senders");
}

TEST_F(Fixture, PtrValidatesForward) {
    txt("example.com", "v=spf1 ptr -all");
    zone.zone["1.2.0.192.in-addr.arpa"].push_back({"PTR", "mail.example.com"});
    zone.zone["2.2.0.192.in-addr.arpa"].push_back({"PTR", "liar.example.com"});
    a("mail.example.com", "192.0.2.1");
    a("liar.example.com", "203.0.113.9");  // claims the name, but the name is not its address
    EXPECT_EQ(check("192.0.2.1", "a@example.com").result, Result::pass);
    EXPECT_EQ(check("192.0.2.2", "a@example.com").result, Result::fail);
}

}  // namespace
}  // namespace sluice::trust::spf
