// session_test.cpp: the SMTP state machine, driven without I/O. Every dialogue is run twice, once
// fed in one piece and once byte by byte, and both runs must produce the same replies and messages.
#include "smtp/session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::smtp {
namespace {

struct Outcome {
    std::string replies;
    std::vector<PendingMessage> committed;
    bool closed = false;
};

// Accepts recipients at example.org except "unknown@", relays nothing; commits always succeed
// unless commit_fails.
struct Driver {
    SessionLimits limits;
    bool commit_fails = false;
    bool dsn = false;

    Outcome run(const std::string& input, std::size_t chunk) const {
        int ids = 0;
        Session s(SessionInfo{"mx.test", "smtp", "192.0.2.1", 4242, dsn}, limits);
        s.start();
        Outcome o;
        std::size_t pos = 0;
        while (true) {
            Event ev = s.next();
            if (ev == Event::need_input) {
                o.replies += s.output();
                s.output().clear();
                if (pos >= input.size()) break;
                std::size_t n = std::min(chunk, input.size() - pos);
                s.feed(std::string_view(input).substr(pos, n));
                pos += n;
            } else if (ev == Event::check_recipient) {
                const Mailbox& m = s.pending_recipient();
                if (m.domain == "example.org" && m.local != "unknown")
                    s.recipient_verdict({250, "2.1.5", "Ok"});
                else if (m.domain == "example.org")
                    s.recipient_verdict({550, "5.1.1", "User unknown"});
                else
                    s.recipient_verdict({550, "5.7.1", "Relay access denied"});
            } else if (ev == Event::commit) {
                o.committed.push_back(s.pending_message());
                if (commit_fails)
                    s.commit_done({451, "4.3.0", "Local error"});
                else
                    s.commit_done({250, "2.0.0", "Ok: queued as ID" + std::to_string(++ids)});
            } else {
                o.replies += s.output();
                s.output().clear();
                o.closed = true;
                break;
            }
        }
        return o;
    }

    // Runs whole and byte by byte; checks both agree; returns the whole run.
    Outcome run_both(const std::string& input) const {
        Outcome whole = run(input, input.size() + 1);
        Outcome bytes = run(input, 1);
        EXPECT_EQ(whole.replies, bytes.replies);
        EXPECT_EQ(whole.committed.size(), bytes.committed.size());
        for (std::size_t i = 0; i < std::min(whole.committed.size(), bytes.committed.size()); ++i)
            EXPECT_EQ(whole.committed[i].message, bytes.committed[i].message);
        EXPECT_EQ(whole.closed, bytes.closed);
        return whole;
    }
};

std::vector<int> codes(const std::string& replies) {
    std::vector<int> out;
    std::size_t pos = 0;
    while (pos < replies.size()) {
        auto eol = replies.find("\r\n", pos);
        std::string line = replies.substr(pos, eol - pos);
        if (line.size() >= 4 && line[3] == ' ') out.push_back(std::stoi(line.substr(0, 3)));
        pos = eol + 2;
    }
    return out;
}

// The session hands over the content as received: the trace header is the Intake's.
const std::string& body_of(const PendingMessage& m) {
    return m.message;
}

TEST(Session, GreetingAndQuit) {
    Driver d;
    auto o = d.run_both("QUIT\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 221}));
    EXPECT_TRUE(o.closed);
}

TEST(Session, EhloAdvertisesExtensions) {
    Driver d;
    auto o = d.run_both("EHLO client.test\r\n");
    for (const char* ext : {"PIPELINING", "SIZE 26214400", "8BITMIME", "ENHANCEDSTATUSCODES",
                            "SMTPUTF8", "CHUNKING", "BINARYMIME"})
        EXPECT_TRUE(o.replies.find(std::string("250-") + ext + "\r\n") != std::string::npos ||
                    o.replies.find(std::string("250 ") + ext + "\r\n") != std::string::npos)
            << ext;
    EXPECT_EQ(o.replies.find("DSN"), std::string::npos);
}

TEST(Session, PipelinedTransactionCommitsOnce) {
    Driver d;
    auto o = d.run_both(
        "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.org>\r\nRCPT TO:<y@example.org>\r\n"
        "DATA\r\nSubject: t\r\n\r\nhello\r\n..dot\r\n.\r\nQUIT\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 250, 250, 250, 250, 354, 250, 221}));
    ASSERT_EQ(o.committed.size(), 1u);
    const auto& env = o.committed[0].envelope;
    EXPECT_EQ(env.sender, "a@b.test");
    ASSERT_EQ(env.recipients.size(), 2u);
    EXPECT_EQ(env.recipients[1].address, "y@example.org");
    EXPECT_EQ(env.protocol, "ESMTP");
    EXPECT_EQ(body_of(o.committed[0]), "Subject: t\r\n\r\nhello\r\n.dot\r\n");
    EXPECT_TRUE(o.committed[0].envelope.queue_id.empty());  // assigned by the Intake
    EXPECT_TRUE(o.committed[0].tls.empty());
    EXPECT_EQ(o.committed[0].envelope.helo, "c");
    EXPECT_EQ(o.committed[0].envelope.client_ip, "192.0.2.1");
    EXPECT_NE(o.replies.find("queued as ID1"), std::string::npos);
}

TEST(Session, SequencingErrors) {
    Driver d;
    auto o = d.run_both(
        "MAIL FROM:<a@b>\r\nEHLO c\r\nRCPT TO:<x@example.org>\r\nDATA\r\n"
        "MAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\nDATA\r\nQUIT\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 503, 250, 503, 503, 250, 503, 554, 221}));
}

TEST(Session, UnknownCommandSyntaxAndParameters) {
    Driver d;
    auto o = d.run_both(
        "EHLO c\r\nFOO\r\nMAIL FROM:a@b\r\nMAIL FROM:<a@b> FOO=1\r\n"
        "MAIL FROM:<a@b> SIZE=99999999999\r\nVRFY x\r\nNOOP\r\nHELP\r\nRSET\r\n"
        "EHLO\r\nQUIT\r\n");
    EXPECT_EQ(codes(o.replies),
              (std::vector<int>{220, 250, 500, 501, 555, 552, 252, 250, 214, 250, 501, 221}));
}

TEST(Session, VerbsAreCaseInsensitive) {
    Driver d;
    auto o = d.run_both("ehlo c\r\nmail from:<a@b>\r\nrCpT tO:<x@example.org>\r\nquit\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 250, 250, 250, 221}));
}

TEST(Session, RecipientVerdictsAndLimit) {
    Driver d;
    d.limits.recipients = 2;
    auto o = d.run_both(
        "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<unknown@example.org>\r\n"
        "RCPT TO:<x@other.test>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
        "RCPT TO:<c@example.org>\r\nDATA\r\n.\r\n");
    EXPECT_EQ(codes(o.replies),
              (std::vector<int>{220, 250, 250, 550, 550, 250, 250, 452, 354, 250}));
    ASSERT_EQ(o.committed.size(), 1u);
    EXPECT_EQ(o.committed[0].envelope.sender, "");
    EXPECT_EQ(o.committed[0].envelope.recipients.size(), 2u);
    EXPECT_EQ(body_of(o.committed[0]), "");
}

TEST(Session, SmugglingSequencesNeverEndData) {
    // Each sequence tries to end DATA early and smuggle a second transaction; none may.
    const std::vector<std::string> seqs = {"\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\n",
                                           std::string("\r\n\0.\r\n", 6)};
    for (const std::string& seq : seqs) {
        Driver d;
        std::string in =
            "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n"
            "Subject: first\r\n\r\nbody" +
            seq +
            "MAIL FROM:<evil@b.test>\r\nRCPT TO:<y@example.org>\r\nDATA\r\n"
            "Subject: smuggled\r\n\r\nx\r\n.\r\nQUIT\r\n";
        auto o = d.run_both(in);
        EXPECT_TRUE(o.committed.empty()) << "sequence " << testing::PrintToString(seq);
        auto c = codes(o.replies);
        // 220 250 250 250 354, then one 5xx for the whole thing, then QUIT.
        EXPECT_EQ(c, (std::vector<int>{220, 250, 250, 250, 354, 554, 221}))
            << testing::PrintToString(seq);
    }
    // NUL beside the dot, explicitly.
    Driver d;
    std::string in = "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.org>\r\nDATA\r\na\r\n" +
                     std::string(1, '\0') + ".\r\nMAIL FROM:<e@b>\r\nx\r\n.\r\nQUIT\r\n";
    auto o = d.run_both(in);
    EXPECT_TRUE(o.committed.empty());
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 250, 250, 250, 354, 554, 221}));
}

TEST(Session, OversizeMessageKeepsSessionUsable) {
    Driver d;
    d.limits.message_size = 100;
    std::string big(300, 'x');
    auto o = d.run_both("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n" + big +
                        "\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.org>\r\nDATA\r\nsmall\r\n"
                        ".\r\nQUIT\r\n");
    EXPECT_EQ(codes(o.replies),
              (std::vector<int>{220, 250, 250, 250, 354, 552, 250, 250, 354, 250, 221}));
    ASSERT_EQ(o.committed.size(), 1u);
    // No header field: the empty line that ends the (empty) header section is made explicit.
    EXPECT_EQ(body_of(o.committed[0]), "\r\nsmall\r\n");
}

TEST(Session, LongLines) {
    Driver d;
    std::string long_cmd = "NOOP " + std::string(600, 'a');
    std::string long_text(1200, 'b');
    auto o = d.run_both(long_cmd +
                        "\r\nEHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n" +
                        long_text + "\r\n.\r\nQUIT\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 500, 250, 250, 250, 354, 554, 221}));
    EXPECT_TRUE(o.committed.empty());
}

TEST(Session, BareLfCommandRefused) {
    Driver d;
    auto o = d.run_both("EHLO c\nQUIT\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 500, 221}));
}

TEST(Session, ErrorLimitDisconnects) {
    Driver d;
    d.limits.errors = 3;
    auto o = d.run_both("X\r\nY\r\nZ\r\nQUIT\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 500, 500, 500, 421}));
    EXPECT_TRUE(o.closed);
}

TEST(Session, AFirstLineThatIsNoFieldStartsTheBody) {
    // A first line starting with white space would otherwise continue the Received field the
    // Intake puts on top, and the fields after it would join a header block no check saw.
    Driver d;
    auto o = d.run_both(
        "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n"
        " x\r\nAuthentication-Results: mx; dmarc=pass\r\nFrom: ceo@bank.test\r\n\r\nhi\r\n.\r\n"
        "QUIT\r\n");
    ASSERT_EQ(o.committed.size(), 1u);
    EXPECT_EQ(
        body_of(o.committed[0]),
        "\r\n x\r\nAuthentication-Results: mx; dmarc=pass\r\nFrom: ceo@bank.test\r\n\r\nhi\r\n");
    EXPECT_EQ(o.committed[0].header_size, 2u);
}

TEST(Session, HttpClosesSilently) {
    Driver d;
    auto o = d.run_both("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220}));
    EXPECT_TRUE(o.closed);
}

TEST(Session, BdatExactBytes) {
    Driver d;
    std::string chunk2("\n\0x", 3);
    auto o = d.run_both(
        "EHLO c\r\nMAIL FROM:<a@b> BODY=BINARYMIME\r\nRCPT TO:<x@example.org>\r\n"
        "BDAT 9\r\nA: b\r\n\r\ncBDAT 3 LAST\r\n" +
        chunk2 + "QUIT\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 250, 250, 250, 250, 250, 221}));
    ASSERT_EQ(o.committed.size(), 1u);
    EXPECT_EQ(body_of(o.committed[0]), std::string("A: b\r\n\r\nc\n\0x", 12));
    EXPECT_EQ(o.committed[0].envelope.body, BodyType::binary_mime);
}

TEST(Session, BdatWithoutTransactionIsReadAndRefused) {
    Driver d;
    auto o = d.run_both("EHLO c\r\nBDAT 6\r\nQUIT\r\nNOOP\r\n");
    // The 6 bytes "QUIT\r\n" are chunk content, not a command.
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 250, 503, 250}));
    EXPECT_FALSE(o.closed);
}

TEST(Session, BdatTooBigAndDataAfterBdat) {
    Driver d;
    d.limits.message_size = 10;
    auto o =
        d.run_both("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.org>\r\nBDAT 20 LAST\r\n" +
                   std::string(20, 'z') +
                   "MAIL FROM:<a@b>\r\nRCPT TO:<x@example.org>\r\nBDAT 2\r\nokDATA\r\nQUIT\r\n");
    EXPECT_EQ(codes(o.replies),
              (std::vector<int>{220, 250, 250, 250, 552, 250, 250, 250, 503, 221}));
    EXPECT_TRUE(o.committed.empty());
}

TEST(Session, BinaryMimeRequiresBdat) {
    Driver d;
    auto o = d.run_both(
        "EHLO c\r\nMAIL FROM:<a@b> BODY=BINARYMIME\r\nRCPT TO:<x@example.org>\r\n"
        "DATA\r\nQUIT\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 250, 250, 250, 503, 221}));
}

TEST(Session, Smtputf8) {
    Driver d;
    auto o = d.run_both(
        "EHLO c\r\nMAIL FROM:<j\xc3\xb6rg@b.test>\r\n"
        "MAIL FROM:<j\xc3\xb6rg@b.test> SMTPUTF8\r\nRCPT TO:<\xc3\xa9@example.org>\r\n"
        "DATA\r\nhi\r\n.\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 250, 553, 250, 250, 354, 250}));
    ASSERT_EQ(o.committed.size(), 1u);
    EXPECT_TRUE(o.committed[0].envelope.smtputf8);
    EXPECT_EQ(o.committed[0].envelope.protocol, "UTF8SMTP");
}

TEST(Session, CommitFailureIsNeverA250) {
    Driver d;
    d.commit_fails = true;
    auto o = d.run_both(
        "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.org>\r\nDATA\r\nx\r\n.\r\n"
        "QUIT\r\n");
    EXPECT_EQ(codes(o.replies), (std::vector<int>{220, 250, 250, 250, 354, 451, 221}));
}

TEST(Session, DsnParametersOnlyWhenEnabled) {
    Driver d;
    std::string in =
        "EHLO c\r\nMAIL FROM:<a@b> RET=HDRS ENVID=abc\r\nRCPT TO:<x@example.org> "
        "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@example.org\r\nQUIT\r\n";
    auto off = d.run_both(in);
    EXPECT_EQ(codes(off.replies), (std::vector<int>{220, 250, 555, 503, 221}));
    d.dsn = true;
    auto on = d.run_both(in);
    EXPECT_EQ(codes(on.replies), (std::vector<int>{220, 250, 250, 250, 221}));
}

TEST(Session, RejectedGreetingServesOnlyQuit) {
    Driver d;
    Session s(SessionInfo{"mx.test", "smtp", "192.0.2.1", 1, false}, d.limits);
    s.start_rejected({554, "5.7.1", "Access denied"});
    s.feed("EHLO c\r\nMAIL FROM:<a@b>\r\nQUIT\r\n");
    while (s.next() != Event::close) {
    }
    EXPECT_EQ(codes(s.output()), (std::vector<int>{554, 503, 503, 221}));
}

TEST(Session, TimeoutAndShutdownSay421) {
    Driver d;
    Session s(SessionInfo{"mx.test", "smtp", "192.0.2.1", 1, false}, d.limits);
    s.start();
    EXPECT_EQ(s.next(), Event::need_input);
    s.timeout();
    EXPECT_EQ(s.next(), Event::close);
    EXPECT_NE(s.output().find("421 4.4.2"), std::string::npos);
}

}  // namespace
}  // namespace sluice::smtp
