// sasl_test.cpp: strict base64 and RFC 4616 PLAIN decoding.
#include "auth/sasl.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::auth {
namespace {

TEST(Base64, RoundTripsAndIsStrict) {
    for (const std::string& s :
         std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0x\0y", 4)})
        EXPECT_EQ(base64_decode(base64_encode(s)), s);
    EXPECT_EQ(base64_encode("alice"), "YWxpY2U=");
    EXPECT_FALSE(base64_decode("YWxpY2U"));    // missing padding
    EXPECT_FALSE(base64_decode("YWxp Y2U="));  // space
    EXPECT_FALSE(base64_decode("YW=pY2U="));   // padding in the middle
    EXPECT_FALSE(base64_decode("YWxpY2V="));   // non-zero bits after the data
    EXPECT_FALSE(base64_decode("YQ==YQ=="));   // data after padding
    EXPECT_FALSE(base64_decode("Y==="));
}

TEST(Plain, DecodesRfc4616Messages) {
    auto c = decode_plain(std::string("\0tim\0tanstaaftanstaaf", 21));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->authzid, "");
    EXPECT_EQ(c->authcid, "tim");
    EXPECT_EQ(c->password, "tanstaaftanstaaf");
    c = decode_plain(std::string("Ursel\0Kurt\0xipj3plmq", 20));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->authzid, "Ursel");
    EXPECT_FALSE(decode_plain("no separators"));
    EXPECT_FALSE(decode_plain(std::string("\0\0pw", 4)));     // empty authcid
    EXPECT_FALSE(decode_plain(std::string("\0u\0", 3)));      // empty password
    EXPECT_FALSE(decode_plain(std::string("\0u\0p\0w", 6)));  // NUL in password
    EXPECT_FALSE(decode_plain("\0u\0" + std::string(kMaxField + 1, 'p')));
}

TEST(Plain, WipeClearsThePassword) {
    Credentials c{"", "u", "secret"};
    wipe(c);
    EXPECT_TRUE(c.password.empty());
}

TEST(Mechanism, CaseInsensitive) {
    EXPECT_EQ(parse_mechanism("plain"), Mechanism::plain);
    EXPECT_EQ(parse_mechanism("LOGIN"), Mechanism::login);
    EXPECT_FALSE(parse_mechanism("CRAM-MD5"));
}

}  // namespace
}  // namespace sluice::auth
