// command_test.cpp: tests for command-line splitting, MAIL/RCPT arguments, ESMTP parameters, xtext.
//
// STANDARDS: RFC 5321 4.1.1, 4.1.2; RFC 6531 3.3; RFC 3461 4.
#include "smtp/command.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::smtp {
namespace {

using namespace std::string_literals;

TEST(ParseCommand, EveryVerbCaseInsensitive) {
    const std::pair<const char*, Verb> verbs[] = {
        {"HELO", Verb::helo},         {"EHLO", Verb::ehlo}, {"MAIL", Verb::mail},
        {"RCPT", Verb::rcpt},         {"DATA", Verb::data}, {"BDAT", Verb::bdat},
        {"RSET", Verb::rset},         {"NOOP", Verb::noop}, {"QUIT", Verb::quit},
        {"VRFY", Verb::vrfy},         {"EXPN", Verb::expn}, {"HELP", Verb::help},
        {"STARTTLS", Verb::starttls}, {"AUTH", Verb::auth},
    };
    for (auto [name, verb] : verbs) {
        std::string upper = name;
        std::string lower = upper;
        for (char& c : lower) c = static_cast<char>(c - 'A' + 'a');
        std::string mixed = upper;
        mixed[1] = lower[1];
        for (const std::string& text : {upper, lower, mixed}) {
            Command c = parse_command(text);
            EXPECT_EQ(c.verb, verb) << text;
            EXPECT_EQ(c.verb_text, text);
            EXPECT_EQ(c.args, "");
        }
        EXPECT_EQ(parse_command(upper + "X").verb, Verb::unknown) << upper;
        EXPECT_EQ(parse_command(upper.substr(1)).verb, Verb::unknown) << upper;
    }
}

TEST(ParseCommand, Arguments) {
    Command c = parse_command("MAIL FROM:<a@b> SIZE=10");
    EXPECT_EQ(c.verb, Verb::mail);
    EXPECT_EQ(c.verb_text, "MAIL");
    EXPECT_EQ(c.args, "FROM:<a@b> SIZE=10");

    c = parse_command("ehlo client.example  \t ");
    EXPECT_EQ(c.verb, Verb::ehlo);
    EXPECT_EQ(c.verb_text, "ehlo");
    EXPECT_EQ(c.args, "client.example");

    c = parse_command("QUIT   ");
    EXPECT_EQ(c.verb, Verb::quit);
    EXPECT_EQ(c.args, "");

    c = parse_command("QUIT\t");
    EXPECT_EQ(c.verb, Verb::quit);

    c = parse_command("NOOP  x");  // only the first SP separates
    EXPECT_EQ(c.verb, Verb::noop);
    EXPECT_EQ(c.args, " x");

    c = parse_command("BDAT 100 LAST");
    EXPECT_EQ(c.verb, Verb::bdat);
    EXPECT_EQ(c.args, "100 LAST");
}

TEST(ParseCommand, UnknownVerbs) {
    for (const std::string& line : std::initializer_list<std::string>{
             "", " ", " MAIL FROM:<a@b>", "MAIL\tFROM:<a@b>", "XYZZY", "MAILFROM:<a>", "HTTP/1.1",
             "\x80\x81", "MA\0IL"s}) {
        Command c = parse_command(line);
        EXPECT_EQ(c.verb, Verb::unknown) << line;
    }
    EXPECT_EQ(parse_command(" MAIL").verb_text, "");
    EXPECT_EQ(parse_command("MAIL\tFROM:<a@b>").verb_text, "MAIL\tFROM:<a@b>");
}

TEST(ParseCommand, HttpIsDetected) {
    for (const char* verb :
         {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE", "get"}) {
        EXPECT_EQ(parse_command(verb).verb, Verb::http) << verb;
        EXPECT_EQ(parse_command(std::string(verb) + " /x").verb, Verb::http) << verb;
    }
    EXPECT_EQ(parse_command("GET / HTTP/1.1").verb, Verb::http);
    EXPECT_EQ(parse_command("BREW /pot HTTP/1.0").verb, Verb::http);
    EXPECT_EQ(parse_command("NOOP HTTP/1.1").verb, Verb::http);
    EXPECT_EQ(parse_command("FOO x HTTP/1.1  ").verb, Verb::http);
    EXPECT_EQ(parse_command("NOOP HTTP/1.1x").verb, Verb::noop);
    EXPECT_EQ(parse_command("NOOP XHTTP/1.1").verb, Verb::noop);
    EXPECT_EQ(parse_command("GETX").verb, Verb::unknown);
}

PathArgs mail_ok(std::string_view args) {
    PathArgsResult r = parse_mail_args(args);
    EXPECT_EQ(r.error, ArgError::none) << args;
    EXPECT_TRUE(r.args) << args;
    return r.args ? *r.args : PathArgs{};
}

PathArgsResult mail_bad(std::string_view args, ArgError expected) {
    PathArgsResult r = parse_mail_args(args);
    EXPECT_FALSE(r.args) << args;
    EXPECT_EQ(r.error, expected) << args;
    return r;
}

TEST(ParseMailArgs, Basic) {
    PathArgs a = mail_ok("FROM:<a@Example.com>");
    EXPECT_EQ(a.path.mailbox.str(), "a@example.com");
    EXPECT_TRUE(a.params.empty());
    EXPECT_EQ(mail_ok("from:<a@b>").path.mailbox.str(), "a@b");
    EXPECT_EQ(mail_ok("FrOm:<a@b>").path.mailbox.str(), "a@b");
    EXPECT_EQ(mail_ok("FROM: <a@b>").path.mailbox.str(), "a@b");  // common client habit
    EXPECT_TRUE(mail_ok("FROM:<>").path.null);
    EXPECT_TRUE(mail_ok("FROM: <>").path.null);
    EXPECT_EQ(mail_ok("FROM:<@relay.example:a@b>").path.mailbox.str(), "a@b");
}

TEST(ParseMailArgs, Params) {
    PathArgs a = mail_ok("FROM:<> SIZE=100 body=8BITMIME smtputf8 RET=hdrs ENVID=QQ+2B1");
    ASSERT_EQ(a.params.size(), 5u);
    EXPECT_EQ(a.params[0].keyword, "SIZE");
    EXPECT_EQ(a.params[0].value, "100");
    EXPECT_EQ(a.params[1].keyword, "BODY");
    EXPECT_EQ(a.params[1].value, "8BITMIME");
    EXPECT_EQ(a.params[2].keyword, "SMTPUTF8");
    EXPECT_FALSE(a.params[2].value.has_value());
    EXPECT_EQ(a.params[3].keyword, "RET");
    EXPECT_EQ(a.params[3].value, "hdrs");  // values keep their case
    EXPECT_EQ(a.params[4].value, "QQ+2B1");

    a = mail_ok("FROM:<a@b>   SIZE=1    X-Y-1=a");  // one or more SP between
    ASSERT_EQ(a.params.size(), 2u);
    EXPECT_EQ(a.params[1].keyword, "X-Y-1");
    EXPECT_EQ(mail_ok("FROM:<a@b> SIZE=1 ").params.size(), 1u);  // trailing space tolerated
    EXPECT_EQ(mail_ok("FROM:<a@b> 8BIT").params[0].keyword, "8BIT");
    EXPECT_EQ(mail_ok("FROM:<a@b> A=!~<>").params[0].value, "!~<>");
    // UTF-8 values (RFC 6531 3.3).
    EXPECT_EQ(mail_ok("FROM:<a@b> ENVID=\xc3\xa9t\xc3\xa9").params[0].value, "\xc3\xa9t\xc3\xa9");
    // Duplicates are the session's business.
    EXPECT_EQ(mail_ok("FROM:<a@b> SIZE=1 SIZE=2").params.size(), 2u);
}

TEST(ParseMailArgs, SyntaxErrors) {
    for (const std::string& args : std::initializer_list<std::string>{
             "",
             "FROM",
             "FROM:",
             "FROM: ",
             "TO:<a@b>",
             "FROM <a@b>",
             "FROM:a@b",
             "FROM:  <a@b>",
             "FROM:\t<a@b>",
             " FROM:<a@b>",
             "FROMX:<a@b>",
             "FROM:<a@b>SIZE=1",     // no SP before the parameter
             "FROM:<a@b> SIZE=",     // empty value
             "FROM:<a@b> =1",        // empty keyword
             "FROM:<a@b> -X=1",      // keyword starts with '-'
             "FROM:<a@b> X_Y=1",     // '_' not allowed in keywords
             "FROM:<a@b> A=b=c",     // '=' in value
             "FROM:<a@b> A=b\tB=c",  // TAB is not a separator
             "FROM:<a@b>\tSIZE=1",
             "FROM:<a@b> A=\x7f",
             "FROM:<a@b> A=\x01",
             "FROM:<a@b> A=\xff",      // invalid UTF-8 in a value
             "FROM:<a@b> A=\xc3",      // truncated UTF-8
             "FROM:<a@b> \xc3\xa9=1",  // keywords are ASCII
             "FROM:<a@b> A=b\0c"s,
         }) {
        mail_bad(args, ArgError::syntax);
    }
}

TEST(ParseMailArgs, AddressErrors) {
    EXPECT_EQ(mail_bad("FROM:<a@b", ArgError::address).address_error, AddressError::syntax);
    EXPECT_EQ(mail_bad("FROM:<a>", ArgError::address).address_error, AddressError::syntax);
    EXPECT_EQ(mail_bad("FROM:<Postmaster>", ArgError::address).address_error, AddressError::syntax);
    EXPECT_EQ(mail_bad("FROM:<" + std::string(65, 'a') + "@b>", ArgError::address).address_error,
              AddressError::local_too_long);
    EXPECT_EQ(mail_bad("FROM:<\xff@b>", ArgError::address).address_error, AddressError::bad_utf8);
    EXPECT_EQ(mail_bad("FROM:<a@" + std::string(300, 'd') + ">", ArgError::address).address_error,
              AddressError::domain_too_long);
}

TEST(ParseRcptArgs, Basic) {
    PathArgsResult r =
        parse_rcpt_args("TO:<User@Example.ORG> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+40x");
    ASSERT_TRUE(r.args);
    EXPECT_EQ(r.args->path.mailbox.str(), "User@example.org");
    ASSERT_EQ(r.args->params.size(), 2u);
    EXPECT_EQ(r.args->params[0].keyword, "NOTIFY");
    EXPECT_EQ(r.args->params[0].value, "SUCCESS,FAILURE");
    EXPECT_EQ(r.args->params[1].value, "rfc822;u+40x");

    r = parse_rcpt_args("to: <Postmaster>");
    ASSERT_TRUE(r.args);
    EXPECT_EQ(r.args->path.mailbox.str(), "postmaster");

    r = parse_rcpt_args("TO:<>");
    EXPECT_EQ(r.error, ArgError::address);
    EXPECT_EQ(r.address_error, AddressError::syntax);

    EXPECT_EQ(parse_rcpt_args("FROM:<a@b>").error, ArgError::syntax);
    EXPECT_EQ(parse_rcpt_args("TO:a@b").error, ArgError::syntax);
    EXPECT_EQ(parse_rcpt_args("TO:<a@b>x").error, ArgError::syntax);
    EXPECT_EQ(parse_rcpt_args("TO:<@a,@b:c@d>").args->path.mailbox.str(), "c@d");
}

TEST(DecodeXtext, Valid) {
    EXPECT_EQ(decode_xtext(""), "");
    EXPECT_EQ(decode_xtext("abc"), "abc");
    EXPECT_EQ(decode_xtext("a+2Bb"), "a+b");
    EXPECT_EQ(decode_xtext("+3D"), "=");
    EXPECT_EQ(decode_xtext("rfc822;user+40example.com"), "rfc822;user@example.com");
    EXPECT_EQ(decode_xtext("+20+7E+FF"), " ~\xff");
    EXPECT_EQ(decode_xtext("+00"), "\0"s);  // decodes to any octet; callers must not trust it
    EXPECT_EQ(decode_xtext("!~"), "!~");
}

TEST(DecodeXtext, Invalid) {
    for (const std::string& s : std::initializer_list<std::string>{
             "+", "+2", "a+2", "+2b", "+g0", "+G0", "a=b", "a b", "a\x7f", "\x80", "\xc3\xa9",
             "a\tb", "+ 20", "a\0b"s, "++20"}) {
        EXPECT_FALSE(decode_xtext(s).has_value()) << s;
    }
}

}  // namespace
}  // namespace sluice::smtp
