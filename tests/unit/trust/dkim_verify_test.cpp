// dkim_verify_test.cpp: the Verifier on the RFC 8463 example, sign-then-verify round trips, and
// every way a signature should not pass (RFC 6376 6.1, RFC 8301); signing keys and key generation.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <map>
#include <string>

#include "../temp_dir.hpp"
#include "trust/dkim_canon.hpp"
#include "trust/dkim_ossl.hpp"
#include "trust/dkim_sign.hpp"
#include "trust/dkim_verify.hpp"

using namespace sluice::trust::dkim;
namespace ossl = sluice::trust::dkim::ossl;
using Answer = Verifier::KeyAnswer;

namespace {

// RFC 8463 Appendix A.3: one message signed with both algorithms; A.2: the keys.
constexpr std::string_view kRfcEdField =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n";
constexpr std::string_view kRfcRsaField =
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n";
constexpr std::string_view kRfcFields =
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n";
constexpr std::string_view kRfcBody =
    "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";
constexpr std::string_view kRfcEdRecord =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr std::string_view kRfcEdSeed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr std::string_view kRfcRsaRecord =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR"
    "6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5Qj"
    "vHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
constexpr std::int64_t kRfcTime = 1528637909;

constexpr std::string_view kFields =
    "Received: from a.example.com by b.example.com; Fri, 11 Jul 2003 21:01:54 -0700\r\n"
    "From: Joe <joe@example.com>\r\n"
    "To: Suzie <suzie@example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
    "Message-ID: <1@example.com>\r\n"
    "\r\n";
constexpr std::string_view kBody = "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\n";
constexpr std::int64_t kNow = 1700000000;

SignOptions at(std::int64_t timestamp, std::int64_t expire_after = 0) {
    return {{}, timestamp, expire_after};
}

Answer txt(std::string_view record) {
    return {Answer::Status::ok, {std::string(record)}};
}

std::vector<SignatureResult> verify(std::string_view header_section, std::string_view body,
                                    const std::map<std::string, Answer>& dns,
                                    std::int64_t now = kNow, std::size_t chunk = 0,
                                    std::size_t max_signatures = 5) {
    Verifier v(header_section, {max_signatures, now});
    if (chunk == 0) chunk = body.size() + 1;
    for (std::size_t pos = 0; pos < body.size(); pos += chunk) v.body(body.substr(pos, chunk));
    v.finish_body();
    for (std::size_t i = 0; i < v.key_queries().size(); ++i) {
        auto it = dns.find(v.key_queries()[i].name);
        v.key_answer(i, it != dns.end() ? it->second : Answer{Answer::Status::nxdomain, {}});
    }
    return v.results();
}

std::string body_hash(std::string_view body, Canon c = Canon::relaxed, Hash h = Hash::sha256,
                      std::optional<std::uint64_t> l = std::nullopt) {
    BodyHasher b(c, h, l);
    b.update(body);
    return b.finish();
}

// A signature made by hand, for what sign() never makes (rsa-sha1, l=, i=, simple): `tags` is
// every tag but b=, which is appended last. Built from the same pieces the verifier uses, so a
// result other than pass comes from the rule under test, not from a broken signature.
std::string handmade(EVP_PKEY* key, Algorithm a, std::string_view tags,
                     const std::vector<std::string>& names, std::string_view fields,
                     Canon header_canon = Canon::relaxed) {
    std::string field = "DKIM-Signature: " + std::string(tags) + " b=";
    std::string data = signed_header_data(split_header_fields(fields), names, header_canon, field);
    return field + base64_encode(ossl::sign(key, a, data)) + "\r\n";
}

ossl::Pkey read_pem(const std::string& pem) {
    ossl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return ossl::Pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

class DkimVerify : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        rsa_ = new GeneratedKey(generate_key(Algorithm::rsa_sha256));
        ed_ = new GeneratedKey(generate_key(Algorithm::ed25519_sha256));
    }
    static void TearDownTestSuite() {
        delete rsa_;
        delete ed_;
    }

    SigningKey load(const GeneratedKey& g, std::string selector) {
        auto path = dir_.path() / (selector + ".pem");
        std::ofstream(path) << g.private_pem;
        std::string error;
        auto key = load_signing_key(path, "example.com", selector, &error);
        EXPECT_TRUE(key) << error;
        return *key;
    }
    // The message signed by `key`, header section only (the body is kBody).
    std::string signed_fields(const SigningKey& key, const SignOptions& o = at(kNow - 10)) {
        return sign(key, kFields, body_hash(kBody), o) + std::string(kFields);
    }
    std::map<std::string, Answer> dns() {
        return {{"rsa._domainkey.example.com", txt(rsa_->dns_txt)},
                {"ed._domainkey.example.com", txt(ed_->dns_txt)}};
    }

    static GeneratedKey* rsa_;
    static GeneratedKey* ed_;
    sluice::test::TempDir dir_{"dkim-test"};
};
GeneratedKey* DkimVerify::rsa_ = nullptr;
GeneratedKey* DkimVerify::ed_ = nullptr;

void expect_result(const SignatureResult& r, Result want, std::string_view reason) {
    EXPECT_EQ(result_name(r.result), result_name(want)) << r.reason;
    EXPECT_EQ(r.reason, reason);
}

}  // namespace

TEST(DkimRfc8463, BothSignaturesPass) {
    std::string fields =
        std::string(kRfcEdField) + std::string(kRfcRsaField) + std::string(kRfcFields);
    std::map<std::string, Answer> dns = {
        {"brisbane._domainkey.football.example.com", txt(kRfcEdRecord)},
        {"test._domainkey.football.example.com", txt(kRfcRsaRecord)}};
    for (std::size_t chunk : {0, 1, 7}) {
        auto r = verify(fields, kRfcBody, dns, kRfcTime + 60, chunk);
        ASSERT_EQ(r.size(), 2u);
        expect_result(r[0], Result::pass, "");
        expect_result(r[1], Result::pass, "");  // the RFC's RSA key has 1024 bits: accepted
        EXPECT_EQ(r[0].algorithm, "ed25519-sha256");
        EXPECT_EQ(r[1].algorithm, "rsa-sha256");
        EXPECT_EQ(r[0].domain, "football.example.com");
        EXPECT_EQ(r[0].selector, "brisbane");
        EXPECT_EQ(r[0].identity, "@football.example.com");
        EXPECT_EQ(r[0].header_b, "/gCrinpc");
        EXPECT_EQ(r[1].header_b, "F45dVWDf");
        EXPECT_FALSE(r[0].body_truncated);
    }
    // Today, years later, too: neither signature has x=.
    auto later = verify(fields, kRfcBody, dns, kNow);
    expect_result(later[0], Result::pass, "");

    std::string tampered(kRfcBody);
    tampered.replace(tampered.find("Joe."), 4, "Bob.");
    for (const auto& r : verify(fields, tampered, dns, kRfcTime))
        expect_result(r, Result::fail, "body hash mismatch");
    std::string forged = fields;
    forged.replace(forged.find("dinner"), 6, "supper");
    for (const auto& r : verify(forged, kRfcBody, dns, kRfcTime))
        expect_result(r, Result::fail, "signature did not verify");
}

TEST(DkimRfc8463, Ed25519SignatureIsReproduced) {
    // Ed25519 is deterministic: with the RFC's private key, our canonicalization and hashing of
    // the RFC's field (b= emptied) must give the RFC's b= exactly.
    auto seed = base64_decode(kRfcEdSeed);
    ASSERT_TRUE(seed);
    ossl::Pkey key(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed->data()), 32));
    ASSERT_TRUE(key);
    std::string_view field = kRfcEdField.substr(0, kRfcEdField.size() - 2);
    std::size_t b = field.find(" b=") + 3;
    std::vector<std::string> names = {"from",       "to",   "subject", "date",
                                      "message-id", "from", "subject", "date"};
    std::string data = signed_header_data(split_header_fields(kRfcFields), names, Canon::relaxed,
                                          field.substr(0, b));
    EXPECT_EQ(base64_encode(ossl::sign(key.get(), Algorithm::ed25519_sha256, data)),
              "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1"
              "Dw==");
    EXPECT_EQ(base64_encode(body_hash(kRfcBody)), "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
}

TEST_F(DkimVerify, RoundTripRsaAndEd25519) {
    for (const char* sel : {"rsa", "ed"}) {
        SigningKey key = load(std::string(sel) == "rsa" ? *rsa_ : *ed_, sel);
        std::string fields = signed_fields(key);
        // Folded at 78 columns with CRLF TAB.
        std::string field = fields.substr(0, fields.find("\r\nReceived:") + 2);
        for (std::size_t pos = 0, eol; (eol = field.find("\r\n", pos)) != std::string::npos;
             pos = eol + 2) {
            EXPECT_LE(eol - pos, 78u) << field;
            if (pos != 0) {
                EXPECT_EQ(field[pos], '\t');
            }
        }
        for (std::size_t chunk : {0, 1, 5}) {
            auto r = verify(fields, kBody, dns(), kNow, chunk);
            ASSERT_EQ(r.size(), 1u);
            expect_result(r[0], Result::pass, "");
            EXPECT_EQ(r[0].domain, "example.com");
            EXPECT_EQ(r[0].selector, sel);
            EXPECT_EQ(r[0].identity, "@example.com");
            EXPECT_EQ(r[0].header_b.size(), 8u);
            EXPECT_NE(field.find("b=" + r[0].header_b), std::string::npos);
        }
        EXPECT_EQ(verify(fields, kBody, dns())[0].algorithm,
                  key.algorithm == Algorithm::rsa_sha256 ? "rsa-sha256" : "ed25519-sha256");
    }
}

TEST_F(DkimVerify, BValueIsDeletedWithTheFwsAroundIt) {
    // RFC 6376 3.7: the b= value "(including all surrounding whitespace)" is deleted before the
    // field is hashed, wherever b= stands in it; here it is not last and has FWS on both sides.
    ossl::Pkey key = read_pem(ed_->private_pem);
    const std::string head =
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=ed; b=";
    const std::string tail = "; h=From:To; bh=" + base64_encode(body_hash(kBody));
    const std::string data = signed_header_data(split_header_fields(kFields), {"From", "To"},
                                                Canon::relaxed, head + tail);
    const std::string b = base64_encode(ossl::sign(key.get(), Algorithm::ed25519_sha256, data));
    const std::string field =
        head + "\r\n\t" + b.substr(0, 40) + "\r\n\t " + b.substr(40) + "  " + tail + "\r\n";
    expect_result(verify(field + std::string(kFields), kBody, dns())[0], Result::pass, "");
}

TEST_F(DkimVerify, TamperedHeaders) {
    std::string fields = signed_fields(load(*ed_, "ed"));
    auto changed = fields;
    changed.replace(changed.find("dinner"), 6, "supper");
    expect_result(verify(changed, kBody, dns())[0], Result::fail, "signature did not verify");

    // Over-signed fields cannot be added, whether the message had one (Subject) or not (Cc).
    for (std::string_view added : {"Subject: Cheap pills\r\n", "Cc: more@example.org\r\n",
                                   "Reply-To: evil@example.org\r\n"}) {
        auto more = fields;
        more.insert(more.size() - 2, added);
        expect_result(verify(more, kBody, dns())[0], Result::fail, "signature did not verify");
    }
    // Fields nobody signed may come and go; relaxed re-folding changes nothing.
    auto extra = fields;
    extra.insert(extra.size() - 2, "X-Spam-Score: 0\r\n");
    expect_result(verify(extra, kBody, dns())[0], Result::pass, "");
    auto refolded = fields;
    refolded.replace(refolded.find("Subject: Is dinner"), 18, "subject:   Is\r\n\t dinner");
    expect_result(verify(refolded, kBody, dns())[0], Result::pass, "");
    auto received = fields;  // Received is not signed by default
    received.replace(received.find("from a.example.com"), 4, "FROM");
    expect_result(verify(received, kBody, dns())[0], Result::pass, "");
}

TEST_F(DkimVerify, TamperedBody) {
    std::string fields = signed_fields(load(*rsa_, "rsa"));
    std::string body(kBody);
    body[1] = 'o';
    expect_result(verify(fields, body, dns())[0], Result::fail, "body hash mismatch");
    expect_result(verify(fields, std::string(kBody) + "P.S. added\r\n", dns())[0], Result::fail,
                  "body hash mismatch");
    // Relaxed body canonicalization: trailing blank lines and WSP changes do not matter.
    expect_result(verify(fields, "Hi.  \r\n\r\nWe lost the game.\t Are you hungry yet?\r\n\r\n\r\n",
                         dns())[0],
                  Result::pass, "");
}

TEST_F(DkimVerify, LengthTagLeavesTheTailUnsigned) {
    ossl::Pkey key = read_pem(rsa_->private_pem);
    const std::string bh = base64_encode(body_hash(kBody, Canon::relaxed, Hash::sha256, 20));
    std::string sig = handmade(key.get(), Algorithm::rsa_sha256,
                               "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=rsa; "
                               "l=20; h=From:Subject; bh=" +
                                   bh + ";",
                               {"From", "Subject"}, kFields);
    std::string fields = sig + std::string(kFields);
    auto exact = verify(fields, kBody, dns());
    expect_result(exact[0], Result::pass, "");
    EXPECT_TRUE(exact[0].body_truncated);  // kBody is longer than 20 octets already

    auto tail = verify(fields, std::string(kBody) + "Click here: http://evil.example/\r\n", dns());
    expect_result(tail[0], Result::pass, "");
    EXPECT_TRUE(tail[0].body_truncated);

    expect_result(verify(fields, "Hi.\r\n", dns())[0], Result::permerror,
                  "l= longer than the body");
}

TEST_F(DkimVerify, SimpleCanonicalizationAndSubdomainIdentity) {
    ossl::Pkey key = read_pem(ed_->private_pem);
    const std::string bh = base64_encode(body_hash(kBody, Canon::simple));
    std::string sig = handmade(key.get(), Algorithm::ed25519_sha256,
                               "v=1; a=ed25519-sha256; c=simple/simple; d=example.com; s=ed;\r\n"
                               "\ti=joe@mail.example.com; h=From:To; bh=" +
                                   bh + ";",
                               {"From", "To"}, kFields, Canon::simple);
    std::string fields = sig + std::string(kFields);
    auto ok = verify(fields, kBody, dns());
    expect_result(ok[0], Result::pass, "");
    EXPECT_EQ(ok[0].identity, "joe@mail.example.com");
    // Simple is strict: re-folding a signed field breaks it, an extra trailing CRLF does not.
    auto refolded = fields;
    refolded.replace(refolded.find("To: Suzie"), 9, "To:  Suzie");
    expect_result(verify(refolded, kBody, dns())[0], Result::fail, "signature did not verify");
    expect_result(verify(fields, std::string(kBody) + "\r\n", dns())[0], Result::pass, "");
    expect_result(
        verify(fields, "Hi.\r\n\r\nWe lost  the game.  Are you hungry yet?\r\n", dns())[0],
        Result::fail, "body hash mismatch");

    // t=s in the key record: i= must be in d= itself, not a subdomain.
    auto strict = dns();
    strict["ed._domainkey.example.com"] = txt(ed_->dns_txt + "; t=s");
    expect_result(verify(fields, kBody, strict)[0], Result::fail,
                  "key t=s forbids an i= subdomain");
}

TEST_F(DkimVerify, RsaSha1IsRefused) {
    ossl::Pkey key = read_pem(rsa_->private_pem);
    const std::string bh = base64_encode(body_hash(kBody, Canon::relaxed, Hash::sha1));
    std::string sig = handmade(key.get(), Algorithm::rsa_sha1,
                               "v=1; a=rsa-sha1; c=relaxed/relaxed; d=example.com; s=rsa; "
                               "h=From; bh=" +
                                   bh + ";",
                               {"From"}, kFields);
    // The signature itself is good (OpenSSL verifies it), RFC 8301 refuses it anyway.
    std::string data = signed_header_data(split_header_fields(kFields), {"From"}, Canon::relaxed,
                                          sig.substr(0, sig.find(" b=") + 3));
    ossl::Pkey pub = read_pem(rsa_->private_pem);
    ASSERT_TRUE(ossl::verify(pub.get(), Algorithm::rsa_sha1, data,
                             *base64_decode(sig.substr(sig.find(" b=") + 3))));
    Verifier v(sig + std::string(kFields), {5, kNow});
    EXPECT_TRUE(v.key_queries().empty());  // decided without a key
    v.finish_body();
    auto r = v.results();
    ASSERT_EQ(r.size(), 1u);
    expect_result(r[0], Result::permerror, "rsa-sha1 not accepted (RFC 8301)");
    EXPECT_EQ(r[0].algorithm, "rsa-sha1");
}

TEST_F(DkimVerify, ExpiredAndFutureSignatures) {
    SigningKey key = load(*ed_, "ed");
    std::string fields = signed_fields(key, at(1000, 100));  // t=1000; x=1100
    EXPECT_NE(fields.find("t=1000; x=1100;"), std::string::npos);
    expect_result(verify(fields, kBody, dns(), 1050)[0], Result::pass, "");
    expect_result(verify(fields, kBody, dns(), 1100)[0], Result::pass, "");
    expect_result(verify(fields, kBody, dns(), 1101)[0], Result::permerror, "signature expired");
    // t= in the future: a little clock skew is allowed, more is not.
    std::string future = signed_fields(key, at(kNow + 200));
    expect_result(verify(future, kBody, dns())[0], Result::pass, "");
    future = signed_fields(key, at(kNow + 3600));
    expect_result(verify(future, kBody, dns())[0], Result::permerror,
                  "signature timestamp in the future");
    // No t=, no x=.
    std::string bare = signed_fields(key, at(0, 3600));
    EXPECT_EQ(bare.find("t="), std::string::npos);
    EXPECT_EQ(bare.find("x="), std::string::npos);
    expect_result(verify(bare, kBody, dns())[0], Result::pass, "");
}

TEST_F(DkimVerify, KeyRecordProblems) {
    std::string rsa_fields = signed_fields(load(*rsa_, "rsa"));
    std::string ed_fields = signed_fields(load(*ed_, "ed"));
    const std::string name = "rsa._domainkey.example.com";
    auto with = [&](Answer a) { return std::map<std::string, Answer>{{name, std::move(a)}}; };
    auto check = [&](Answer a, Result want, std::string_view reason) {
        expect_result(verify(rsa_fields, kBody, with(std::move(a)))[0], want, reason);
    };
    check(txt("v=DKIM1; k=rsa; p="), Result::permerror, "key revoked");
    check(txt(rsa_->dns_txt + "; h=sha1"), Result::permerror, "key h= does not allow sha256");
    check(txt(rsa_->dns_txt + "; h=sha1:sha256"), Result::pass, "");
    check(txt(rsa_->dns_txt + "; s=tlsrpt"), Result::permerror, "key is not for email (s=)");
    check(txt(rsa_->dns_txt + "; s=tlsrpt:email"), Result::pass, "");
    check(txt(ed_->dns_txt), Result::permerror, "key type does not match a=");
    check(txt("v=DKIM1; k=rsa; p=YWJj"), Result::permerror, "key record p= is not an rsa key");
    check(txt("k=rsa; v=DKIM1; p=YWJj"), Result::permerror, "key record: v= is not the first tag");
    check({Answer::Status::ok, {rsa_->dns_txt, rsa_->dns_txt}}, Result::permerror,
          "multiple key records");
    check({Answer::Status::ok, {}}, Result::permerror, "no key record");
    check({Answer::Status::nxdomain, {}}, Result::permerror, "no key record");
    check({Answer::Status::nodata, {}}, Result::permerror, "no key record");
    check({Answer::Status::temp_fail, {}}, Result::temperror, "key lookup failed temporarily");
    auto testing = verify(rsa_fields, kBody, with(txt(rsa_->dns_txt + "; t=y")));
    expect_result(testing[0], Result::pass, "");
    EXPECT_TRUE(testing[0].testing);

    // Ed25519 keys are 32 raw octets (RFC 8463 4.2), not a SubjectPublicKeyInfo.
    ossl::Pkey ed = read_pem(ed_->private_pem);
    int len = i2d_PUBKEY(ed.get(), nullptr);
    std::string spki(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(spki.data());
    i2d_PUBKEY(ed.get(), &p);
    auto r = verify(
        ed_fields, kBody,
        {{"ed._domainkey.example.com", txt("v=DKIM1; k=ed25519; p=" + base64_encode(spki))}});
    expect_result(r[0], Result::permerror, "ed25519 key is not 32 octets");
}

TEST_F(DkimVerify, BareRsaPublicKeyIsAccepted) {
    ossl::Pkey key = read_pem(rsa_->private_pem);
    int len = i2d_PublicKey(key.get(), nullptr);  // PKCS#1 RSAPublicKey, no SPKI around it
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_PublicKey(key.get(), &p);
    std::string fields = signed_fields(load(*rsa_, "rsa"));
    auto r = verify(fields, kBody,
                    {{"rsa._domainkey.example.com", txt("v=DKIM1; p=" + base64_encode(der))}});
    expect_result(r[0], Result::pass, "");
}

TEST_F(DkimVerify, ShortRsaKeys) {
    GeneratedKey weak = generate_key(Algorithm::rsa_sha256, 512);
    auto path = dir_.path() / "weak.pem";
    std::ofstream(path) << weak.private_pem;
    std::string error;
    EXPECT_FALSE(load_signing_key(path, "example.com", "weak", &error));
    EXPECT_EQ(error, path.string() + ": rsa key shorter than 1024 bits (RFC 8301)");

    ossl::Pkey pkey = read_pem(weak.private_pem);
    SigningKey key{"example.com", "weak", Algorithm::rsa_sha256,
                   std::shared_ptr<EVP_PKEY>(pkey.release(), EVP_PKEY_free)};
    std::string fields = signed_fields(key);
    auto r = verify(fields, kBody, {{"weak._domainkey.example.com", txt(weak.dns_txt)}});
    expect_result(r[0], Result::permerror, "rsa key shorter than 1024 bits");

    GeneratedKey k1024 = generate_key(Algorithm::rsa_sha256, 1024);  // RFC 8301: still accepted
    ossl::Pkey pkey1024 = read_pem(k1024.private_pem);
    SigningKey key1024{"example.com", "k1024", Algorithm::rsa_sha256,
                       std::shared_ptr<EVP_PKEY>(pkey1024.release(), EVP_PKEY_free)};
    r = verify(signed_fields(key1024), kBody,
               {{"k1024._domainkey.example.com", txt(k1024.dns_txt)}});
    expect_result(r[0], Result::pass, "");
}

TEST_F(DkimVerify, SignaturesThatDoNotParse) {
    std::string fields =
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; b=AAAA\r\n"
        "dkim-signature: this is not a tag list\r\n" +
        std::string(kFields);
    Verifier v(fields, {5, kNow});
    EXPECT_TRUE(v.key_queries().empty());
    v.finish_body();
    auto r = v.results();
    ASSERT_EQ(r.size(), 2u);
    expect_result(r[0], Result::permerror, "missing required tag bh=");
    EXPECT_EQ(r[0].domain, "example.org");  // still reported, for header.d
    EXPECT_EQ(r[0].selector, "x");
    expect_result(r[1], Result::permerror, "tag without '='");
    EXPECT_TRUE(r[1].domain.empty());
}

TEST_F(DkimVerify, NoSignaturesAndTheLimit) {
    EXPECT_TRUE(verify(kFields, kBody, dns()).empty());  // dkim=none
    SigningKey key = load(*ed_, "ed");
    std::string fields(kFields);
    for (int i = 0; i < 7; ++i) fields = sign(key, fields, body_hash(kBody), at(kNow - i)) + fields;
    auto r = verify(fields, kBody, dns(), kNow, 0, 5);
    ASSERT_EQ(r.size(), 5u);  // the topmost five; the rest are ignored
    for (const auto& one : r) expect_result(one, Result::pass, "");
}

TEST_F(DkimVerify, HeaderBIsUniqueAmongTheSignatures) {
    std::string fields =
        "DKIM-Signature: v=1; d=example.org; b=AAAAAAAAAAAB\r\n"
        "DKIM-Signature: v=1; d=example.org; b=AAAAAAAAAAAC\r\n"
        "DKIM-Signature: v=1; d=example.org; b=ZZZZZZZZZZZZ\r\n\r\n";
    Verifier v(fields, {5, kNow});
    v.finish_body();
    auto r = v.results();
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].header_b, "AAAAAAAAAAAB");
    EXPECT_EQ(r[1].header_b, "AAAAAAAAAAAC");
    EXPECT_EQ(r[2].header_b, "ZZZZZZZZ");
}

TEST_F(DkimVerify, MissingAnswerOrBody) {
    std::string fields = signed_fields(load(*ed_, "ed"));
    Verifier v(fields, {5, kNow});
    ASSERT_EQ(v.key_queries().size(), 1u);
    EXPECT_EQ(v.key_queries()[0].name, "ed._domainkey.example.com");
    expect_result(v.results()[0], Result::temperror, "body not complete");
    v.body(kBody);
    v.finish_body();
    expect_result(v.results()[0], Result::temperror, "no answer for the key query");
    v.key_answer(0, txt(ed_->dns_txt));
    expect_result(v.results()[0], Result::pass, "");
}

TEST_F(DkimVerify, SignedHeaderList) {
    EXPECT_EQ(default_signed_headers(kFields),
              (std::vector<std::string>{"From", "From", "Reply-To", "Subject", "Subject", "Date",
                                        "Date", "To", "To", "Cc", "Message-ID", "Message-ID",
                                        "MIME-Version", "Content-Type"}));
    SigningKey key = load(*ed_, "ed");
    std::string field = sign(key, kFields, body_hash(kBody), {{"Subject", "To"}, 0, 0});
    EXPECT_NE(field.find("h=From:Subject:To;"), std::string::npos) << field;  // From added
    auto r = verify(field + std::string(kFields), kBody, dns());
    expect_result(r[0], Result::pass, "");
}

TEST_F(DkimVerify, LoadSigningKeyErrors) {
    std::string error;
    auto missing = dir_.path() / "missing.pem";
    EXPECT_FALSE(load_signing_key(missing, "d", "s", &error));
    EXPECT_EQ(error, missing.string() + ": cannot read: No such file or directory");

    auto garbage = dir_.path() / "garbage.pem";
    std::ofstream(garbage) << "not a key\n";
    EXPECT_FALSE(load_signing_key(garbage, "d", "s", &error));
    EXPECT_EQ(error.rfind(garbage.string() + ": not an unencrypted PEM private key", 0), 0u);

    ossl::Pkey key = read_pem(rsa_->private_pem);
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    char pass[] = "secret";
    ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_128_cbc(), pass, 6,
                                            nullptr, nullptr),
              1);
    char* pem = nullptr;
    long n = BIO_get_mem_data(bio.get(), &pem);
    auto encrypted = dir_.path() / "encrypted.pem";
    std::ofstream(encrypted) << std::string(pem, static_cast<std::size_t>(n));
    EXPECT_FALSE(load_signing_key(encrypted, "d", "s", &error));

    // Traditional ("BEGIN RSA PRIVATE KEY") PEM loads too.
    ossl::Bio trad(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(trad.get(), key.get(), nullptr, nullptr, 0,
                                                   nullptr, nullptr),
              1);
    n = BIO_get_mem_data(trad.get(), &pem);
    std::string text(pem, static_cast<std::size_t>(n));
    ASSERT_NE(text.find("BEGIN RSA PRIVATE KEY"), std::string::npos);
    auto traditional = dir_.path() / "traditional.pem";
    std::ofstream(traditional) << text;
    auto loaded = load_signing_key(traditional, "example.com", "rsa", &error);
    ASSERT_TRUE(loaded) << error;
    EXPECT_EQ(loaded->algorithm, Algorithm::rsa_sha256);
    expect_result(verify(signed_fields(*loaded), kBody, dns())[0], Result::pass, "");
}

TEST(DkimGenerate, KeysAndRecords) {
    GeneratedKey rsa = generate_key(Algorithm::rsa_sha256);
    auto rec = parse_key_record(rsa.dns_txt);
    ASSERT_TRUE(rec) << rec.error;
    EXPECT_EQ(rsa.dns_txt.rfind("v=DKIM1; k=rsa; p=", 0), 0u);
    EXPECT_EQ(rec.value->type, KeyType::rsa);
    EXPECT_NE(rsa.private_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
    ossl::Pkey key = read_pem(rsa.private_pem);
    ASSERT_TRUE(key);
    EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 2048);

    GeneratedKey ed = generate_key(Algorithm::ed25519_sha256);
    auto edrec = parse_key_record(ed.dns_txt);
    ASSERT_TRUE(edrec) << edrec.error;
    EXPECT_EQ(ed.dns_txt.rfind("v=DKIM1; k=ed25519; p=", 0), 0u);
    EXPECT_EQ(edrec.value->public_key.size(), 32u);
    EXPECT_NE(generate_key(Algorithm::ed25519_sha256).dns_txt, ed.dns_txt);
}
