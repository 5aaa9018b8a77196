// fuzz_dkim_signature.cpp: the DKIM parsers and canonicalization (src/trust/dkim_*), on input that
// arrives with a message (a DKIM-Signature value, header fields, the body) or from DNS (a key
// record). The whole input is each of those in turn.
// Invariants: a parsed signature keeps the rules parse_signature promises (From signed, i= in d=,
// x= after t=, b= offsets inside the input and matching b_base64); a revoked key is one with an
// empty p=; relaxed header output is "lower-case-name:value\r\n" without tabs, double spaces or
// white space at the ends of the value, simple output is the input; the body digest and length do
// not depend on how the body is cut, and an l= at or past the canonical length changes nothing;
// the Verifier reports at most max_signatures results, asks for no more keys than that, and a
// pass names its domain, selector and header.b.
#include <string>
#include <string_view>

#include "common/ascii.hpp"
#include "fuzz.hpp"
#include "trust/dkim_canon.hpp"
#include "trust/dkim_tags.hpp"
#include "trust/dkim_verify.hpp"

using namespace sluice::trust::dkim;

namespace {

bool is_fws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void check_signature(std::string_view in) {
    auto p = parse_signature(in);
    if (!p) {
        FUZZ_CHECK(!p.error.empty());
        return;
    }
    const Signature& s = *p.value;
    bool from = false;
    for (const auto& h : s.headers) from = from || sluice::ascii_iequals(h, "from");
    FUZZ_CHECK(from);
    FUZZ_CHECK(!s.domain.empty() && !s.selector.empty() && !s.b.empty() && !s.bh.empty());
    FUZZ_CHECK(s.identity.find('@') != std::string::npos);
    FUZZ_CHECK(!(s.timestamp && s.expiration) || *s.expiration > *s.timestamp);
    FUZZ_CHECK(s.b_value_begin <= s.b_value_end && s.b_value_end <= in.size());
    std::string b;
    for (char c : in.substr(s.b_value_begin, s.b_value_end - s.b_value_begin))
        if (!is_fws(c)) b += c;
    FUZZ_CHECK(b == s.b_base64);
    FUZZ_CHECK(base64_decode(s.b_base64) == s.b);
}

void check_key(std::string_view in) {
    auto k = parse_key_record(in);
    if (!k) {
        FUZZ_CHECK(!k.error.empty());
        return;
    }
    FUZZ_CHECK(k.value->revoked == k.value->public_key.empty());
}

void check_header(std::string_view in) {
    FUZZ_CHECK(canon_header(in, Canon::simple) == in);
    std::string r = canon_header(in, Canon::relaxed);
    FUZZ_CHECK(r.size() >= 3 && r.ends_with("\r\n"));
    std::size_t colon = r.find(':');
    FUZZ_CHECK(colon != std::string::npos);
    for (char c : r.substr(0, colon)) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
    std::string_view value = std::string_view(r).substr(colon + 1, r.size() - colon - 3);
    FUZZ_CHECK(value.find('\t') == std::string_view::npos);
    FUZZ_CHECK(value.find("  ") == std::string_view::npos);
    FUZZ_CHECK(value.empty() || (value.front() != ' ' && value.back() != ' '));
}

void check_body(std::string_view in) {
    for (Canon c : {Canon::simple, Canon::relaxed}) {
        BodyHasher whole(c, Hash::sha256);
        whole.update(in);
        const std::string digest = whole.finish();
        const std::uint64_t length = whole.canonical_length();

        sluice::fuzz::Rng rng(in);
        BodyHasher cut(c, Hash::sha256);
        for (std::size_t pos = 0; pos < in.size();) {
            std::size_t n = rng.chunk(in.size() - pos);
            cut.update(in.substr(pos, n));
            pos += n;
        }
        FUZZ_CHECK(cut.finish() == digest);
        FUZZ_CHECK(cut.canonical_length() == length);

        BodyHasher limited(c, Hash::sha256, length + (rng.next() & 1));
        limited.update(in);
        FUZZ_CHECK(limited.finish() == digest);
        if (c == Canon::simple) FUZZ_CHECK(length >= 2);  // at least the CRLF of an empty body
    }
}

void check_verifier(std::string_view in) {
    // The input as the header section, as the body and as every key record: nothing may pass
    // unless the input carries a real signature (a corpus seed), and the counts are bounded.
    Verifier v(in, {3, 1528637909 + 60});
    v.body(in);
    v.finish_body();
    for (std::size_t i = 0; i < v.key_queries().size(); ++i)
        v.key_answer(i, {Verifier::KeyAnswer::Status::ok, {std::string(in)}});
    auto results = v.results();
    FUZZ_CHECK(results.size() <= 3);
    FUZZ_CHECK(v.key_queries().size() <= results.size());
    for (const auto& r : results) {
        if (r.result != Result::pass) continue;
        FUZZ_CHECK(r.reason.empty() && !r.domain.empty() && !r.selector.empty());
        FUZZ_CHECK(r.header_b.size() >= 8);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    check_signature(in);
    check_key(in);
    check_header(in);
    check_body(in);
    check_verifier(in);
    return 0;
}
