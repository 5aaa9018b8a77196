// dkim_verify.cpp: message-level DKIM verification (see dkim_verify.hpp).
#include "trust/dkim_verify.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <mutex>
#include <unordered_map>

#include <algorithm>

#include "common/ascii.hpp"
#include "trust/dkim_ossl.hpp"

namespace sluice::trust::dkim {

namespace {

constexpr int kMinRsaBits = 1024;  // RFC 8301 3.2
constexpr int kMaxRsaBits = 8192;

std::string without_fws(std::string_view s) {
    std::string r;
    for (char c : s)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') r += c;
    return r;
}

// What a result can say about a signature even when it does not parse (d= and s= for the
// Authentication-Results header): the tags as written, when the tag list itself is readable.
void describe(SignatureResult& r, std::string_view value) {
    auto tags = parse_tag_list(value);
    if (!tags) return;
    for (const Tag& t : *tags.value) {
        if (t.name == "d") r.domain = t.value;
        if (t.name == "s") r.selector = t.value;
        if (t.name == "i") r.identity = t.value;
        if (t.name == "a") r.algorithm = t.value;
        if (t.name == "b") r.header_b = without_fws(t.value);
    }
}

std::string_view identity_domain(std::string_view identity) {
    return identity.substr(identity.rfind('@') + 1);
}

// The public key of p=: RSA as SubjectPublicKeyInfo DER (RFC 6376 3.6.1) or, as some signers
// publish it, a bare RSAPublicKey; Ed25519 as its 32 raw octets (RFC 8463 4.2).
ossl::Pkey load_key(const KeyRecord& key, std::string* why) {
    const auto* data = reinterpret_cast<const unsigned char*>(key.public_key.data());
    const long size = static_cast<long>(key.public_key.size());
    ossl::Pkey pkey;
    if (key.type == KeyType::ed25519) {
        if (key.public_key.size() == 32)
            pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, data, 32));
        if (!pkey) *why = "ed25519 key is not 32 octets";
        ERR_clear_error();
        return pkey;
    }
    const unsigned char* p = data;
    pkey.reset(d2i_PUBKEY(nullptr, &p, size));
    if (!pkey || p != data + size) {
        p = data;
        pkey.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, size));
        if (p != data + size) pkey.reset();
    }
    ERR_clear_error();
    if (!pkey || EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_RSA) {
        *why = "key record p= is not an rsa key";
        pkey.reset();
    } else if (EVP_PKEY_get_bits(pkey.get()) < kMinRsaBits) {
        *why = "rsa key shorter than 1024 bits";
        pkey.reset();
    } else if (EVP_PKEY_get_bits(pkey.get()) > kMaxRsaBits) {
        *why = "rsa key longer than 8192 bits";
        pkey.reset();
    } else {
        // A huge public exponent makes each verification cost like a private-key operation;
        // every real signer uses 65537 (or 3).
        BIGNUM* e = nullptr;
        const bool ok = EVP_PKEY_get_bn_param(pkey.get(), "e", &e) == 1 &&
                        (BN_is_word(e, 65537) || BN_is_word(e, 3));
        BN_free(e);
        if (!ok) {
            *why = "rsa key with an unusual public exponent";
            pkey.reset();
        }
    }
    return pkey;
}

// Decoding a public key is most of a verification's cost in OpenSSL 3 (its decoder framework),
// and the same senders' keys come back message after message: decoded keys are kept, by key type
// and key bytes (never by name: a changed record is a new key). Bounded; emptied when full.
// EVP_PKEY is reference-counted and safe to verify with from several threads.
std::shared_ptr<EVP_PKEY> cached_key(const KeyRecord& key, std::string* why) {
    constexpr std::size_t kMaxKeys = 1024;
    static std::mutex mu;
    static std::unordered_map<std::string, std::shared_ptr<EVP_PKEY>> keys;
    std::string id(1, key.type == KeyType::ed25519 ? 'e' : 'r');
    id += key.public_key;
    {
        std::lock_guard lock(mu);
        if (auto it = keys.find(id); it != keys.end()) return it->second;
    }
    ossl::Pkey loaded = load_key(key, why);
    if (!loaded) return nullptr;
    std::shared_ptr<EVP_PKEY> shared(loaded.release(), EVP_PKEY_free);
    std::lock_guard lock(mu);
    if (keys.size() >= kMaxKeys) keys.clear();
    keys.emplace(std::move(id), shared);
    return shared;
}

}  // namespace

std::string_view result_name(Result r) {
    switch (r) {
        case Result::pass:
            return "pass";
        case Result::fail:
            return "fail";
        case Result::neutral:
            return "neutral";
        case Result::policy:
            return "policy";
        case Result::temperror:
            return "temperror";
        case Result::permerror:
            break;
    }
    return "permerror";
}

Verifier::Verifier(std::string_view header_section, Options options) : options_(options) {
    const std::vector<HeaderField> fields = split_header_fields(header_section);
    for (const HeaderField& f : fields) {
        if (!ascii_iequals(f.name, "DKIM-Signature")) continue;
        if (sigs_.size() == options_.max_signatures) break;
        std::string_view field = f.raw;
        if (field.ends_with("\r\n")) field.remove_suffix(2);
        const std::size_t value_at = field.find(':') + 1;
        std::string_view value = field.substr(value_at);

        Sig sig;
        describe(sig.info, value);
        auto decide = [&](std::string reason) {
            sig.info.result = Result::permerror;
            sig.info.reason = std::move(reason);
        };
        auto parsed = parse_signature(value);
        if (!parsed) {
            decide(parsed.error);
        } else {
            Signature& s = *parsed.value;
            sig.info.identity = s.identity;
            if (s.algorithm == Algorithm::rsa_sha1) {
                decide("rsa-sha1 not accepted (RFC 8301)");
            } else if (s.expiration && *s.expiration < options_.now) {
                decide("signature expired");
            } else if (s.timestamp && *s.timestamp > options_.now + kClockSkew) {
                decide("signature timestamp in the future");
            } else {
                // RFC 6376 3.7: the field itself is hashed with the b= value (and the FWS around
                // it) deleted, everything else exactly as it came.
                std::string unsigned_field(field.substr(0, value_at + s.b_value_begin));
                unsigned_field += field.substr(value_at + s.b_value_end);
                sig.header_data =
                    signed_header_data(fields, s.headers, s.header_canon, unsigned_field);
                Hash h = algorithm_hash(s.algorithm);
                auto same = [&](const Body& b) {
                    return b.canon == s.body_canon && b.hash == h && b.limit == s.length;
                };
                auto it = std::find_if(bodies_.begin(), bodies_.end(), same);
                sig.body = static_cast<std::size_t>(it - bodies_.begin());
                if (it == bodies_.end())
                    bodies_.push_back(
                        {s.body_canon, h, s.length, BodyHasher(s.body_canon, h, s.length), {}});
                queries_.push_back({s.selector + "._domainkey." + s.domain});
                query_sig_.push_back(sigs_.size());
                sig.parsed = std::move(s);
            }
        }
        sigs_.push_back(std::move(sig));
    }
}

void Verifier::body(std::string_view chunk) {
    if (body_done_) return;
    for (Body& b : bodies_) b.hasher.update(chunk);
}

void Verifier::finish_body() {
    if (body_done_) return;
    body_done_ = true;
    for (Body& b : bodies_) b.digest = b.hasher.finish();
}

void Verifier::key_answer(std::size_t query_index, KeyAnswer answer) {
    if (query_index < query_sig_.size()) sigs_[query_sig_[query_index]].answer = std::move(answer);
}

std::vector<SignatureResult> Verifier::results() const {
    std::vector<SignatureResult> out;
    for (const Sig& sig : sigs_) out.push_back(evaluate(sig));
    // RFC 6008 2: header.b is at least 8 characters of b=, and enough to tell the signatures of
    // this message apart.
    std::vector<std::string> full;
    for (const auto& r : out) full.push_back(r.header_b);
    for (std::size_t i = 0; i < out.size(); ++i) {
        std::size_t len = std::min<std::size_t>(8, full[i].size());
        auto clash = [&] {
            for (std::size_t j = 0; j < full.size(); ++j)
                if (j != i && full[j].compare(0, len, full[i], 0, len) == 0) return true;
            return false;
        };
        while (len < full[i].size() && clash()) ++len;
        out[i].header_b = full[i].substr(0, len);
    }
    return out;
}

SignatureResult Verifier::evaluate(const Sig& sig) const {
    SignatureResult r = sig.info;
    if (!sig.parsed) return r;  // decided before any key was needed
    const Signature& s = *sig.parsed;
    auto done = [&r](Result result, std::string reason) {
        r.result = result;
        r.reason = std::move(reason);
        return r;
    };
    if (!body_done_) return done(Result::temperror, "body not complete");
    if (!sig.answer) return done(Result::temperror, "no answer for the key query");
    switch (sig.answer->status) {
        case KeyAnswer::Status::temp_fail:
            return done(Result::temperror, "key lookup failed temporarily");
        case KeyAnswer::Status::nxdomain:
        case KeyAnswer::Status::nodata:
            return done(Result::permerror, "no key record");
        case KeyAnswer::Status::ok:
            break;
    }
    const auto& txt = sig.answer->txt;
    if (txt.empty()) return done(Result::permerror, "no key record");
    if (txt.size() > 1) return done(Result::permerror, "multiple key records");
    auto key = parse_key_record(txt.front());
    if (!key) return done(Result::permerror, "key record: " + key.error);
    r.testing = key.value->testing;
    if (key.value->revoked) return done(Result::permerror, "key revoked");
    if (key.value->type != algorithm_key_type(s.algorithm))
        return done(Result::permerror, "key type does not match a=");
    std::string_view hash = hash_name(algorithm_hash(s.algorithm));
    const auto& hashes = key.value->hashes;
    if (!hashes.empty() && std::find(hashes.begin(), hashes.end(), hash) == hashes.end())
        return done(Result::permerror, "key h= does not allow " + std::string(hash));
    const auto& services = key.value->services;
    if (std::none_of(services.begin(), services.end(),
                     [](const std::string& x) { return x == "*" || x == "email"; }))
        return done(Result::permerror, "key is not for email (s=)");
    if (key.value->strict && !ascii_iequals(identity_domain(s.identity), s.domain))
        return done(Result::fail, "key t=s forbids an i= subdomain");
    std::string why;
    const std::shared_ptr<EVP_PKEY> pkey = cached_key(*key.value, &why);
    if (!pkey) return done(Result::permerror, why);

    const Body& body = bodies_[sig.body];
    const std::uint64_t length = body.hasher.canonical_length();
    if (s.length && *s.length > length) return done(Result::permerror, "l= longer than the body");
    r.body_truncated = s.length && *s.length < length;
    if (body.digest != s.bh) return done(Result::fail, "body hash mismatch");
    if (!ossl::verify(pkey.get(), s.algorithm, sig.header_data, s.b))
        return done(Result::fail, "signature did not verify");
    return done(Result::pass, "");
}

}  // namespace sluice::trust::dkim
