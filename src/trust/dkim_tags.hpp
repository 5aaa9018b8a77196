// dkim_tags.hpp: the DKIM tag=value lists, parsed. A DKIM-Signature field value becomes a
// Signature, a key record (the TXT record at <s>._domainkey.<d>) a KeyRecord; anything that breaks
// the rules of RFC 6376 is an error text saying why, which the verifier reports as permerror.
//
// SECURITY: both inputs are untrusted (the signature comes with the message, the key record from
// DNS). The parser holds views into the input only while it runs, checks every length and count
// (h= at most kMaxSignedFields names, numbers that would overflow are errors), and decodes base64
// with OpenSSL after a strict alphabet and padding check, never guessing at a damaged value.
// STANDARDS: RFC 6376 3.2 (tag lists), 3.5 (the DKIM-Signature tags), 3.6.1 (key records),
// 6.1.1 (which signature errors are permanent); RFC 8463 (ed25519-sha256, k=ed25519); RFC 8301
// (rsa-sha1 is parsed here and refused by the verifier).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::trust::dkim {

enum class Algorithm : std::uint8_t { rsa_sha256, rsa_sha1, ed25519_sha256 };
enum class Hash : std::uint8_t { sha1, sha256 };
enum class Canon : std::uint8_t { simple, relaxed };
enum class KeyType : std::uint8_t { rsa, ed25519 };

std::string_view algorithm_name(Algorithm a);  // "rsa-sha256", "rsa-sha1", "ed25519-sha256"
Hash algorithm_hash(Algorithm a);
KeyType algorithm_key_type(Algorithm a);
std::string_view hash_name(Hash h);  // "sha1", "sha256" (as key records' h= spell them)

// A value or the reason there is none.
template <typename T>
struct Parsed {
    std::optional<T> value;
    std::string error;  // set when !value
    explicit operator bool() const { return value.has_value(); }
};

// One tag-spec of a tag list; the views point into the parsed text.
struct Tag {
    std::string_view name;
    std::string_view value;      // without the FWS around it
    std::string_view raw_value;  // everything between '=' and the ';' (or the end), FWS included
};

// RFC 6376 3.2: names are ALPHA *(ALPHA / DIGIT / "_") and case-sensitive, a name may appear only
// once, values are VALCHARs (plus UTF-8 octets, RFC 8616) separated by FWS; a trailing ';' is
// allowed, an empty tag-spec elsewhere is not. FWS is taken as any run of SP, HTAB, CR and LF.
Parsed<std::vector<Tag>> parse_tag_list(std::string_view text);

// h= may name at most this many fields: a bound on the work one signature can ask for.
inline constexpr std::size_t kMaxSignedFields = 256;

struct Signature {
    Algorithm algorithm = Algorithm::rsa_sha256;
    std::string b;         // the signature, decoded
    std::string b_base64;  // b= as written, FWS removed (RFC 6008 header.b is a prefix of it)
    std::string bh;        // the body hash, decoded
    Canon header_canon = Canon::simple;
    Canon body_canon = Canon::simple;
    std::string domain;                      // d=, as written
    std::vector<std::string> headers;        // h=, as written (match case-insensitively)
    std::string identity;                    // i= (AUID) as written, or "@" + d
    std::optional<std::uint64_t> length;     // l=
    std::string selector;                    // s=
    std::optional<std::int64_t> timestamp;   // t=
    std::optional<std::int64_t> expiration;  // x=
    // The b= value with the FWS around it, as offsets into the parsed text: what RFC 6376 3.7
    // deletes from the field before hashing it.
    std::size_t b_value_begin = 0, b_value_end = 0;
};

// A DKIM-Signature field value (after the colon, folding CRLFs included, without the final CRLF).
// Errors are the RFC 6376 6.1.1 permanent failures: v= not "1", a required tag missing (v, a, b,
// bh, d, h, s), an unknown a= or c=, q= without dns/txt, i= not in d=, h= without From, x= not
// after t=, or a value that does not parse.
Parsed<Signature> parse_signature(std::string_view header_value);

struct KeyRecord {
    KeyType type = KeyType::rsa;             // k= (default rsa)
    std::string public_key;                  // p=, decoded: RSA DER or 32 raw Ed25519 octets
    bool revoked = false;                    // p= was empty
    std::vector<std::string> hashes;         // h=; empty: any hash
    std::vector<std::string> services{"*"};  // s=
    bool testing = false;                    // t=y
    bool strict = false;                     // t=s: i= must be in d= itself, not a subdomain
};

// A key record (the strings of one TXT record, concatenated). v= must be "DKIM1" and the first tag
// when present, p= is required (empty: revoked), k= must be rsa or ed25519; unknown tags and
// unknown t= flags are ignored.
Parsed<KeyRecord> parse_key_record(std::string_view txt);

// Base64 (RFC 2045 alphabet, padded) with any FWS in it removed first; nullopt when it is not.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

}  // namespace sluice::trust::dkim
