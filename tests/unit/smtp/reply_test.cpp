// reply_test.cpp: tests for SMTP reply rendering (single and multi-line, enhanced status codes).
//
// STANDARDS: RFC 5321 4.2, 4.2.1 (multi-line replies); RFC 2034 4 (enhanced code on every line).
#include "smtp/reply.hpp"

#include <gtest/gtest.h>

namespace sluice::smtp {
namespace {

TEST(FormatReply, SingleLine) {
    EXPECT_EQ(format_reply({250, "2.0.0", "OK"}), "250 2.0.0 OK\r\n");
    EXPECT_EQ(format_reply({550, "5.1.1", "no such user"}), "550 5.1.1 no such user\r\n");
}

TEST(FormatReply, NoEnhancedCode) {
    EXPECT_EQ(format_reply({220, "", "mx.example ESMTP"}), "220 mx.example ESMTP\r\n");
    EXPECT_EQ(format_reply({354, "", "go ahead"}), "354 go ahead\r\n");
}

TEST(FormatReply, EmptyText) {
    EXPECT_EQ(format_reply({250, "2.0.0", ""}), "250 2.0.0\r\n");  // no trailing space
}

TEST(FormatReply, MultiLineRepeatsCodeAndEnhancedCode) {
    EXPECT_EQ(format_reply({250, "", "mx.example\nPIPELINING\nSIZE 1000"}),
              "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
    EXPECT_EQ(format_reply({452, "4.5.3", "too many\nrecipients"}),
              "452-4.5.3 too many\r\n452 4.5.3 recipients\r\n");
    EXPECT_EQ(format_reply({250, "2.0.0", "a\n"}), "250-2.0.0 a\r\n250 2.0.0\r\n");
}

TEST(AppendReply, AppendsToExistingOutput) {
    std::string out = "250 2.1.0 OK\r\n";
    append_reply(out, {250, "2.1.5", "OK"});
    append_reply(out, {354, "", "end with <CRLF>.<CRLF>"});
    EXPECT_EQ(out, "250 2.1.0 OK\r\n250 2.1.5 OK\r\n354 end with <CRLF>.<CRLF>\r\n");
}

TEST(Reply, Classes) {
    Reply ok{250, "2.0.0", "OK"};
    EXPECT_TRUE(ok.positive());
    EXPECT_FALSE(ok.transient());
    EXPECT_FALSE(ok.permanent());
    Reply go{354, "", "go"};
    EXPECT_TRUE(go.positive());
    Reply later{451, "4.3.0", "try later"};
    EXPECT_FALSE(later.positive());
    EXPECT_TRUE(later.transient());
    EXPECT_FALSE(later.permanent());
    Reply no{554, "5.7.1", "no"};
    EXPECT_FALSE(no.positive());
    EXPECT_FALSE(no.transient());
    EXPECT_TRUE(no.permanent());
    EXPECT_FALSE(Reply{}.positive());
}

}  // namespace
}  // namespace sluice::smtp
