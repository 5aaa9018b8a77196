// password_test.cpp: argon2id hashing and verification through libsodium.
#include "auth/password.hpp"

#include <gtest/gtest.h>

namespace sluice::auth {
namespace {

TEST(Password, HashVerifies) {
    std::string h = hash_password("correct horse");
    EXPECT_TRUE(h.rfind("$argon2id$", 0) == 0);
    EXPECT_TRUE(looks_like_argon2id(h));
    EXPECT_TRUE(verify_password(h, "correct horse"));
    EXPECT_FALSE(verify_password(h, "correct horse "));
    EXPECT_FALSE(verify_password(h, ""));
    EXPECT_NE(h, hash_password("correct horse"));  // salted
}

TEST(Password, MalformedHashesNeverVerify) {
    EXPECT_FALSE(verify_password("", "x"));
    EXPECT_FALSE(verify_password("$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaA", "x"));
    EXPECT_FALSE(verify_password("$argon2id$garbage", "x"));
    EXPECT_FALSE(verify_password(std::string(1000, 'a'), "x"));
    EXPECT_TRUE(looks_like_argon2id(dummy_hash()));
}

}  // namespace
}  // namespace sluice::auth
