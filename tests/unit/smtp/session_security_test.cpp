// session_security_test.cpp: STARTTLS (with the CVE-2011-0411 injection defence), AUTH PLAIN and
// LOGIN, the submission rules and the RFC 3848 WITH keywords, driven without I/O.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "smtp/session.hpp"

namespace sluice::smtp {
namespace {

std::vector<int> codes(const std::string& out) {
    std::vector<int> v;
    std::size_t pos = 0;
    while (pos < out.size()) {
        auto e = out.find("\r\n", pos);
        if (e == std::string::npos) break;
        if (e - pos >= 4 && out[pos + 3] == ' ') v.push_back(std::stoi(out.substr(pos, 3)));
        pos = e + 2;
    }
    return v;
}

struct Harness {
    SessionInfo info{"mx.test", "sub", "192.0.2.1", 4242, false};
    SessionLimits limits{};
    std::optional<std::size_t> user_size;  // what the driver sets after a successful AUTH
    std::vector<std::string> events;
    std::vector<PendingMessage> committed;
    std::string out;
    std::unique_ptr<Session> s;

    Harness() {
        info.starttls = true;
        info.auth = true;
    }
    void start() {
        s = std::make_unique<Session>(info, limits);
        s->start();
    }
    // Feeds `in` and answers events until more input is needed or the session closes.
    void feed(const std::string& in) {
        s->feed(in);
        pump();
    }
    void pump() {
        while (true) {
            Event ev = s->next();
            out += s->output();
            s->output().clear();
            if (ev == Event::need_input || ev == Event::close) return;
            if (ev == Event::starttls) {
                events.push_back("starttls");
                return;  // the driver now runs the handshake
            }
            if (ev == Event::authenticate) {
                const auto& c = s->pending_credentials();
                events.push_back("auth " + c.authcid + ":" + c.password);
                if (c.password == "pw") {
                    s->auth_verdict({235, "2.7.0", "Authentication successful"}, c.authcid);
                    if (user_size) s->set_message_size(*user_size);
                } else
                    s->auth_verdict({535, "5.7.8", "Authentication credentials invalid"}, "");
            } else if (ev == Event::check_sender) {
                events.push_back("sender " + s->envelope().sender);
                s->sender_verdict({250, "2.1.0", "Ok"});
            } else if (ev == Event::check_recipient) {
                s->recipient_verdict({250, "2.1.5", "Ok"});
            } else if (ev == Event::commit) {
                committed.push_back(s->pending_message());
                s->commit_done({250, "2.0.0", "Ok"});
            }
        }
    }
};

TEST(SessionTls, EhloAdvertisesStarttlsThenAuthAfterTls) {
    Harness h;
    h.start();
    h.feed("EHLO c\r\n");
    EXPECT_NE(h.out.find("STARTTLS\r\n"), std::string::npos);
    EXPECT_EQ(h.out.find("AUTH"), std::string::npos);
    h.feed("STARTTLS\r\n");
    ASSERT_EQ(h.events, std::vector<std::string>{"starttls"});
    EXPECT_NE(h.out.find("220 2.0.0 Ready to start TLS\r\n"), std::string::npos);
    h.s->tls_started("TLSv1.3 TLS_AES_128_GCM_SHA256");
    h.out.clear();
    h.feed("EHLO c\r\n");
    EXPECT_EQ(h.out.find("STARTTLS"), std::string::npos);
    EXPECT_NE(h.out.find("250 AUTH PLAIN LOGIN\r\n"), std::string::npos);
}

TEST(SessionTls, PipelinedCommandsAfterStarttlsAreNeverExecuted) {
    for (std::size_t chunk : {std::size_t{1}, std::size_t{1000}}) {
        Harness h;
        h.start();
        std::string in = "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<a@b.test>\r\n";
        for (std::size_t i = 0; i < in.size(); i += chunk) h.feed(in.substr(i, chunk));
        EXPECT_EQ(codes(h.out), (std::vector<int>{220, 250, 220})) << chunk;
        // Whatever arrives before the handshake finishes is ignored too.
        h.s->feed("QUIT\r\n");
        h.s->tls_started("TLSv1.3 X");
        h.out.clear();
        h.feed("RCPT TO:<a@b.test>\r\nEHLO c\r\nRCPT TO:<a@b.test>\r\n");
        // No MAIL survived: RCPT is a sequencing error before and after the new EHLO.
        EXPECT_EQ(codes(h.out), (std::vector<int>{503, 250, 503})) << chunk;
        for (const auto& e : h.events) EXPECT_EQ(e, "starttls") << chunk;
    }
}

TEST(SessionTls, StarttlsRefusedWhenNotOfferedOrActiveOrInTransaction) {
    Harness h;
    h.info.starttls = false;
    h.start();
    h.feed("EHLO c\r\nSTARTTLS\r\n");
    EXPECT_EQ(codes(h.out), (std::vector<int>{220, 250, 502}));
    Harness t;
    t.info.tls_active = true;
    t.start();
    t.feed("EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b.test>\r\nSTARTTLS\r\nSTARTTLS x\r\n");
    EXPECT_EQ(codes(t.out), (std::vector<int>{220, 250, 503, 250, 503, 503}));
}

TEST(SessionAuth, RefusedBeforeTlsUnlessPlaintextAllowed) {
    Harness h;
    h.start();
    h.feed("EHLO c\r\nAUTH PLAIN AGFsaWNlAHB3\r\n");
    EXPECT_EQ(codes(h.out), (std::vector<int>{220, 250, 538}));
    EXPECT_NE(h.out.find("538 5.7.11"), std::string::npos);
    Harness p;
    p.info.auth_plaintext = true;
    p.start();
    p.feed("EHLO c\r\nAUTH PLAIN AGFsaWNlAHB3\r\n");  // "\0alice\0pw"
    EXPECT_EQ(codes(p.out), (std::vector<int>{220, 250, 235}));
    EXPECT_EQ(p.s->auth_user(), "alice");
}

TEST(SessionAuth, PlainWithoutInitialResponseAndLogin) {
    Harness h;
    h.info.tls_active = true;
    h.start();
    h.feed("EHLO c\r\nAUTH PLAIN\r\n");
    EXPECT_NE(h.out.find("334 \r\n"), std::string::npos);
    h.feed("AGFsaWNlAHdyb25n\r\n");  // wrong password
    h.feed("AUTH LOGIN\r\nYWxpY2U=\r\ncHc=\r\n");
    EXPECT_EQ(codes(h.out), (std::vector<int>{220, 250, 334, 535, 334, 334, 235}));
    EXPECT_EQ(h.events, (std::vector<std::string>{"auth alice:wrong", "auth alice:pw"}));
    h.feed("AUTH PLAIN AGFsaWNlAHB3\r\n");
    EXPECT_EQ(codes(h.out).back(), 503);  // already authenticated
}

TEST(SessionAuth, CancelBadBase64AndUnknownMechanism) {
    Harness h;
    h.info.tls_active = true;
    h.info.check_sender = true;
    h.start();
    h.feed(
        "EHLO c\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN !!!!\r\nAUTH PLAIN AGFsaWNl\r\nAUTH CRAM-MD5\r\n"
        "MAIL FROM:<a@b.test>\r\nAUTH PLAIN AGFsaWNlAHB3\r\n");
    EXPECT_EQ(codes(h.out), (std::vector<int>{220, 250, 334, 501, 501, 501, 504, 250, 503}));
    EXPECT_TRUE(h.events.size() == 1 && h.events[0] == "sender a@b.test") << h.events.size();
}

std::string base64(const std::string& in) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < in.size(); i += 3) {
        unsigned n = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
        if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
        out += k[(n >> 18) & 63];
        out += k[(n >> 12) & 63];
        out += i + 1 < in.size() ? k[(n >> 6) & 63] : '=';
        out += i + 2 < in.size() ? k[n & 63] : '=';
    }
    return out;
}

TEST(SessionAuth, AuthLinesMayBe12288OctetsOthersStay512) {
    // RFC 4954 4: the AUTH command line and SASL responses may be 12,288 octets with CRLF.
    const std::string password(370, 'p');
    Harness h;
    h.info.tls_active = true;
    h.start();
    h.feed("EHLO c\r\nAUTH PLAIN " + base64(std::string("\0alice\0", 7) + password) + "\r\n");
    ASSERT_EQ(h.events, std::vector<std::string>{"auth alice:" + password});
    // The same length as a SASL response after 334.
    h.feed("AUTH PLAIN\r\n" + base64(std::string("\0bob\0", 5) + password) + "\r\n");
    ASSERT_EQ(h.events.size(), 2u);
    EXPECT_EQ(h.events[1], "auth bob:" + password);
    // Exactly 12,288 octets with CRLF is a command; one more is too long (and skipped whole).
    const std::string head = "AUTH PLAIN ";
    h.out.clear();
    h.feed(head + std::string(12288 - 2 - head.size(), 'A') + "\r\n");
    EXPECT_EQ(codes(h.out), std::vector<int>{501});  // read whole, then refused as bad base64
    h.out.clear();
    h.feed(head + std::string(12288 - 1 - head.size(), 'A') + "\r\n");
    EXPECT_EQ(codes(h.out), std::vector<int>{500});
    EXPECT_NE(h.out.find("line too long"), std::string::npos);
    // Other commands keep the listener's limit.
    h.out.clear();
    h.feed("NOOP " + std::string(600, 'x') + "\r\n");
    EXPECT_EQ(codes(h.out), std::vector<int>{500});
}

TEST(SessionAuth, StarttlsForgetsAuthentication) {
    Harness h;
    h.info.auth_plaintext = true;
    h.start();
    h.feed("EHLO c\r\nAUTH PLAIN AGFsaWNlAHB3\r\nSTARTTLS\r\n");
    EXPECT_EQ(h.s->auth_user(), "alice");
    h.s->tls_started("TLSv1.3 X");
    EXPECT_EQ(h.s->auth_user(), "");
}

TEST(SessionAuth, RequireAuthAnswers530AndProtocolKeywords) {
    Harness h;
    h.info.require_auth = true;
    h.info.check_sender = true;
    h.start();
    h.feed("EHLO c\r\nMAIL FROM:<alice@b.test>\r\nSTARTTLS\r\n");
    EXPECT_EQ(codes(h.out), (std::vector<int>{220, 250, 530, 220}));
    h.s->tls_started("TLSv1.3 TLS_AES_128_GCM_SHA256");
    h.feed(
        "EHLO c\r\nAUTH PLAIN AGFsaWNlAHB3\r\nMAIL FROM:<alice@b.test>\r\nRCPT TO:<x@y.test>\r\n"
        "DATA\r\nhi\r\n.\r\n");
    ASSERT_EQ(h.committed.size(), 1u);
    EXPECT_EQ(h.committed[0].envelope.protocol, "ESMTPSA");
    // The TLS session's description goes to the Intake for the Received header.
    EXPECT_EQ(h.committed[0].tls, "TLSv1.3 TLS_AES_128_GCM_SHA256");
    h.feed("MAIL FROM:<alice@b.test> SMTPUTF8\r\nRCPT TO:<x@y.test>\r\nDATA\r\nhi\r\n.\r\n");
    ASSERT_EQ(h.committed.size(), 2u);
    EXPECT_EQ(h.committed[1].envelope.protocol, "UTF8SMTPSA");
}

// A HELO policy (check_helo): the greeting waits for the verdict; a refusal forgets the name, so
// the client must greet again before MAIL, and a pipelined MAIL after it is refused too.
TEST(SessionPolicy, HeloVerdictGatesTheGreeting) {
    Harness h;
    h.info.check_helo = true;
    h.start();
    h.s->feed("EHLO bad.example\r\nMAIL FROM:<a@b.test>\r\n");
    Event ev;
    while ((ev = h.s->next()) != Event::check_helo) ASSERT_EQ(ev, Event::need_input);
    EXPECT_EQ(h.s->helo(), "bad.example");
    h.s->helo_verdict({550, "5.7.1", "HELO name refused"}, "helo_refused");
    EXPECT_EQ(h.s->next(), Event::need_input);
    EXPECT_EQ(codes(h.s->output()), (std::vector<int>{220, 550, 503}));
    EXPECT_TRUE(h.s->helo().empty());
    h.s->output().clear();
    h.s->feed("EHLO good.example\r\n");
    while ((ev = h.s->next()) != Event::check_helo) ASSERT_EQ(ev, Event::need_input);
    h.s->helo_verdict({250, "", ""});
    EXPECT_EQ(h.s->next(), Event::need_input);
    EXPECT_NE(h.s->output().find("250-mx.test Hello good.example [192.0.2.1]\r\n"),
              std::string::npos);
    EXPECT_NE(h.s->output().find("PIPELINING"), std::string::npos);
}

TEST(SessionAuth, SenderVerdictRefusalResetsTransaction) {
    Harness h;
    h.info.check_sender = true;
    h.start();
    h.s->feed("EHLO c\r\nMAIL FROM:<bob@b.test>\r\n");
    Event ev;
    while ((ev = h.s->next()) != Event::check_sender) ASSERT_EQ(ev, Event::need_input);
    h.s->sender_verdict({553, "5.7.1", "not yours"});
    h.s->feed("RCPT TO:<x@y.test>\r\n");
    EXPECT_EQ(h.s->next(), Event::need_input);
    EXPECT_EQ(codes(h.s->output()), (std::vector<int>{220, 250, 553, 503}));
}

// The listener's size is advertised and enforced; a user's own limit replaces it after AUTH (larger
// or smaller), for later transactions; STARTTLS forgets the user and so restores the listener's.
TEST(SessionLimitsPerUser, UserMessageSizeReplacesListenerLimitAfterAuth) {
    Harness h;
    h.info.auth_plaintext = true;
    h.limits.message_size = 2048;
    h.user_size = 8192;
    h.start();
    std::string big;  // 43 lines of 72 octets: 3096
    for (int i = 0; i < 43; ++i) big += std::string(70, 'x') + "\r\n";
    h.feed(
        "EHLO c\r\nMAIL FROM:<a@b.test> SIZE=3000\r\nMAIL FROM:<a@b.test>\r\n"
        "RCPT TO:<x@y.test>\r\nDATA\r\n" +
        big + ".\r\n");
    EXPECT_NE(h.out.find("SIZE 2048\r\n"), std::string::npos) << h.out;
    EXPECT_EQ(codes(h.out), (std::vector<int>{220, 250, 552, 250, 250, 354, 552}));
    EXPECT_TRUE(h.committed.empty());
    h.out.clear();
    h.feed(
        "AUTH PLAIN AGFsaWNlAHB3\r\nMAIL FROM:<a@b.test> SIZE=3000\r\nRCPT TO:<x@y.test>\r\n"
        "DATA\r\n" +
        big + ".\r\nMAIL FROM:<a@b.test> SIZE=9000\r\n");
    EXPECT_EQ(codes(h.out), (std::vector<int>{235, 250, 250, 354, 250, 552}));
    EXPECT_EQ(h.committed.size(), 1u);
    EXPECT_EQ(h.s->message_size(), 8192u);
    h.feed("STARTTLS\r\n");
    h.s->tls_started("TLSv1.3 X");
    EXPECT_EQ(h.s->message_size(), 2048u);
}

TEST(SessionLimitsPerUser, SmallerUserLimitAppliesToBdat) {
    Harness h;
    h.info.auth_plaintext = true;
    h.user_size = 1024;
    h.start();
    h.feed(
        "EHLO c\r\nAUTH PLAIN AGFsaWNlAHB3\r\nMAIL FROM:<a@b.test> SIZE=1500\r\n"
        "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nBDAT 1500 LAST\r\n" +
        std::string(1500, 'y'));
    EXPECT_EQ(codes(h.out), (std::vector<int>{220, 250, 235, 552, 250, 250, 552}));
    EXPECT_TRUE(h.committed.empty());
}

}  // namespace
}  // namespace sluice::smtp

namespace sluice::smtp {
namespace {

TEST(SessionPipelining, CommandsSentBeforeTheirReplyWhereRfc2920ForbidsAreRefused) {
    const std::string mail = "MAIL FROM:<a@b.test>\r\nRCPT TO:<r@example.org>\r\n";
    struct Case {
        std::string before;  // fed and answered first
        std::string ahead;   // one write: a command and what the client sent before its reply
        bool refused;
    };
    const Case cases[] = {
        {"EHLO c\r\n" + mail, "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n", true},  // smtpsmug
        {"", "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", true},
        {"HELO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<r@example.org>\r\n", true},
        {"EHLO c\r\n", "NOOP\r\nMAIL FROM:<a@b.test>\r\n", true},
        {"EHLO c\r\n", "VRFY x\r\nQUIT\r\n", true},
        // Allowed: MAIL, RCPT, RSET in a group; DATA last; the message after the 354.
        {"EHLO c\r\n", mail + "RSET\r\n" + mail + "DATA\r\n", false},
        {"EHLO c\r\n" + mail + "DATA\r\n", "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n", false},
    };
    for (const Case& c : cases) {
        Harness h;
        h.limits.forbid_unauth_pipelining = true;
        h.start();
        for (std::size_t i = 0; i < c.before.size();) {  // one command per write
            std::size_t e = c.before.find("\r\n", i) + 2;
            h.feed(c.before.substr(i, e - i));
            i = e;
        }
        h.out.clear();
        h.feed(c.ahead);
        const bool refused =
            h.out.find("554 5.5.0 Error: SMTP protocol synchronization") != std::string::npos;
        EXPECT_EQ(refused, c.refused) << c.ahead << " -> " << h.out;
        if (refused) {
            EXPECT_TRUE(h.s->closed());
            EXPECT_TRUE(h.committed.empty());
        }
    }
    // Off, or once authenticated, a group is served as sent.
    Harness off;
    off.start();
    off.feed("EHLO c\r\n" + mail + "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
    EXPECT_EQ(off.committed.size(), 1u);
    Harness authed;
    authed.limits.forbid_unauth_pipelining = true;
    authed.info.tls_active = true;
    authed.start();
    authed.feed("EHLO c\r\n");
    authed.feed("AUTH PLAIN AGFsaWNlAHB3\r\n");
    authed.feed(mail + "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
    EXPECT_EQ(authed.committed.size(), 1u) << authed.out;
}

}  // namespace
}  // namespace sluice::smtp
