// context.cpp: TLS server contexts (see context.hpp).
#include "tls/context.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <stdexcept>

namespace sluice::tls {
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

// Mozilla "intermediate" for TLS 1.2, without finite-field DHE; TLS 1.3 suites are OpenSSL's.
constexpr const char* kCiphers12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

[[noreturn]] void fail(const std::string& what, LoadError::Part part = LoadError::Part::other) {
    throw LoadError(what + ": " + openssl_error(), part);
}

template <typename T, void (*F)(T*)>
struct Deleter {
    void operator()(T* p) const { F(p); }
};
using PKeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;

// Writes via a temporary file and rename, so a crash never leaves half a key behind.
void write_pem(const fs::path& path, mode_t mode, const std::function<int(FILE*)>& write) {
    fs::path tmp = path;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) throw std::runtime_error("cannot create " + tmp.string());
    FILE* f = ::fdopen(fd, "w");
    if (f == nullptr) {
        ::close(fd);
        throw std::runtime_error("cannot open " + tmp.string());
    }
    bool ok = write(f) == 1;
    ok = std::fflush(f) == 0 && ok;
    ok = ::fsync(fd) == 0 && ok;
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw std::runtime_error("cannot write " + path.string());
    }
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_server_context(const fs::path& cert_chain,
                                                        const fs::path& key, MinVersion min) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* c = ctx->native_handle();
    SSL_CTX_set_min_proto_version(c, min == MinVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE);
    if (SSL_CTX_set_cipher_list(c, kCiphers12) != 1) fail("TLS cipher list");
    // SMTP clients rarely resume; a small cache keeps memory bounded.
    SSL_CTX_sess_set_cache_size(c, 1024);
    SSL_CTX_set_session_id_context(c, reinterpret_cast<const unsigned char*>("sluice"), 6);
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(c, cert_chain.c_str()) != 1)
        fail("TLS certificate " + cert_chain.string(), LoadError::Part::certificate);
    if (SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) != 1)
        fail("TLS key " + key.string(), LoadError::Part::key);
    if (SSL_CTX_check_private_key(c) != 1)
        fail("TLS key " + key.string() + " does not match " + cert_chain.string(),
             LoadError::Part::key);
    return ctx;
}

bool ensure_self_signed(const fs::path& cert, const fs::path& key, const std::string& hostname) {
    std::error_code ec;
    if (fs::exists(cert, ec) && fs::exists(key, ec)) return false;
    if (!cert.parent_path().empty()) fs::create_directories(cert.parent_path(), ec);
    if (!key.parent_path().empty()) fs::create_directories(key.parent_path(), ec);

    PKeyPtr pkey(EVP_EC_gen("P-256"));
    if (!pkey) fail("TLS key generation");
    X509Ptr x(X509_new());
    if (!x) fail("X509_new");
    X509_set_version(x.get(), 2);
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) fail("RAND_bytes");
    serial[0] &= 0x7f;  // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 60L * 60 * 24 * 3650);
    X509_set_pubkey(x.get(), pkey.get());
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x.get(), x.get(), nullptr, nullptr, 0);
    const std::string san = "DNS:" + hostname;
    for (const auto& [nid, value] :
         {std::pair{NID_subject_alt_name, san},
          std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")},
          std::pair{NID_ext_key_usage, std::string("serverAuth")}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
        if (ext == nullptr) fail("X509 extension");
        X509_add_ext(x.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (X509_sign(x.get(), pkey.get(), EVP_sha256()) == 0) fail("X509_sign");

    write_pem(key, 0600, [&](FILE* f) {
        return PEM_write_PrivateKey(f, pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    write_pem(cert, 0644, [&](FILE* f) { return PEM_write_X509(f, x.get()); });
    return true;
}

std::string describe(const SSL* ssl) {
    if (ssl == nullptr) return {};
    const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
    std::string s = SSL_get_version(ssl);
    if (c != nullptr) {
        s += ' ';
        s += SSL_CIPHER_get_name(c);
    }
    return s;
}

ContextHolder::ContextHolder(fs::path cert, fs::path key, MinVersion min)
    : cert_(std::move(cert)),
      key_(std::move(key)),
      min_(min),
      ctx_(make_server_context(cert_, key_, min_)) {}

std::shared_ptr<asio::ssl::context> ContextHolder::get() const {
    std::lock_guard lock(mu_);
    return ctx_;
}

std::string ContextHolder::reload() {
    try {
        auto fresh = make_server_context(cert_, key_, min_);
        std::lock_guard lock(mu_);
        ctx_ = std::move(fresh);
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
}

}  // namespace sluice::tls
