// dkim_canon_test.cpp: RFC 6376 3.4 canonicalization of header fields and (streamed) bodies,
// 5.4.2 field selection, and 3.7 header data.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "trust/dkim_canon.hpp"

using namespace sluice::trust::dkim;

namespace {

// RFC 6376 3.4.5's example message, header section and body.
constexpr std::string_view kHeaderA = "A: X\r\n";
constexpr std::string_view kHeaderB = "B : Y\t\r\n\tZ  \r\n";
constexpr std::string_view kBody = " C \r\nD \t E\r\n\r\n\r\n";

std::string digest_of(std::string_view canonical, Hash h = Hash::sha256) {
    return sluice::trust::dkim::ossl::hash(h, canonical);
}

std::string hash_whole(Canon c, std::string_view body, Hash h = Hash::sha256) {
    BodyHasher b(c, h);
    b.update(body);
    return b.finish();
}

// A non-streaming reference of RFC 6376 3.4.3 / 3.4.4, written line by line as the RFC words it.
std::string reference(Canon c, std::string_view body) {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    for (std::size_t eol; (eol = body.find("\r\n", pos)) != std::string_view::npos; pos = eol + 2)
        lines.emplace_back(body.substr(pos, eol - pos));
    if (pos < body.size()) lines.emplace_back(body.substr(pos));  // a last line without CRLF
    if (c == Canon::relaxed) {
        for (auto& line : lines) {
            std::string out;
            for (char ch : line) {
                bool wsp = ch == ' ' || ch == '\t';
                if (wsp && !out.empty() && out.back() == ' ') continue;
                out += wsp ? ' ' : ch;
            }
            while (!out.empty() && out.back() == ' ') out.pop_back();
            line = out;
        }
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    std::string out;
    for (const auto& line : lines) out += line + "\r\n";
    if (c == Canon::simple && out.empty()) out = "\r\n";
    return out;
}

}  // namespace

TEST(DkimCanon, Rfc6376ExampleHeaders) {
    EXPECT_EQ(canon_header(kHeaderA, Canon::relaxed), "a:X\r\n");
    EXPECT_EQ(canon_header(kHeaderB, Canon::relaxed), "b:Y Z\r\n");
    EXPECT_EQ(canon_header(kHeaderA, Canon::simple), kHeaderA);
    EXPECT_EQ(canon_header(kHeaderB, Canon::simple), kHeaderB);
}

TEST(DkimCanon, RelaxedHeaderDetails) {
    EXPECT_EQ(canon_header("SUBJECT:\t  many   \t spaces \r\n", Canon::relaxed),
              "subject:many spaces\r\n");
    EXPECT_EQ(canon_header("X-Empty:   \r\n", Canon::relaxed), "x-empty:\r\n");
    EXPECT_EQ(canon_header("X:a\r\n b\r\n\tc\r\n", Canon::relaxed), "x:a b c\r\n");
    // Without the final CRLF (the DKIM-Signature field) the result is the same.
    EXPECT_EQ(canon_header("X: a", Canon::relaxed), "x:a\r\n");
}

TEST(DkimCanon, Rfc6376ExampleBody) {
    EXPECT_EQ(reference(Canon::relaxed, kBody), " C\r\nD E\r\n");
    EXPECT_EQ(reference(Canon::simple, kBody), " C \r\nD \t E\r\n");
    EXPECT_EQ(hash_whole(Canon::relaxed, kBody), digest_of(" C\r\nD E\r\n"));
    EXPECT_EQ(hash_whole(Canon::simple, kBody), digest_of(" C \r\nD \t E\r\n"));
}

TEST(DkimCanon, EmptyBody) {
    // Known SHA-256 values: of CRLF (simple) and of nothing (relaxed, RFC 6376 erratum 1384).
    EXPECT_EQ(base64_encode(hash_whole(Canon::simple, "")),
              "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
    EXPECT_EQ(base64_encode(hash_whole(Canon::relaxed, "")),
              "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    // Only empty (or, relaxed, blank) lines are an empty body too.
    EXPECT_EQ(hash_whole(Canon::simple, "\r\n\r\n\r\n"), digest_of("\r\n"));
    EXPECT_EQ(hash_whole(Canon::relaxed, " \r\n\t\r\n\r\n"), digest_of(""));
    EXPECT_EQ(hash_whole(Canon::simple, " \r\n\r\n"), digest_of(" \r\n"));
}

TEST(DkimCanon, LastLineWithoutCrlf) {
    EXPECT_EQ(hash_whole(Canon::simple, "abc"), digest_of("abc\r\n"));
    EXPECT_EQ(hash_whole(Canon::relaxed, "abc  "), digest_of("abc\r\n"));
    EXPECT_EQ(hash_whole(Canon::simple, "abc\r"), digest_of("abc\r\r\n"));  // bare CR is data
}

TEST(DkimCanon, ChunkingInvariance) {
    const std::vector<std::string> bodies = {
        "",
        "\r\n",
        "Hello\r\n",
        "Hello",
        std::string(kBody),
        "a  \t b \t\r\n\r\n  \r\n\t\r\nlast   \r\n \r\n\r\n",
        "trailing\r\n\r\n\r\n\r\n",
        "\r\n\r\nleading empty lines\r\n",
        "bare\rCR and bare\nLF \r \r\n",
        "cr at end\r",
        "tab\tin\t\tline\r\n    \r\nx\r\n",
        std::string(300, ' ') + "\r\n" + std::string(100, '\t') + "x" + std::string(70, ' '),
    };
    std::mt19937 rng(2024);
    for (const auto& body : bodies) {
        for (Canon c : {Canon::simple, Canon::relaxed}) {
            for (Hash h : {Hash::sha1, Hash::sha256}) {
                const std::string want = digest_of(reference(c, body), h);
                EXPECT_EQ(hash_whole(c, body, h), want) << testing::PrintToString(body);

                BodyHasher bytewise(c, h);
                for (char ch : body) bytewise.update(std::string_view(&ch, 1));
                EXPECT_EQ(bytewise.finish(), want) << testing::PrintToString(body);

                for (int round = 0; round < 30; ++round) {
                    BodyHasher split(c, h);
                    for (std::size_t pos = 0; pos < body.size();) {
                        std::size_t n = std::min<std::size_t>(body.size() - pos, rng() % 5);
                        split.update(std::string_view(body).substr(pos, n));  // n may be 0
                        pos += n;
                    }
                    EXPECT_EQ(split.finish(), want) << testing::PrintToString(body);
                    EXPECT_EQ(split.canonical_length(), reference(c, body).size());
                }
            }
        }
    }
}

TEST(DkimCanon, LongRunsOfEmptyLinesAndSpaces) {
    // Held back as counters, not bytes: the digest is right on either side of the run.
    std::string body = "start\r\n";
    for (int i = 0; i < 100000; ++i) body += "\r\n";
    body += std::string(100000, ' ') + "end\r\n";
    for (int i = 0; i < 100000; ++i) body += " \r\n";
    for (Canon c : {Canon::simple, Canon::relaxed}) {
        BodyHasher b(c, Hash::sha256);
        for (std::size_t pos = 0; pos < body.size(); pos += 4096)
            b.update(std::string_view(body).substr(pos, 4096));
        EXPECT_EQ(b.finish(), digest_of(reference(c, body)));
        EXPECT_EQ(b.canonical_length(), reference(c, body).size());
    }
}

TEST(DkimCanon, LengthLimit) {
    BodyHasher b(Canon::relaxed, Hash::sha256, 5);
    b.update("Hello   world\r\n");
    b.update("\r\n\r\n");
    EXPECT_EQ(b.finish(), digest_of("Hello"));
    EXPECT_EQ(b.canonical_length(), 13u);  // "Hello world\r\n": the caller sees l= < body

    BodyHasher whole(Canon::simple, Hash::sha256, 100);  // l= past the end: the whole body
    whole.update("Hi\r\n");
    EXPECT_EQ(whole.finish(), digest_of("Hi\r\n"));
    EXPECT_EQ(whole.canonical_length(), 4u);

    BodyHasher zero(Canon::simple, Hash::sha256, 0);
    zero.update("anything\r\n");
    EXPECT_EQ(zero.finish(), digest_of(""));
}

TEST(DkimHeaders, SplitFields) {
    std::string_view section =
        "From: a@example.com\r\nSubject: folded\r\n\tline\r\nX-Odd :  v\r\n\r\nBody: no\r\n";
    auto f = split_header_fields(section);
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0].name, "From");
    EXPECT_EQ(f[1].name, "Subject");
    EXPECT_EQ(f[1].raw, "Subject: folded\r\n\tline\r\n");
    EXPECT_EQ(f[2].name, "X-Odd");
    EXPECT_EQ(f[2].raw, "X-Odd :  v\r\n");
    // A header block without the empty line (a message without a body) ends at the end.
    EXPECT_EQ(split_header_fields("A: 1\r\nB: 2").size(), 2u);
}

TEST(DkimHeaders, SelectFromTheBottom) {
    // RFC 6376 5.4.2: repeated names take instances from the bottom up; a name with no instance
    // left (the third "received", "cc") signs as nothing.
    auto f =
        split_header_fields("Received: first\r\nFrom: x\r\nreceived: second\r\nSubject: s\r\n\r\n");
    auto sel = select_fields(f, {"Received", "RECEIVED", "received", "from", "cc", "subject"});
    ASSERT_EQ(sel.size(), 4u);
    EXPECT_EQ(sel[0]->raw, "received: second\r\n");
    EXPECT_EQ(sel[1]->raw, "Received: first\r\n");
    EXPECT_EQ(sel[2]->raw, "From: x\r\n");
    EXPECT_EQ(sel[3]->raw, "Subject: s\r\n");
}

TEST(DkimHeaders, SignedHeaderData) {
    auto f = split_header_fields("From: Joe  <j@x.org>\r\nTo: y\r\n\r\n");
    std::string_view sig = "DKIM-Signature: v=1;  h=from:to;\r\n\tb=";
    EXPECT_EQ(signed_header_data(f, {"To", "From"}, Canon::relaxed, sig),
              "to:y\r\nfrom:Joe <j@x.org>\r\ndkim-signature:v=1; h=from:to; b=");
    EXPECT_EQ(signed_header_data(f, {"From"}, Canon::simple, sig),
              "From: Joe  <j@x.org>\r\nDKIM-Signature: v=1;  h=from:to;\r\n\tb=");
}
