// session_refusal_test.cpp: every refusal the session sends (a reply of 400 or more, or a dropped
// connection) reaches on_refusal once, with the command, the reason and what the command named,
// and never a password; positive replies never do.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "smtp/session.hpp"

namespace sluice::smtp {
namespace {

struct Seen {
    std::string command, reason, enhanced, from, rcpt, user, text;
    int code = 0;
};

struct Harness {
    SessionInfo info{"mx.test", "smtp", "192.0.2.1", 4242, false};
    SessionLimits limits{};
    std::vector<Seen> seen;
    std::string out;
    std::unique_ptr<Session> s;
    std::string password_seen;  // what the driver was asked to check

    void start(bool rejected = false) {
        s = std::make_unique<Session>(info, limits);
        s->on_refusal([this](const Refusal& r) {
            seen.push_back({std::string(r.command), std::string(r.reason), std::string(r.enhanced),
                            std::string(r.from), std::string(r.rcpt), std::string(r.user),
                            std::string(r.text), r.code});
        });
        if (rejected)
            s->start_rejected({554, "5.7.1", "mx.test Access denied"});
        else
            s->start();
    }
    void feed(const std::string& in) {
        s->feed(in);
        while (true) {
            Event ev = s->next();
            out += s->output();
            s->output().clear();
            if (ev == Event::need_input || ev == Event::close) return;
            if (ev == Event::check_recipient) {
                const Mailbox& m = s->pending_recipient();
                if (m.domain != "example.org")
                    s->recipient_verdict({550, "5.7.1", "Relay access denied"}, "relay_denied");
                else if (m.local == "unknown")
                    s->recipient_verdict({550, "5.1.1", "User unknown"}, "unknown_user");
                else
                    s->recipient_verdict({250, "2.1.5", "Ok"});
            } else if (ev == Event::check_sender) {
                s->sender_verdict({450, "4.7.1", "Rate limit"}, "rate_limit");
            } else if (ev == Event::authenticate) {
                password_seen = s->pending_credentials().password;
                s->auth_verdict({535, "5.7.8", "Authentication credentials invalid"}, "",
                                "auth_failed");
            } else if (ev == Event::commit) {
                s->commit_done({250, "2.0.0", "Ok"});
            }
        }
    }
};

TEST(SessionRefusal, SuccessfulTransactionReportsNothing) {
    Harness h;
    h.start();
    h.feed(
        "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
        "Subject: x\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nVRFY bob\r\nQUIT\r\n");
    EXPECT_TRUE(h.seen.empty());
}

TEST(SessionRefusal, RecipientRefusalsNameTheRecipientAndSender) {
    Harness h;
    h.start();
    h.feed(
        "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@relay.test>\r\n"
        "RCPT TO:<unknown@example.org>\r\n");
    ASSERT_EQ(h.seen.size(), 2u);
    EXPECT_EQ(h.seen[0].command, "RCPT");
    EXPECT_EQ(h.seen[0].reason, "relay_denied");
    EXPECT_EQ(h.seen[0].code, 550);
    EXPECT_EQ(h.seen[0].enhanced, "5.7.1");
    EXPECT_EQ(h.seen[0].rcpt, "x@relay.test");
    EXPECT_EQ(h.seen[0].from, "a@b.test");
    EXPECT_EQ(h.seen[1].reason, "unknown_user");
    EXPECT_EQ(h.seen[1].rcpt, "unknown@example.org");
}

// Smuggling: the bare LF makes the whole message refused, reported at DATA with the sender.
TEST(SessionRefusal, BareLfInDataIsReported) {
    Harness h;
    h.start();
    h.feed(
        "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
        "Subject: x\r\n\r\nbody\n.\r\nMAIL FROM:<evil@b.test>\r\n\r\n.\r\n");
    ASSERT_EQ(h.seen.size(), 1u);
    EXPECT_EQ(h.seen[0].command, "DATA");
    EXPECT_EQ(h.seen[0].reason, "bare_cr_lf");
    EXPECT_EQ(h.seen[0].code, 554);
    EXPECT_EQ(h.seen[0].from, "a@b.test");
}

TEST(SessionRefusal, LineLevelErrorsHaveNoCommandAndTooManyErrorsIsReported) {
    Harness h;
    h.limits.errors = 3;
    h.start();
    h.feed("EHLO c.test\nBOGUS\r\n" + std::string(600, 'x') + "\r\n");
    ASSERT_EQ(h.seen.size(), 4u);
    EXPECT_EQ(h.seen[0].reason, "bare_lf_command");
    EXPECT_EQ(h.seen[0].command, "");
    EXPECT_EQ(h.seen[1].reason, "unknown_command");
    EXPECT_EQ(h.seen[2].reason, "line_too_long");
    EXPECT_EQ(h.seen[3].reason, "too_many_errors");
    EXPECT_EQ(h.seen[3].code, 421);
}

TEST(SessionRefusal, SizeAndRateLimitOnMail) {
    Harness h;
    h.info.check_sender = true;
    h.limits.message_size = 100;
    h.start();
    h.feed("EHLO c.test\r\nMAIL FROM:<a@b.test> SIZE=1000\r\nMAIL FROM:<>\r\n");
    ASSERT_EQ(h.seen.size(), 2u);
    EXPECT_EQ(h.seen[0].command, "MAIL");
    EXPECT_EQ(h.seen[0].reason, "too_big");
    EXPECT_EQ(h.seen[0].code, 552);
    EXPECT_EQ(h.seen[1].reason, "rate_limit");
    EXPECT_EQ(h.seen[1].code, 450);
    EXPECT_EQ(h.seen[1].from, "<>");  // the null sender, named
}

// A failed AUTH names the user the client gave, never the password; before TLS it is refused.
TEST(SessionRefusal, FailedAuthNamesTheUserNotThePassword) {
    Harness h;
    h.info.auth = true;
    h.info.auth_plaintext = true;
    h.start();
    // PLAIN "\0mallory\0s3cret", then LOGIN "eve" / "hunter2".
    h.feed(
        "EHLO c.test\r\nAUTH PLAIN AG1hbGxvcnkAczNjcmV0\r\nAUTH LOGIN\r\nZXZl\r\n"
        "aHVudGVyMg==\r\n");
    ASSERT_EQ(h.seen.size(), 2u);
    EXPECT_EQ(h.seen[0].command, "AUTH");
    EXPECT_EQ(h.seen[0].reason, "auth_failed");
    EXPECT_EQ(h.seen[0].code, 535);
    EXPECT_EQ(h.seen[0].user, "mallory");
    EXPECT_EQ(h.seen[1].user, "eve");
    EXPECT_EQ(h.password_seen, "hunter2");
    for (const auto& s : h.seen)
        for (const auto* f : {&s.text, &s.user, &s.from, &s.rcpt})
            EXPECT_EQ(f->find("s3cret"), std::string::npos) << *f;

    Harness tls;
    tls.info.auth = true;
    tls.start();
    tls.feed("EHLO c.test\r\nAUTH PLAIN AG1hbGxvcnkAczNjcmV0\r\n");
    ASSERT_EQ(tls.seen.size(), 1u);
    EXPECT_EQ(tls.seen[0].reason, "tls_required");
    EXPECT_EQ(tls.seen[0].code, 538);
    EXPECT_EQ(tls.seen[0].user, "");
}

TEST(SessionRefusal, HttpAndAccessDenied) {
    Harness h;
    h.start();
    h.feed("GET / HTTP/1.1\r\n");
    ASSERT_EQ(h.seen.size(), 1u);
    EXPECT_EQ(h.seen[0].command, "HTTP");
    EXPECT_EQ(h.seen[0].reason, "http");
    EXPECT_EQ(h.seen[0].code, 0);  // dropped without a reply

    Harness r;
    r.start(true);
    ASSERT_EQ(r.seen.size(), 1u);
    EXPECT_EQ(r.seen[0].command, "CONNECT");
    EXPECT_EQ(r.seen[0].reason, "access_denied");
    EXPECT_EQ(r.seen[0].code, 554);
}

TEST(SessionRefusal, TimeoutNamesTheCommandOnlyDuringData) {
    Harness h;
    h.start();
    h.feed("EHLO c.test\r\n");
    h.s->timeout();
    ASSERT_EQ(h.seen.size(), 1u);
    EXPECT_EQ(h.seen[0].command, "");
    EXPECT_EQ(h.seen[0].reason, "timeout");

    Harness d;
    d.start();
    d.feed("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSub");
    d.s->timeout();
    ASSERT_EQ(d.seen.size(), 1u);
    EXPECT_EQ(d.seen[0].command, "DATA");
    EXPECT_EQ(d.seen[0].from, "a@b.test");
}

}  // namespace
}  // namespace sluice::smtp
