// dkim_sign.hpp: signing outgoing mail with DKIM, loading signing keys, and making new key pairs
// with the TXT record to publish for them.
//
// Signatures are always relaxed/relaxed (what survives mailing lists and re-folding best) with
// rsa-sha256 or ed25519-sha256, never rsa-sha1 (RFC 8301). The caller hashes the body with a
// BodyHasher(Canon::relaxed, Hash::sha256) while it streams and passes the digest.
//
// SECURITY: the private key file is trusted configuration; it is read once, an encrypted key is
// refused (there is nobody to ask for a passphrase) and RSA keys under 1024 bits are refused
// (RFC 8301 3.2; 2048 is what generate_key makes). The message is our own outgoing mail, but its
// header fields are only copied into the hash, never interpreted.
// STANDARDS: RFC 6376 3.5 (tags), 3.7 (hashing), 5 (signing), 5.4.1 (fields to sign), 5.4.2
// (over-signing); RFC 8301; RFC 8463 4.2 (an Ed25519 p= is the raw 32-octet key); RFC 5322 2.2.3
// (folding at 78 columns).
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trust/dkim_tags.hpp"

namespace sluice::trust::dkim {

struct SigningKey {
    std::string domain, selector;
    Algorithm algorithm = Algorithm::rsa_sha256;  // rsa_sha256 or ed25519_sha256
    std::shared_ptr<EVP_PKEY> key;
};

// Loads a PEM private key (PKCS#8 or traditional RSA, or Ed25519 PKCS#8); the algorithm follows
// from the key. On failure *error (if given) names the file and the reason.
std::optional<SigningKey> load_signing_key(const std::filesystem::path& path, std::string domain,
                                           std::string selector, std::string* error);

struct SignOptions {
    // Field names to sign, in order (a name listed once more than the field occurs "over-signs" it:
    // no instance can be added). Empty: default_signed_headers(). From is added when missing.
    std::vector<std::string> headers;
    std::int64_t timestamp = 0;     // t=; 0: omitted
    std::int64_t expire_after = 0;  // x= = t= + this; 0 (or no t=): omitted
};

// RFC 6376 5.4.1's recommended fields plus Message-ID, MIME-Version, Content-Type and
// Content-Transfer-Encoding, each listed as often as it occurs in the header section; From, To,
// Cc, Subject, Date, Message-ID, Reply-To, Content-Type and MIME-Version once more, so that none
// of them can be added (or added to) without breaking the signature.
std::vector<std::string> default_signed_headers(std::string_view header_section);

// The complete field "DKIM-Signature: v=1; a=...; c=relaxed/relaxed; d=...; s=...; [t=; x=;]
// h=...; bh=...; b=...\r\n", folded at 78 columns with CRLF TAB, to put on top of the message.
// `body_hash` is the raw digest from BodyHasher(Canon::relaxed, Hash::sha256). Throws
// std::runtime_error when the key cannot sign (a key that is not RSA or Ed25519).
std::string sign(const SigningKey& key, std::string_view header_section, std::string_view body_hash,
                 const SignOptions& options = {});

struct GeneratedKey {
    std::string private_pem;  // PKCS#8 PEM, for load_signing_key
    std::string dns_txt;      // "v=DKIM1; k=rsa; p=..." or "v=DKIM1; k=ed25519; p=..."
};

// A new key pair for `algorithm` (rsa_sha1 makes an RSA key like rsa_sha256).
GeneratedKey generate_key(Algorithm algorithm, int rsa_bits = 2048);

}  // namespace sluice::trust::dkim
