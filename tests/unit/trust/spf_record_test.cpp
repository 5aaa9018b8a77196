// spf_record_test.cpp: the SPF record parser and macro expansion (RFC 7208 4.6, 5, 6, 7).
#include <gtest/gtest.h>

#include "trust/spf_macro.hpp"
#include "trust/spf_record.hpp"

namespace sluice::trust::spf {
namespace {

Record parse_ok(std::string_view txt) {
    auto r = parse_record(txt);
    if (auto* e = std::get_if<ParseError>(&r)) ADD_FAILURE() << txt << ": " << e->reason;
    return std::get_if<Record>(&r) ? std::get<Record>(r) : Record{};
}

bool parse_fails(std::string_view txt) {
    return std::holds_alternative<ParseError>(parse_record(txt));
}

TEST(SpfRecord, Selection) {
    EXPECT_TRUE(is_spf_record("v=spf1"));
    EXPECT_TRUE(is_spf_record("V=SPF1 -all"));
    EXPECT_FALSE(is_spf_record("v=spf10 -all"));
    EXPECT_FALSE(is_spf_record("v=spf1-all"));
    EXPECT_FALSE(is_spf_record("spf2.0/pra -all"));
}

TEST(SpfRecord, MechanismsAndQualifiers) {
    Record r = parse_ok(
        "v=spf1 +a -mx:example.org/24//64 ~ptr ?ip4:192.0.2.0/24 ip6:2001:db8::/32 "
        "include:_spf.example.com exists:%{i}.bl.example -all");
    ASSERT_EQ(r.mechanisms.size(), 8u);
    EXPECT_EQ(r.mechanisms[0].kind, Mechanism::Kind::a);
    EXPECT_EQ(r.mechanisms[1].qualifier, Qualifier::fail);
    EXPECT_EQ(r.mechanisms[1].domain_spec, "example.org");
    EXPECT_EQ(r.mechanisms[1].cidr4, 24);
    EXPECT_EQ(r.mechanisms[1].cidr6, 64);
    EXPECT_EQ(r.mechanisms[2].qualifier, Qualifier::softfail);
    EXPECT_EQ(r.mechanisms[3].qualifier, Qualifier::neutral);
    EXPECT_TRUE(r.mechanisms[3].network.contains(*IpAddress::parse("192.0.2.77")));
    EXPECT_FALSE(r.mechanisms[3].network.contains(*IpAddress::parse("192.0.3.1")));
    EXPECT_TRUE(r.mechanisms[4].network.contains(*IpAddress::parse("2001:db8:ffff::1")));
    EXPECT_EQ(r.mechanisms[6].domain_spec, "%{i}.bl.example");
}

TEST(SpfRecord, Modifiers) {
    Record r = parse_ok("v=spf1 redirect=_spf.example.com exp=explain.%{d} unknown-mod=x");
    EXPECT_EQ(r.redirect, "_spf.example.com");
    EXPECT_EQ(r.exp, "explain.%{d}");
    EXPECT_TRUE(parse_fails("v=spf1 redirect=a.example redirect=b.example"));
    EXPECT_TRUE(parse_fails("v=spf1 exp=a.example exp=b.example"));
    EXPECT_TRUE(parse_fails("v=spf1 foo=%{q}"));  // unknown modifiers must still be well formed
}

TEST(SpfRecord, SyntaxErrorsAnywhereAreErrors) {
    EXPECT_TRUE(parse_fails("v=spf1 -all foo"));
    EXPECT_TRUE(parse_fails("v=spf1 ip4:192.0.2.1/33"));
    EXPECT_TRUE(parse_fails("v=spf1 ip4:192.0.2.1/032"));  // no leading zeros
    EXPECT_TRUE(parse_fails("v=spf1 ip4:192.0.2"));
    EXPECT_TRUE(parse_fails("v=spf1 ip6:192.0.2.1"));
    EXPECT_TRUE(parse_fails("v=spf1 a:example.123"));  // a numeric top label
    EXPECT_TRUE(parse_fails("v=spf1 include"));
    EXPECT_TRUE(parse_fails("v=spf1 all:x"));
    EXPECT_TRUE(parse_fails("v=spf1 a//129"));
    EXPECT_TRUE(parse_fails("v=spf1 exists:%{x}.example.com"));
    EXPECT_TRUE(parse_fails("v=spf1 a:\xc3\xa9.example.com"));
}

TEST(SpfMacro, RfcExamples) {
    // RFC 7208 7.4, with sender strong-bad@email.example.com and client 192.0.2.3.
    MacroContext c;
    c.sender = "strong-bad@email.example.com";
    c.local_part = "strong-bad";
    c.sender_domain = "email.example.com";
    c.domain = "email.example.com";
    c.ip = *IpAddress::parse("192.0.2.3");
    c.ptr_name = "unknown";
    EXPECT_EQ(expand("%{s}", c), "strong-bad@email.example.com");
    EXPECT_EQ(expand("%{o}", c), "email.example.com");
    EXPECT_EQ(expand("%{d4}", c), "email.example.com");
    EXPECT_EQ(expand("%{d3}", c), "email.example.com");
    EXPECT_EQ(expand("%{d2}", c), "example.com");
    EXPECT_EQ(expand("%{d1}", c), "com");
    EXPECT_EQ(expand("%{dr}", c), "com.example.email");
    EXPECT_EQ(expand("%{d2r}", c), "example.email");
    EXPECT_EQ(expand("%{l}", c), "strong-bad");
    EXPECT_EQ(expand("%{l-}", c), "strong.bad");
    EXPECT_EQ(expand("%{lr}", c), "strong-bad");
    EXPECT_EQ(expand("%{lr-}", c), "bad.strong");
    EXPECT_EQ(expand("%{l1r-}", c), "strong");
    EXPECT_EQ(expand("%{ir}.%{v}._spf.%{d2}", c), "3.2.0.192.in-addr._spf.example.com");
    EXPECT_EQ(expand("%{lr-}.lp._spf.%{d2}", c), "bad.strong.lp._spf.example.com");
    EXPECT_EQ(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", c),
              "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
    EXPECT_EQ(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", c),
              "3.2.0.192.in-addr.strong.lp._spf.example.com");
    EXPECT_EQ(expand("%{d2}.trusted-domains.example.net", c),
              "example.com.trusted-domains.example.net");
    c.ip = *IpAddress::parse("2001:db8::cb01");
    EXPECT_EQ(
        expand("%{ir}.%{v}._spf.%{d2}", c),
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST(SpfMacro, EscapesAndErrors) {
    MacroContext c;
    c.local_part = "jack&jill=up";
    EXPECT_EQ(expand("%{L}", c), "jack%26jill%3Dup");
    EXPECT_EQ(expand("a%%b%_c%-d", c, true), "a%b c%20d");
    EXPECT_FALSE(expand("%{c}", c));  // c, r, t only in explanations
    EXPECT_TRUE(expand("%{c}", c, true));
    EXPECT_FALSE(expand("%{d0}", c));
    EXPECT_FALSE(expand("%", c));
    EXPECT_FALSE(expand("%x", c));
    EXPECT_FALSE(expand("%{d", c));
    EXPECT_FALSE(expand("a b", c));
}

TEST(SpfMacro, ExpansionIsBounded) {
    // A hostile record repeating macros: refused past 2048 octets, not expanded to megabytes.
    MacroContext c;
    c.sender = "someone-with-a-long-local-part@example.com";
    std::string spec;
    for (int i = 0; i < 500; ++i) spec += "%{S}";
    EXPECT_FALSE(expand(spec + ".example.com", c));
    EXPECT_TRUE(expand("%{S}%{S}.example.com", c));
}

TEST(SpfMacro, LongNamesLoseLeftLabels) {
    std::string name;
    for (int i = 0; i < 30; ++i) name += "abcdefghi.";
    name += "example.com";
    const std::string t = truncate_domain(name);
    EXPECT_LE(t.size(), 253u);
    EXPECT_TRUE(t.ends_with(".example.com"));
    EXPECT_NE(t.front(), '.');
}

}  // namespace
}  // namespace sluice::trust::spf
