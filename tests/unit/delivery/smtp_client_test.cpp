// smtp_client_test.cpp: the SMTP client's pure parts: reply parsing, EHLO, commands, dot-stuffing.
#include <gtest/gtest.h>

#include "delivery/smtp_client_data.hpp"
#include "delivery/smtp_client_reply.hpp"

using namespace sluice;
using namespace sluice::delivery;

TEST(ReplyParser, SingleAndMultiLine) {
    ReplyParser p;
    p.feed("220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000");
    auto r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, 220);
    EXPECT_FALSE(p.next());  // the EHLO reply is not complete yet
    p.feed("\r\n");
    r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, 250);
    ASSERT_EQ(r->lines.size(), 3u);
    auto e = parse_ehlo(*r);
    EXPECT_TRUE(e.pipelining && e.has_size);
    EXPECT_EQ(e.size, 1000u);
    EXPECT_FALSE(e.starttls);
}

TEST(ReplyParser, EhloAuthMechanisms) {
    auto ehlo = [](std::string_view text) {
        ReplyParser p;
        p.feed(text);
        return parse_ehlo(*p.next());
    };
    auto both = ehlo("250-mx\r\n250-auth cram-md5 login plain\r\n250 8BITMIME\r\n");
    EXPECT_TRUE(both.auth_plain && both.auth_login);
    auto login = ehlo("250-mx\r\n250 AUTH LOGIN XOAUTH2\r\n");
    EXPECT_TRUE(login.auth_login);
    EXPECT_FALSE(login.auth_plain);
    auto none = ehlo("250-mx\r\n250-AUTH PLAINX\r\n250 AUTH=PLAIN\r\n");
    EXPECT_FALSE(none.auth_plain || none.auth_login);
}

TEST(ReplyParser, EnhancedCodeAndText) {
    ReplyParser p;
    p.feed("550-5.1.1 no such\r\n550 5.1.1 user\r\n");
    auto r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->enhanced, "5.1.1");
    auto rep = r->to_reply();
    EXPECT_EQ(rep.code, 550);
    EXPECT_EQ(rep.text, "no such user");
    EXPECT_EQ(r->str(), "550 5.1.1 no such / 5.1.1 user");
}

TEST(ReplyParser, MalformedStops) {
    for (const char* bad : {"hello\r\n", "250-a\r\n251 b\r\n", "99 x\r\n", "250x\r\n"}) {
        ReplyParser p;
        p.feed(bad);
        auto r = p.next();
        ASSERT_TRUE(r) << bad;
        EXPECT_EQ(r->code, 0) << bad;
    }
    ReplyParser p;
    p.feed(std::string(kMaxReplyLine + 10, 'a'));
    auto r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, 0);
}

TEST(ReplyParser, BufferedMeansUnreadBytes) {
    ReplyParser p;
    p.feed("220 go ahead\r\n");
    ASSERT_TRUE(p.next());
    EXPECT_FALSE(p.buffered());  // nothing after the STARTTLS reply: safe to start TLS
    p.feed("220 go ahead\r\n250 injected\r\n");
    ASSERT_TRUE(p.next());
    EXPECT_TRUE(p.buffered());
}

TEST(ReplyParser, DefaultEnhancedFromClass) {
    ReplyParser p;
    p.feed("451 try later\r\n");
    EXPECT_EQ(p.next()->to_reply().enhanced, "4.0.0");
}

TEST(DotStuff, DotsAndLineEndings) {
    EXPECT_EQ(dot_stuff("a\r\n.b\r\n"), "a\r\n..b\r\n.\r\n");
    EXPECT_EQ(dot_stuff(".\r\n"), "..\r\n.\r\n");
    EXPECT_EQ(dot_stuff("bare\nlf\rcr"), "bare\r\nlf\r\ncr\r\n.\r\n");
    EXPECT_EQ(dot_stuff(""), ".\r\n");
    EXPECT_EQ(dot_stuff("x.y\r\n"), "x.y\r\n.\r\n");
}

TEST(Commands, ParametersFollowExtensions) {
    Envelope env;
    env.sender = "a@b.test";
    env.ret = DsnRet::hdrs;
    env.envid = "E1";
    env.body = BodyType::eight_bit_mime;
    Extensions none;
    none.esmtp = true;
    EXPECT_EQ(mail_command(env, 10, true, none), "MAIL FROM:<a@b.test>\r\n");
    Extensions all = none;
    all.has_size = all.eightbitmime = all.dsn = true;
    EXPECT_EQ(mail_command(env, 10, true, all),
              "MAIL FROM:<a@b.test> SIZE=10 BODY=8BITMIME RET=HDRS ENVID=E1\r\n");
    EnvelopeRecipient r{"c@d.test", "rfc822;c@d.test", notify_success | notify_failure};
    EXPECT_EQ(rcpt_command(r, none), "RCPT TO:<c@d.test>\r\n");
    EXPECT_EQ(rcpt_command(r, all),
              "RCPT TO:<c@d.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d.test\r\n");
    EXPECT_EQ(notify_string(notify_never), "NEVER");
}

TEST(Needs, EightBitAndUtf8) {
    EXPECT_FALSE(needs_8bit("plain\r\n"));
    EXPECT_TRUE(needs_8bit("caf\xc3\xa9"));
    Envelope env;
    env.sender = "a@b";
    EXPECT_FALSE(needs_smtputf8(env));
    env.recipients.push_back({"\xc3\xa9@b", {}, 0});
    EXPECT_TRUE(needs_smtputf8(env));
}
