// dkim_tags_test.cpp: RFC 6376 3.2 tag lists, 3.5 DKIM-Signature values, 3.6.1 key records, and
// the base64 they carry.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "trust/dkim_tags.hpp"

using namespace sluice::trust::dkim;

namespace {

// RFC 8463 Appendix A.3, the ed25519-sha256 signature's value (folded as in the RFC).
constexpr std::string_view kRfc8463Ed =
    " v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";

// A minimal valid value; tests change one thing in it.
std::string minimal(std::string_view extra = "") {
    return "v=1; a=rsa-sha256; d=example.com; s=sel; h=From:To; bh=YWJj; b=YWJj" +
           std::string(extra);
}

std::string error_of(std::string_view value) {
    auto p = parse_signature(value);
    return p ? "(parsed)" : p.error;
}

}  // namespace

TEST(DkimTagList, NamesValuesAndRawValues) {
    std::string_view text = " a = 1 ;b=two  words\r\n\t;c=;  ";
    auto t = parse_tag_list(text);
    ASSERT_TRUE(t) << t.error;
    ASSERT_EQ(t.value->size(), 3u);
    EXPECT_EQ((*t.value)[0].name, "a");
    EXPECT_EQ((*t.value)[0].value, "1");
    EXPECT_EQ((*t.value)[0].raw_value, " 1 ");
    EXPECT_EQ((*t.value)[1].value, "two  words");
    EXPECT_EQ((*t.value)[2].value, "");
}

TEST(DkimTagList, Errors) {
    EXPECT_FALSE(parse_tag_list(""));
    EXPECT_FALSE(parse_tag_list("a=1;;b=2"));    // empty tag-spec inside
    EXPECT_FALSE(parse_tag_list("a=1; b"));      // no '='
    EXPECT_FALSE(parse_tag_list("1a=1"));        // name starts with a digit
    EXPECT_FALSE(parse_tag_list("a-b=1"));       // '-' is not in names
    EXPECT_FALSE(parse_tag_list("a=\x01"));      // control character in a value
    EXPECT_FALSE(parse_tag_list("a=1; a=2"));    // duplicate
    EXPECT_TRUE(parse_tag_list("a=1; A=2"));     // names are case-sensitive: two tags
    EXPECT_TRUE(parse_tag_list("a=1;  \r\n "));  // trailing ';' and FWS
    std::string many;
    for (int i = 0; i < 100; ++i) many += "t" + std::to_string(i) + "=1;";
    EXPECT_FALSE(parse_tag_list(many));
}

TEST(DkimSignature, Rfc8463Example) {
    auto p = parse_signature(kRfc8463Ed);
    ASSERT_TRUE(p) << p.error;
    const Signature& s = *p.value;
    EXPECT_EQ(s.algorithm, Algorithm::ed25519_sha256);
    EXPECT_EQ(s.header_canon, Canon::relaxed);
    EXPECT_EQ(s.body_canon, Canon::relaxed);
    EXPECT_EQ(s.domain, "football.example.com");
    EXPECT_EQ(s.selector, "brisbane");
    EXPECT_EQ(s.identity, "@football.example.com");
    EXPECT_EQ(s.timestamp, 1528637909);
    EXPECT_FALSE(s.expiration);
    EXPECT_FALSE(s.length);
    EXPECT_EQ(s.headers, (std::vector<std::string>{"from", "to", "subject", "date", "message-id",
                                                   "from", "subject", "date"}));
    EXPECT_EQ(s.bh.size(), 32u);
    EXPECT_EQ(s.b.size(), 64u);  // an Ed25519 signature
    // FWS inside b= is not part of it.
    EXPECT_EQ(s.b_base64,
              "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1"
              "Dw==");
    EXPECT_EQ(kRfc8463Ed.substr(s.b_value_begin, s.b_value_end - s.b_value_begin),
              "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
              " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==");
}

TEST(DkimSignature, FwsInBase64Values) {
    auto folded = parse_signature(
        "v=1; a=rsa-sha256; d=example.com; s=sel; h=From;"
        " bh= YW\r\n\tJj ; b=YWJj\r\n ZGVm");
    ASSERT_TRUE(folded) << folded.error;
    EXPECT_EQ(folded.value->bh, "abc");
    EXPECT_EQ(folded.value->b, "abcdef");
    EXPECT_EQ(folded.value->b_base64, "YWJjZGVm");
}

TEST(DkimSignature, DefaultsAndOptionalTags) {
    auto p = parse_signature(minimal("; c=relaxed; l=12; q=dns/txt; t=100; x=200; z=ignored"));
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->header_canon, Canon::relaxed);
    EXPECT_EQ(p.value->body_canon, Canon::simple);  // only one given: the body's is simple
    EXPECT_EQ(p.value->identity, "@example.com");
    EXPECT_EQ(p.value->length, 12u);
    EXPECT_EQ(p.value->expiration, 200);
    auto s = parse_signature(minimal());
    ASSERT_TRUE(s);
    EXPECT_EQ(s.value->header_canon, Canon::simple);
    EXPECT_EQ(s.value->body_canon, Canon::simple);
    auto r = parse_signature(minimal("; c=simple/relaxed"));
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ(r.value->body_canon, Canon::relaxed);
}

TEST(DkimSignature, DuplicateTag) {
    EXPECT_EQ(error_of(minimal("; d=example.org")), "duplicate tag d=");
}

TEST(DkimSignature, MissingRequiredTags) {
    for (std::string tag : {"v", "a", "b", "bh", "d", "h", "s"}) {
        std::string all[] = {"v=1",           "a=rsa-sha256", "b=YWJj", "bh=YWJj",
                             "d=example.com", "h=From",       "s=sel"};
        std::string value;
        for (const auto& t : all)
            if (t.substr(0, t.find('=')) != tag) value += t + "; ";
        EXPECT_EQ(error_of(value), "missing required tag " + tag + "=") << value;
    }
    // Tag names are case-sensitive: "V=1" is an unknown tag, v= is still missing.
    EXPECT_EQ(error_of("V=1; a=rsa-sha256; d=example.com; s=sel; h=From; bh=YWJj; b=YWJj"),
              "missing required tag v=");
}

TEST(DkimSignature, BadValues) {
    EXPECT_EQ(error_of("v=2; a=rsa-sha256; d=e.com; s=s; h=From; bh=YWJj; b=YWJj"),
              "unsupported version v=");
    EXPECT_EQ(error_of("v=1; a=rsa-md5; d=e.com; s=s; h=From; bh=YWJj; b=YWJj"),
              "unknown algorithm a=rsa-md5");
    EXPECT_EQ(error_of(minimal("; c=relaxed/fancy")), "unknown canonicalization c=");
    EXPECT_EQ(error_of("v=1; a=rsa-sha256; d=e.com; s=s; h=To:Subject; bh=YWJj; b=YWJj"),
              "h= does not include From");
    EXPECT_EQ(error_of("v=1; a=rsa-sha256; d=e.com; s=s; h=From::To; bh=YWJj; b=YWJj"),
              "h= has an empty field name");
    EXPECT_EQ(error_of("v=1; a=rsa-sha256; d=e.com; s=s; h=From; bh=YWJj; b=YWJ"),
              "b= is not base64");
    EXPECT_EQ(error_of("v=1; a=rsa-sha256; d=e.com; s=s; h=From; bh=; b=YWJj"),
              "bh= is not base64");
    EXPECT_EQ(error_of("v=1; a=rsa-sha256; d=e..com; s=s; h=From; bh=YWJj; b=YWJj"),
              "d= is not a domain name");
    EXPECT_EQ(error_of("v=1; a=rsa-sha256; d=e.com; s=a b; h=From; bh=YWJj; b=YWJj"),
              "s= is not a selector");
    EXPECT_EQ(error_of(minimal("; l=123456789012345678901234567890")), "l= is not a number");
    EXPECT_EQ(error_of(minimal("; l=-1")), "l= is not a number");
    EXPECT_EQ(error_of(minimal("; q=http/well-known")), "q= has no dns/txt");
    EXPECT_EQ(error_of(minimal("; t=1234567890123")), "t= is not a number");  // 13 digits
    std::string h = "h=From";
    for (int i = 0; i < 300; ++i) h += ":X";
    EXPECT_EQ(error_of("v=1; a=rsa-sha256; d=e.com; s=s; " + h + "; bh=YWJj; b=YWJj"),
              "h= names too many fields");
}

TEST(DkimSignature, IdentityMustBeInDomain) {
    EXPECT_TRUE(parse_signature(minimal("; i=joe@example.com")));
    EXPECT_TRUE(parse_signature(minimal("; i=@mail.EXAMPLE.com")));
    auto p = parse_signature(minimal("; i=joe@sub.example.com"));
    ASSERT_TRUE(p);
    EXPECT_EQ(p.value->identity, "joe@sub.example.com");
    EXPECT_EQ(error_of(minimal("; i=joe@example.org")), "i= is not in the d= domain");
    EXPECT_EQ(error_of(minimal("; i=joe@badexample.com")), "i= is not in the d= domain");
    EXPECT_EQ(error_of(minimal("; i=example.com")), "i= has no '@'");
}

TEST(DkimSignature, ExpirationMustFollowTimestamp) {
    EXPECT_TRUE(parse_signature(minimal("; t=100; x=101")));
    EXPECT_TRUE(parse_signature(minimal("; x=50")));  // no t=: nothing to compare with
    EXPECT_EQ(error_of(minimal("; t=100; x=50")), "x= is not after t=");
    EXPECT_EQ(error_of(minimal("; t=100; x=100")), "x= is not after t=");
}

TEST(DkimKeyRecord, Good) {
    auto k = parse_key_record("v=DKIM1; h=sha1:SHA256; k=rsa; n=notes; s=email:*; t=y:s:q; p=YWJj");
    ASSERT_TRUE(k) << k.error;
    EXPECT_EQ(k.value->type, KeyType::rsa);
    EXPECT_EQ(k.value->public_key, "abc");
    EXPECT_FALSE(k.value->revoked);
    EXPECT_EQ(k.value->hashes, (std::vector<std::string>{"sha1", "sha256"}));
    EXPECT_EQ(k.value->services, (std::vector<std::string>{"email", "*"}));
    EXPECT_TRUE(k.value->testing);
    EXPECT_TRUE(k.value->strict);

    auto d = parse_key_record("p=YW Jj");  // all defaults; FWS inside p=
    ASSERT_TRUE(d) << d.error;
    EXPECT_EQ(d.value->type, KeyType::rsa);
    EXPECT_EQ(d.value->public_key, "abc");
    EXPECT_TRUE(d.value->hashes.empty());
    EXPECT_EQ(d.value->services, std::vector<std::string>{"*"});
    EXPECT_FALSE(d.value->testing || d.value->strict);

    auto e = parse_key_record("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    ASSERT_TRUE(e) << e.error;
    EXPECT_EQ(e.value->type, KeyType::ed25519);
    EXPECT_EQ(e.value->public_key.size(), 32u);
}

TEST(DkimKeyRecord, RevokedAndErrors) {
    auto r = parse_key_record("v=DKIM1; k=rsa; p=");
    ASSERT_TRUE(r) << r.error;
    EXPECT_TRUE(r.value->revoked);
    EXPECT_EQ(parse_key_record("k=rsa").error, "missing p=");
    EXPECT_EQ(parse_key_record("k=rsa; v=DKIM1; p=YWJj").error, "v= is not the first tag");
    EXPECT_EQ(parse_key_record("v=DKIM2; p=YWJj").error, "unsupported version v=");
    EXPECT_EQ(parse_key_record("v=DKIM1; k=dsa; p=YWJj").error, "unknown key type k=dsa");
    EXPECT_EQ(parse_key_record("v=DKIM1; p=YW*j").error, "p= is not base64");
    EXPECT_EQ(parse_key_record("v=DKIM1; p=YWJj; p=YWJj").error, "duplicate tag p=");
}

TEST(DkimBase64, Padding) {
    EXPECT_EQ(base64_decode("YQ=="), "a");
    EXPECT_EQ(base64_decode("YWI="), "ab");
    EXPECT_EQ(base64_decode("YWJj"), "abc");
    EXPECT_EQ(base64_decode(" Y W\r\n\tJ j "), "abc");
    EXPECT_EQ(base64_decode(""), "");
    EXPECT_EQ(base64_decode("AA=="), std::string(1, '\0'));
    EXPECT_FALSE(base64_decode("YQ="));       // length not a multiple of 4
    EXPECT_FALSE(base64_decode("YQ"));        // padding missing
    EXPECT_FALSE(base64_decode("Y==="));      // three padding characters
    EXPECT_FALSE(base64_decode("YQ==YWJj"));  // data after padding
    EXPECT_FALSE(base64_decode("YW=j"));
    EXPECT_FALSE(base64_decode("YW-j"));  // base64url is not DKIM's alphabet
}

TEST(DkimBase64, RoundTrip) {
    std::mt19937 rng(7);
    for (std::size_t n = 0; n < 40; ++n) {
        std::string bytes(n, '\0');
        for (auto& c : bytes) c = static_cast<char>(rng());
        std::string text = base64_encode(bytes);
        EXPECT_EQ(text.size(), (n + 2) / 3 * 4);
        EXPECT_EQ(base64_decode(text), bytes) << text;
    }
    EXPECT_EQ(base64_encode("abcd"), "YWJjZA==");
}
