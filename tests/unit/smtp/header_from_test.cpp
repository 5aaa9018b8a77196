// header_from_test.cpp: the From: header address parse (smtp/header_from.hpp).
#include "smtp/header_from.hpp"

#include <gtest/gtest.h>

namespace sluice::smtp {
namespace {

std::optional<std::string> from(std::string_view headers) {
    return from_header_address(std::string(headers) + "\r\nbody\r\nFrom: body@not.header\r\n");
}

TEST(HeaderFrom, AngleAndBareForms) {
    EXPECT_EQ(from("From: Alice <alice@example.org>\r\n"), "alice@example.org");
    EXPECT_EQ(from("From: \"Smith, Alice\" <Alice@Example.org>\r\n"), "Alice@Example.org");
    EXPECT_EQ(from("from:alice@example.org\r\n"), "alice@example.org");
    EXPECT_EQ(from("FROM :   alice@example.org  \r\n"), "alice@example.org");
    EXPECT_EQ(from("From: < alice@example.org >\r\n"), "alice@example.org");
    EXPECT_EQ(from("Received: x\r\nSubject: s\r\nFrom: <a@b.test>\r\nTo: c@d.test\r\n"),
              "a@b.test");
}

TEST(HeaderFrom, FoldedAndLfOnly) {
    EXPECT_EQ(from("From: Alice\r\n <alice@example.org>\r\nTo: x@y\r\n"), "alice@example.org");
    EXPECT_EQ(from_header_address("Subject: s\nFrom: a@b.test\n\nbody"), "a@b.test");
    // A folded line after another field does not extend From:.
    EXPECT_EQ(from("From: a@b.test\r\nSubject: x\r\n y@z.test\r\n"), "a@b.test");
}

TEST(HeaderFrom, RefusedForms) {
    EXPECT_EQ(from("Subject: no from\r\n"), std::nullopt);
    EXPECT_EQ(from("From: a@b.test\r\nFrom: c@d.test\r\n"), std::nullopt);  // two fields
    EXPECT_EQ(from("From: a@b.test, c@d.test\r\n"), std::nullopt);          // a list
    EXPECT_EQ(from("From: A <a@b.test>, C <c@d.test>\r\n"), std::nullopt);
    EXPECT_EQ(from("From: Alice <alice@example.org\r\n"), std::nullopt);  // no '>'
    EXPECT_EQ(from("From: <a@b.test> trailing\r\n"), std::nullopt);
    EXPECT_EQ(from("From: Alice\r\n"), std::nullopt);  // no address
    EXPECT_EQ(from("From: a@b.test (comment)\r\n"), std::nullopt);
    EXPECT_EQ(from("From: <>\r\n"), std::nullopt);
    EXPECT_EQ(from("From: undisclosed:;\r\n"), std::nullopt);  // a group
    EXPECT_EQ(from("From: @b.test\r\n"), std::nullopt);
    EXPECT_EQ(from_header_address(""), std::nullopt);
    // The header section ends at the first empty line.
    EXPECT_EQ(from_header_address("Subject: s\r\n\r\nFrom: a@b.test\r\n"), std::nullopt);
}

}  // namespace
}  // namespace sluice::smtp
