// dsn_test.cpp: RFC 3464 DSN composition.
#include <gtest/gtest.h>

#include "queue/dsn.hpp"

using namespace sluice;
using namespace sluice::queue;

namespace {

spool::StoredMessage original(DsnRet ret = DsnRet::unspecified) {
    spool::StoredMessage m;
    m.envelope.queue_id = "0000000000000001";
    m.envelope.sender = "alice@example.org";
    m.envelope.recipients = {{"bob@example.net", "rfc822;bob@example.net", 0},
                             {"carol@example.net", {}, 0}};
    m.envelope.ret = ret;
    m.envelope.envid = "ENV1";
    m.envelope.received_at_us = 1700000000LL * 1000000;
    m.message = "Subject: hello\r\nMessage-ID: <1@x>\r\n\r\nsecret body\r\n";
    return m;
}

bool has(const std::string& s, const std::string& what) {
    return s.find(what) != std::string::npos;
}

}  // namespace

TEST(Dsn, FailureCarriesEverything) {
    DsnRequest req;
    req.hostname = "mx.example.org";
    req.now_us = 1700000100LL * 1000000;
    req.recipients.push_back({"bob@example.net", "rfc822;bob@example.net", DsnAction::failed,
                              "5.1.1", "550 5.1.1 no such user\r\nInjected: yes",
                              "mx.example.net"});
    auto d = make_dsn(original(), req, "0000000000000002");
    const auto& m = d.message;
    EXPECT_EQ(d.envelope.sender, "");
    ASSERT_EQ(d.envelope.recipients.size(), 1u);
    EXPECT_EQ(d.envelope.recipients[0].address, "alice@example.org");
    EXPECT_TRUE(has(m, "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"));
    EXPECT_TRUE(has(m, "Auto-Submitted: auto-replied\r\n"));
    EXPECT_TRUE(has(m, "multipart/report; report-type=delivery-status"));
    EXPECT_TRUE(has(m, "Reporting-MTA: dns; mx.example.org\r\n"));
    EXPECT_TRUE(has(m, "Original-Envelope-Id: ENV1\r\n"));
    EXPECT_TRUE(has(m, "Final-Recipient: rfc822; bob@example.net\r\n"));
    EXPECT_TRUE(has(m, "Original-Recipient: rfc822;bob@example.net\r\n"));
    EXPECT_TRUE(has(m, "Action: failed\r\nStatus: 5.1.1\r\n"));
    EXPECT_TRUE(has(m, "Remote-MTA: dns; mx.example.net\r\n"));
    // The remote reply cannot add a header line of its own.
    EXPECT_TRUE(has(m, "Diagnostic-Code: smtp; 550 5.1.1 no such user  Injected: yes\r\n"));
    EXPECT_FALSE(has(m, "\r\nInjected: yes"));
    EXPECT_TRUE(has(m, "Content-Type: message/rfc822\r\n"));
    EXPECT_TRUE(has(m, "secret body"));
    EXPECT_FALSE(has(m, "carol@example.net"));
    EXPECT_TRUE(m.ends_with("--\r\n"));
}

TEST(Dsn, RetHdrsAndDelayReturnHeadersOnly) {
    DsnRequest req;
    req.hostname = "h.test";
    req.now_us = 1;
    req.recipients.push_back({"bob@example.net", {}, DsnAction::failed, "5.0.0", "", ""});
    auto m = make_dsn(original(DsnRet::hdrs), req, "0000000000000003").message;
    EXPECT_TRUE(has(m, "text/rfc822-headers"));
    EXPECT_TRUE(has(m, "Subject: hello"));
    EXPECT_FALSE(has(m, "secret body"));

    req.recipients[0].action = DsnAction::delayed;
    req.recipients[0].status = "4.4.1";
    req.retry_until_us = 1700400000LL * 1000000;
    m = make_dsn(original(), req, "0000000000000004").message;
    EXPECT_TRUE(has(m, "Action: delayed"));
    EXPECT_TRUE(has(m, "Will-Retry-Until: "));
    EXPECT_TRUE(has(m, "Subject: Delayed Mail"));
    EXPECT_FALSE(has(m, "secret body"));
}

TEST(Dsn, SuccessReport) {
    DsnRequest req;
    req.hostname = "h.test";
    req.now_us = 1;
    req.recipients.push_back(
        {"carol@example.net", {}, DsnAction::relayed, "2.0.0", "250 ok", "mx"});
    auto m = make_dsn(original(), req, "0000000000000005").message;
    EXPECT_TRUE(has(m, "Action: relayed"));
    EXPECT_TRUE(has(m, "Subject: Successful Mail Delivery Report"));
}

TEST(Dsn, OneLine) {
    EXPECT_EQ(one_line("a\r\nb\tc  "), "a  b c");
    EXPECT_EQ(one_line(std::string(2000, 'x')).size(), 900u);
}
