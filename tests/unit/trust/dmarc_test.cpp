// dmarc_test.cpp: DMARC records, organizational domains (the real Public Suffix List), alignment
// and the policy a failing message falls under, as a table of cases (RFC 7489).
#include "trust/dmarc.hpp"

#include <gtest/gtest.h>

namespace sluice::trust::dmarc {
namespace {

TEST(DmarcRecord, Parses) {
    auto r = parse_record(
        "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=r; pct=20; "
        "rua=mailto:agg@example.com, mailto:x@example.net; ruf=mailto:f@example.com");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->p, Policy::reject);
    EXPECT_EQ(r->sp, Policy::quarantine);
    EXPECT_EQ(r->np, Policy::reject);
    EXPECT_TRUE(r->strict_dkim);
    EXPECT_FALSE(r->strict_spf);
    EXPECT_EQ(r->pct, 20);
    ASSERT_EQ(r->rua.size(), 2u);
    EXPECT_EQ(r->rua[1], "mailto:x@example.net");
    EXPECT_TRUE(parse_record("v=DMARC1;p=none"));
    EXPECT_TRUE(parse_record("v=DMARC1; p=none; future=tag"));  // unknown tags ignored
}

TEST(DmarcRecord, Unusable) {
    EXPECT_FALSE(parse_record("v=DMARC1"));            // no p=, no rua=
    EXPECT_FALSE(parse_record("v=DMARC1; p=block"));   // unknown policy
    EXPECT_FALSE(parse_record("p=reject; v=DMARC1"));  // v= not first
    EXPECT_FALSE(parse_record("v=spf1 -all"));
    EXPECT_FALSE(parse_record("v=DMARC2; p=reject"));
    EXPECT_FALSE(parse_record("v=DMARC1; p"));                    // not tag=value
    auto r = parse_record("v=DMARC1; rua=mailto:a@example.com");  // 6.6.3: p=none
    ASSERT_TRUE(r);
    EXPECT_EQ(r->p, Policy::none);
    EXPECT_EQ(parse_record("v=DMARC1; p=reject; pct=500")->pct, 100);
    EXPECT_EQ(parse_record("v=DMARC1; p=reject; pct=-1")->pct, 100);
}

TEST(DmarcOrgDomain, PublicSuffixList) {
    struct Case {
        const char* name;
        const char* org;
    } cases[] = {
        {"example.com", "example.com"},
        {"mail.example.com", "example.com"},
        {"A.B.Example.COM.", "example.com"},
        {"example.co.uk", "example.co.uk"},
        {"mail.example.co.uk", "example.co.uk"},
        {"co.uk", "co.uk"},  // a public suffix is its own
        {"com", "com"},
        // The private section counts: each blogspot.com name is its own organization.
        {"a.alice.blogspot.com", "alice.blogspot.com"},
        {"www.city.kawasaki.jp", "city.kawasaki.jp"},  // an exception rule (!city.kawasaki.jp)
    };
    for (const auto& c : cases) EXPECT_EQ(organizational_domain(c.name), c.org) << c.name;
}

TEST(DmarcAlignment, RelaxedAndStrict) {
    EXPECT_TRUE(aligned("mail.example.com", "example.com", false));
    EXPECT_FALSE(aligned("mail.example.com", "example.com", true));
    EXPECT_TRUE(aligned("EXAMPLE.com", "example.COM", true));
    EXPECT_FALSE(aligned("example.co.uk", "other.co.uk", false));
    EXPECT_FALSE(aligned("alice.blogspot.com", "bob.blogspot.com", false));
    EXPECT_FALSE(aligned("", "example.com", false));
}

TEST(DmarcEvaluate, Table) {
    const Record reject = *parse_record("v=DMARC1; p=reject; sp=quarantine; np=reject");
    const Record strict = *parse_record("v=DMARC1; p=reject; adkim=s; aspf=s");
    const Record half = *parse_record("v=DMARC1; p=reject; pct=50");
    struct Case {
        const char* what;
        const Record& r;
        Inputs in;
        bool pass;
        Policy applied;
    } cases[] = {
        {"aligned SPF pass",
         reject,
         {"example.com", "example.com", true, {}, false, true, 0},
         true,
         Policy::none},
        {"SPF pass for another domain",
         reject,
         {"example.com", "evil.example", true, {}, false, true, 0},
         false,
         Policy::reject},
        {"SPF fail, aligned domain",
         reject,
         {"example.com", "example.com", false, {}, false, true, 0},
         false,
         Policy::reject},
        {"DKIM pass from a subdomain, relaxed",
         reject,
         {"example.com", "", false, {"mail.example.com"}, false, true, 0},
         true,
         Policy::none},
        {"DKIM pass from a subdomain, strict",
         strict,
         {"example.com", "", false, {"mail.example.com"}, false, true, 0},
         false,
         Policy::reject},
        {"SPF from a subdomain, strict",
         strict,
         {"example.com", "bounce.example.com", true, {}, false, true, 0},
         false,
         Policy::reject},
        {"DKIM pass by a third party only",
         reject,
         {"example.com", "", false, {"esp.example"}, false, true, 0},
         false,
         Policy::reject},
        {"subdomain under the org's record: sp",
         reject,
         {"news.example.com", "", false, {}, true, true, 0},
         false,
         Policy::quarantine},
        {"nonexistent subdomain: np",
         reject,
         {"nx.example.com", "", false, {}, true, false, 0},
         false,
         Policy::reject},
        {"pct: inside the sample",
         half,
         {"example.com", "", false, {}, false, true, 49},
         false,
         Policy::reject},
        {"pct: outside the sample, one step softer",
         half,
         {"example.com", "", false, {}, false, true, 50},
         false,
         Policy::quarantine},
    };
    for (const auto& c : cases) {
        const Evaluation e = evaluate(c.r, c.in);
        EXPECT_EQ(e.pass, c.pass) << c.what;
        EXPECT_EQ(e.applied, c.applied) << c.what;
    }
}

}  // namespace
}  // namespace sluice::trust::dmarc
