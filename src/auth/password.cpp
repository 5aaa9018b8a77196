// password.cpp: argon2id through libsodium (see password.hpp).
#include "auth/password.hpp"

#include <sodium.h>

#include <stdexcept>

namespace sluice::auth {
namespace {

void init_sodium() {
    static const int rc = sodium_init();
    if (rc < 0) throw std::runtime_error("libsodium initialisation failed");
}

}  // namespace

std::string hash_password(std::string_view password) {
    init_sodium();
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(
            out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        throw std::runtime_error("argon2id: out of memory");
    return out;
}

bool verify_password(std::string_view hash, std::string_view password) {
    init_sodium();
    if (!looks_like_argon2id(hash)) return false;
    // crypto_pwhash_str_verify wants a NUL-terminated string of at most STRBYTES.
    char buf[crypto_pwhash_STRBYTES] = {};
    if (hash.size() >= sizeof buf) return false;
    hash.copy(buf, hash.size());
    return crypto_pwhash_str_verify(buf, password.data(), password.size()) == 0;
}

bool looks_like_argon2id(std::string_view hash) {
    if (hash.substr(0, 10) != "$argon2id$" || hash.size() >= crypto_pwhash_STRBYTES) return false;
    for (const char c : hash)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

const std::string& dummy_hash() {
    static const std::string h = [] {
        unsigned char pw[16];
        init_sodium();
        randombytes_buf(pw, sizeof pw);
        return hash_password(std::string_view(reinterpret_cast<const char*>(pw), sizeof pw));
    }();
    return h;
}

}  // namespace sluice::auth
