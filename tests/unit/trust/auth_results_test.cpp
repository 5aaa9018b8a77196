// auth_results_test.cpp: the Authentication-Results and Received-SPF fields, and forged ones
// removed (RFC 8601, RFC 7208 9.1).
#include "trust/auth_results.hpp"

#include <gtest/gtest.h>

namespace sluice::trust {
namespace {

TEST(AuthResults, OneFieldWithEveryMethod) {
    MethodResult spf{"spf",
                     "pass",
                     "example.com designates 192.0.2.1 as permitted sender",
                     {{"smtp.mailfrom", "a@example.com"}}};
    MethodResult helo{"spf", "none", "", {{"smtp.helo", "mx.example.com"}}};
    EXPECT_EQ(authentication_results("mx.example.org", {spf, helo}),
              "Authentication-Results: mx.example.org;\r\n"
              "\tspf=pass (example.com designates 192.0.2.1 as permitted sender)\r\n"
              "\t smtp.mailfrom=a@example.com;\r\n"
              "\tspf=none\r\n"
              "\t smtp.helo=mx.example.com\r\n");
    EXPECT_EQ(authentication_results("mx.example.org", {}),
              "Authentication-Results: mx.example.org; none\r\n");
}

TEST(AuthResults, HostileTextCannotAddLinesOrEndTheComment) {
    // Explanations and problems come from DNS records anyone can write.
    MethodResult m{
        "spf", "permerror", "bad)\r\nAuthentication-Results: mx.example.org; dmarc=pass", {}};
    const std::string f = authentication_results("mx.example.org", {m});
    EXPECT_EQ(f.find("\r\nAuthentication-Results"), std::string::npos);
    EXPECT_NE(f.find("bad\\)??Authentication"), std::string::npos);
    EXPECT_EQ(comment_text(std::string(500, 'x')).size(), 200u);
}

TEST(AuthResults, PropertyValues) {
    EXPECT_EQ(property_value("a.b@example.com"), "a.b@example.com");
    EXPECT_EQ(property_value("\"a b\"@example.com"), "example.com");  // not a dot-atom
    EXPECT_EQ(property_value("example.com"), "example.com");
    EXPECT_EQ(property_value("a@exa mple.com"), "unknown");
}

TEST(AuthResults, ForgedFieldsWithOurIdAreRemoved) {
    const std::string headers =
        "Received: from x\r\n"
        "Authentication-Results: mx.example.org; dmarc=pass\r\n"
        "authentication-results : (comment) MX.EXAMPLE.ORG;\r\n\tspf=pass\r\n"
        "Authentication-Results: other.example; spf=fail\r\n"
        "Authentication-Results: mx.example.org.evil; spf=fail\r\n"
        "Subject: hi\r\n"
        "\r\n";
    std::size_t removed = 0;
    EXPECT_EQ(strip_results(headers, "mx.example.org", &removed),
              "Received: from x\r\n"
              "Authentication-Results: other.example; spf=fail\r\n"
              "Authentication-Results: mx.example.org.evil; spf=fail\r\n"
              "Subject: hi\r\n"
              "\r\n");
    EXPECT_EQ(removed, 2u);
}

TEST(AuthResults, AuthservIdAfterComments) {
    EXPECT_EQ(results_authserv_id(" (a (nested) comment) mx.example.org; spf=pass"),
              "mx.example.org");
    EXPECT_EQ(results_authserv_id(" mx.example.org 1; none"), "mx.example.org");
    EXPECT_EQ(results_authserv_id(""), "");
    // A quoted-string is unquoted, as readers do: "mx.example.org" is our id.
    EXPECT_EQ(results_authserv_id(" \"mx.example.org\"; dmarc=pass"), "mx.example.org");
    EXPECT_EQ(results_authserv_id(" \"mx.exa\\mple.org\"; none"), "mx.example.org");
    std::size_t removed = 0;
    EXPECT_EQ(strip_results("Authentication-Results: \"MX.example.org\"; dmarc=pass\r\n\r\n",
                            "mx.example.org", &removed),
              "\r\n");
    EXPECT_EQ(removed, 1u);
}

TEST(AuthResults, ReceivedSpf) {
    const std::string f =
        received_spf({"pass", "example.com designates 192.0.2.1", "192.0.2.1", "a@example.com",
                      "mx.example.com", "mailfrom", "mx.example.org", "ip4:192.0.2.0/24", ""});
    EXPECT_EQ(f,
              "Received-SPF: pass (example.com designates 192.0.2.1)\r\n"
              "\tclient-ip=192.0.2.1;\r\n"
              "\tenvelope-from=\"a@example.com\";\r\n"  // not a dot-atom: quoted (9.1)
              "\thelo=mx.example.com;\r\n"
              "\tidentity=mailfrom;\r\n"
              "\treceiver=mx.example.org;\r\n"
              "\tmechanism=\"ip4:192.0.2.0/24\"\r\n");
}

}  // namespace
}  // namespace sluice::trust
