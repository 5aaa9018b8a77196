// dkim_ossl.cpp: OpenSSL helpers for DKIM (see dkim_ossl.hpp).
#include "trust/dkim_ossl.hpp"

#include <openssl/err.h>

namespace sluice::trust::dkim::ossl {

std::string last_error() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown";
    const char* reason = ERR_reason_error_string(e);
    return reason ? reason : "error " + std::to_string(e);
}

const EVP_MD* digest(Hash h) {
    // Fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up again at every
    // digest initialisation (a lock and a table search per message and per signature).
    static EVP_MD* const sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (h == Hash::sha1) return sha1 ? sha1 : EVP_sha1();
    return sha256 ? sha256 : EVP_sha256();
}

std::string hash(Hash h, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), md, &n, digest(h), nullptr) != 1) return {};
    return std::string(reinterpret_cast<const char*>(md), n);
}

namespace {

// What is signed: the data itself for RSA (EVP_DigestSign hashes it), the SHA-256 of the data for
// Ed25519 (which takes no digest of its own: md is null).
std::pair<std::string, const EVP_MD*> input(Algorithm a, std::string_view data) {
    if (a == Algorithm::ed25519_sha256) return {hash(Hash::sha256, data), nullptr};
    return {std::string(data), digest(algorithm_hash(a))};
}

}  // namespace

std::string sign(EVP_PKEY* key, Algorithm a, std::string_view header_data) {
    auto [data, md] = input(a, header_data);
    MdCtx ctx(EVP_MD_CTX_new());
    std::size_t n = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1) {
        ERR_clear_error();
        return {};
    }
    std::string sig(n, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
        ERR_clear_error();
        return {};
    }
    sig.resize(n);
    return sig;
}

bool verify(EVP_PKEY* key, Algorithm a, std::string_view header_data, std::string_view signature) {
    auto [data, md] = input(a, header_data);
    MdCtx ctx(EVP_MD_CTX_new());
    bool ok =
        ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                         data.size()) == 1;
    ERR_clear_error();  // a bad signature leaves errors queued; they are not ours to keep
    return ok;
}

}  // namespace sluice::trust::dkim::ossl
