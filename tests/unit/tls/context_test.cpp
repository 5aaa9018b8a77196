// context_test.cpp: self-signed certificate generation, context loading, reload keeping the old
// context on failure, and a real in-memory handshake showing TLS 1.2+ only.
#include "tls/context.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace sluice::tls {
namespace {

namespace fs = std::filesystem;

struct TempDir {
    fs::path path =
        fs::temp_directory_path() / ("sluice-tls-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
};

TEST(SelfSigned, CreatedOnceWithPrivateKeyMode) {
    TempDir d;
    auto cert = d.path / "tls" / "cert.pem", key = d.path / "tls" / "key.pem";
    EXPECT_TRUE(ensure_self_signed(cert, key, "mx.example.org"));
    EXPECT_FALSE(ensure_self_signed(cert, key, "mx.example.org"));
    struct stat st {};
    ASSERT_EQ(::stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto ctx = make_server_context(cert, key);
    ASSERT_TRUE(ctx);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->native_handle()), TLS1_2_VERSION);
}

TEST(Context, MismatchedOrMissingFilesThrow) {
    TempDir d;
    auto c1 = d.path / "a.pem", k1 = d.path / "a.key", c2 = d.path / "b.pem", k2 = d.path / "b.key";
    ensure_self_signed(c1, k1, "a.test");
    ensure_self_signed(c2, k2, "b.test");
    EXPECT_THROW(make_server_context(c1, k2), std::runtime_error);
    EXPECT_THROW(make_server_context(d.path / "none.pem", k1), std::runtime_error);
}

TEST(ContextHolder, ReloadSwapsOnSuccessAndKeepsOnFailure) {
    TempDir d;
    auto cert = d.path / "c.pem", key = d.path / "k.pem";
    ensure_self_signed(cert, key, "one.test");
    ContextHolder h(cert, key, MinVersion::tls1_2);
    auto first = h.get();
    EXPECT_EQ(h.reload(), "");
    auto second = h.get();
    EXPECT_NE(first, second);
    std::ofstream(key) << "garbage\n";
    EXPECT_NE(h.reload(), "");
    EXPECT_EQ(h.get(), second);
}

// A handshake through memory BIOs: TLS 1.1 clients are refused, TLS 1.2+ clients get in.
bool handshake(SSL_CTX* server_ctx, int client_max_version, std::string* desc) {
    SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(cctx, 0);
    SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(cctx, client_max_version);
    SSL* c = SSL_new(cctx);
    SSL* s = SSL_new(server_ctx);
    BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
    SSL_set_bio(c, c_in, c_out);
    SSL_set_bio(s, s_in, s_out);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    bool ok = false;
    char buf[16384];
    for (int i = 0; i < 20; ++i) {
        int rc = SSL_do_handshake(c);
        int rs = SSL_do_handshake(s);
        int n;
        while ((n = BIO_read(c_out, buf, sizeof buf)) > 0) BIO_write(s_in, buf, n);
        while ((n = BIO_read(s_out, buf, sizeof buf)) > 0) BIO_write(c_in, buf, n);
        if (rc == 1 && rs == 1) {
            ok = true;
            break;
        }
    }
    if (ok) *desc = describe(s);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    return ok;
}

TEST(Context, OnlyTls12AndLater) {
    TempDir d;
    auto cert = d.path / "c.pem", key = d.path / "k.pem";
    ensure_self_signed(cert, key, "mx.test");
    auto ctx = make_server_context(cert, key);
    std::string desc;
    EXPECT_FALSE(handshake(ctx->native_handle(), TLS1_1_VERSION, &desc));
    EXPECT_TRUE(handshake(ctx->native_handle(), TLS1_2_VERSION, &desc));
    EXPECT_EQ(desc.rfind("TLSv1.2 ECDHE-ECDSA-", 0), 0u) << desc;
    EXPECT_TRUE(handshake(ctx->native_handle(), TLS1_3_VERSION, &desc));
    EXPECT_EQ(desc.rfind("TLSv1.3 TLS_", 0), 0u) << desc;
    auto strict = make_server_context(cert, key, MinVersion::tls1_3);
    EXPECT_FALSE(handshake(strict->native_handle(), TLS1_2_VERSION, &desc));
}

}  // namespace
}  // namespace sluice::tls
