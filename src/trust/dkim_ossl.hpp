// dkim_ossl.hpp: the few OpenSSL 3 pieces the DKIM files share: owning pointers that free each
// object with its own free function (no leak on any return path), the last OpenSSL error as
// text, and the RFC 6376 signature primitives for both algorithms.
//
// STANDARDS: RFC 8017 8.2 (RSASSA-PKCS1-v1_5, as RFC 6376 3.3.1 uses it); RFC 8463 3 (Ed25519
// signs the SHA-256 hash of the header data, "PureEdDSA" over that hash, not Ed25519ph).
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "trust/dkim_tags.hpp"

namespace sluice::trust::dkim::ossl {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

// The reason of the oldest queued OpenSSL error ("unknown" when none), clearing the queue.
std::string last_error();

const EVP_MD* digest(Hash h);

// One-shot digest of `data`.
std::string hash(Hash h, std::string_view data);

// Signs / verifies `header_data` (the canonicalized header fields, RFC 6376 3.7) with `key`:
// RSASSA-PKCS1-v1_5 over the hash for rsa-*, Ed25519 over the SHA-256 of the data for
// ed25519-sha256. sign() returns "" when OpenSSL fails (a key of the wrong type).
std::string sign(EVP_PKEY* key, Algorithm a, std::string_view header_data);
bool verify(EVP_PKEY* key, Algorithm a, std::string_view header_data, std::string_view signature);

}  // namespace sluice::trust::dkim::ossl
