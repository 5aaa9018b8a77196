// dkim_verify.hpp: verifying the DKIM signatures of one message, with the DNS left to the caller.
//
// Use: construct with the header section (signatures are parsed, their header data is
// canonicalized and the key names are known at once); feed the body in any chunking with body()
// and call finish_body(); meanwhile look up each key_queries() name (TXT) in any order and hand
// the answers to key_answer(); then results() gives one SignatureResult per signature, in the
// order the signatures appear from the top. A message without signatures has no results
// (dkim=none).
//
// Decisions (RFC 6376 leaves them to the verifier):
//  - At most Options::max_signatures DKIM-Signature fields are evaluated, the topmost ones; the
//    rest are ignored (not reported), so a message cannot make us do unbounded crypto and DNS.
//  - Checks that need no key come first (6.1.1): a signature that does not parse, uses rsa-sha1
//    (RFC 8301), has expired (x= before now) or is dated more than kClockSkew seconds in the
//    future (t=) is permerror at once and gets no KeyQuery.
//  - Several TXT records at a key name are permerror ("multiple key records"): 3.6.2.2 calls the
//    result undefined, and picking one would depend on DNS answer order.
//  - l= greater than the canonical body is permerror: 3.5 says the value MUST NOT be larger.
//  - A key t=s with an i= domain other than d= is fail (the signature is fine, the key forbids the
//    identity), as are a body hash mismatch and a signature that does not verify; every other
//    problem with the signature or the key record is permerror (6.1.1, 6.1.2), a DNS failure
//    temperror.
//
// SECURITY: the header section, the body and the DNS answers are untrusted. Memory per message is
// the header section plus O(1) per signature for the body (see BodyHasher); RSA keys under 1024
// bits are refused before any use (and over 8192 bits too: RFC 8301 3.2 lets a verifier stop at
// 4096, the bound keeps the work per signature small), and Ed25519 keys must be the 32 raw octets
// of RFC 8463.
// STANDARDS: RFC 6376 3.5-3.7, 5.4.2, 6.1 (verification), 3.6.2 (key lookup); RFC 8301 (rsa-sha1
// refused, RSA keys of 1024 bits and more); RFC 8463 (ed25519-sha256); RFC 8601 2.7.1 (result
// names); RFC 6008 (header.b).
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trust/dkim_canon.hpp"
#include "trust/dkim_tags.hpp"

namespace sluice::trust::dkim {

enum class Result : std::uint8_t { pass, fail, neutral, policy, temperror, permerror };
std::string_view result_name(Result r);  // as RFC 8601 spells it: "pass", "fail", ...

struct SignatureResult {
    Result result = Result::permerror;
    std::string domain;           // d= (empty when the signature had none)
    std::string selector;         // s=
    std::string identity;         // i= (AUID), "@d" by default
    std::string algorithm;        // a= as written
    std::string header_b;         // the shortest prefix of b=, 8 characters or more, unique here
    bool body_truncated = false;  // l= left part of the body unsigned
    bool testing = false;         // the key record says t=y
    std::string reason;           // why it is not pass ("" for pass)
};

// Verifier::Options (outside the class so that it can be a default argument there).
struct VerifierOptions {
    std::size_t max_signatures = 5;
    std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));  // unix seconds
};

class Verifier {
  public:
    // t= may be this far in the future (clock skew between signer and us).
    static constexpr std::int64_t kClockSkew = 300;

    using Options = VerifierOptions;

    // `header_section`: the raw header section, CRLF lines, up to and including the empty line
    // (or the whole header block when the message has no body). Nothing of it is kept but the
    // header data each signature covers.
    explicit Verifier(std::string_view header_section, Options options = Options());

    void body(std::string_view chunk);  // the octets after the empty line, any chunking
    void finish_body();

    // "<s>._domainkey.<d>", one per signature that still needs its key.
    struct KeyQuery {
        std::string name;
    };
    const std::vector<KeyQuery>& key_queries() const { return queries_; }

    struct KeyAnswer {
        enum class Status { ok, nxdomain, nodata, temp_fail } status = Status::ok;
        std::vector<std::string> txt;  // each TXT record's strings, concatenated
    };
    void key_answer(std::size_t query_index, KeyAnswer answer);

    // After finish_body() and every key_answer(); a missing one reads as temperror.
    std::vector<SignatureResult> results() const;

  private:
    struct Body {
        Canon canon;
        Hash hash;
        std::optional<std::uint64_t> limit;
        BodyHasher hasher;
        std::string digest;  // after finish_body()
    };
    struct Sig {
        SignatureResult info;             // the descriptive part; result/reason when decided
        std::optional<Signature> parsed;  // unset: decided before any key (info says why)
        std::string header_data;          // what b= signs (RFC 6376 3.7)
        std::size_t body = 0;             // index into bodies_
        std::optional<KeyAnswer> answer;
    };

    SignatureResult evaluate(const Sig& sig) const;

    Options options_;
    std::vector<Sig> sigs_;
    std::vector<Body> bodies_;
    std::vector<KeyQuery> queries_;
    std::vector<std::size_t> query_sig_;  // query index -> index into sigs_
    bool body_done_ = false;
};

}  // namespace sluice::trust::dkim
