// author_test.cpp: the author domains DMARC judges, read from From fields as a mail reader would
// read them (RFC 5322 3.4, 3.6.2; RFC 7489 6.6.1).
#include "trust/author.hpp"

#include <gtest/gtest.h>

namespace sluice::trust {
namespace {

Authors of(std::string_view from_lines) {
    return author_domains(std::string(from_lines) + "Subject: x\r\n\r\n");
}

TEST(AuthorDomains, WhatReadersSee) {
    struct Case {
        const char* field;
        const char* domain;
    } cases[] = {
        {"From: ceo@bank.test\r\n", "bank.test"},
        {"From: CEO <ceo@Bank.TEST>\r\n", "bank.test"},
        {"From: ceo@bank.test (CEO)\r\n", "bank.test"},  // a trailing comment
        {"From: CEO <ceo@bank.test> (x)\r\n", "bank.test"},
        {"From: ceo@(comment)bank.test\r\n", "bank.test"},           // comment before domain
        {"From: \"a<b\" <ceo@bank.test>\r\n", "bank.test"},          // specials, quoted
        {"From: \"x@evil.test\" <ceo@bank.test>\r\n", "bank.test"},  // an address as a name
        {"From: <@relay.test:ceo@bank.test>\r\n", "bank.test"},      // obs-route
        {"From: ceo@bank . test\r\n", "bank.test"},                  // obs-domain CFWS
        {"From: Team: a@bank.test, b@bank.test;\r\n", "bank.test"},  // a group
        {"From: a@bank.test,\r\n b@bank.test\r\n", "bank.test"},     // folded list, one domain
        {"FROM : ceo@bank.test\r\n", "bank.test"},
        {"From: =?utf-8?q?J=C3=B6rg?= <j@bank.test>\r\n", "bank.test"},
        {"From: ceo@b\xc3\xa4nk.de\r\n", "xn--bnk-qla.de"},  // IDN: A-label
    };
    for (const auto& c : cases) {
        const Authors a = of(c.field);
        EXPECT_EQ(a.fields, 1u) << c.field;
        EXPECT_FALSE(a.malformed) << c.field;
        ASSERT_EQ(a.domains.size(), 1u) << c.field;
        EXPECT_EQ(a.domains[0], c.domain) << c.field;
    }
}

TEST(AuthorDomains, WhatCannotBeJudged) {
    EXPECT_EQ(of("From: a@x.test\r\nFrom: ceo@bank.test\r\n").fields, 2u);
    EXPECT_EQ(of("From: a@x.test\nFrom: ceo@bank.test\r\n").fields, 2u);  // bare LF splits too
    const Authors two = of("From: ceo@bank.test, x@evil.test\r\n");
    EXPECT_EQ(two.domains.size(), 2u);
    for (const char* bad : {
             "From: ceo@[192.0.2.1]\r\n",                 // domain literal
             "From: ceo@\r\n",                            // no domain
             "From: ceo\r\n",                             // no @
             "From: ceo@bank.test (unterminated\r\n",     // broken comment
             "From: \"unterminated <ceo@bank.test>\r\n",  // broken quote
             "From: ceo@bank..test\r\n",                  // empty label
             "From: ceo@exa mple.test\r\n",               // two atoms, no dot
             "From: undisclosed:;\r\n",                   // no mailbox at all
         }) {
        EXPECT_TRUE(of(bad).malformed) << bad;
    }
    const std::string long_label = "From: ceo@" + std::string(64, 'a') + ".bank.test\r\n";
    EXPECT_TRUE(of(long_label).malformed);
    EXPECT_EQ(of("Subject: none\r\n").fields, 0u);
}

}  // namespace
}  // namespace sluice::trust
