// context.hpp: the server side of TLS: an OpenSSL context built from a PEM certificate chain and
// key (TLS 1.2 and 1.3 only, forward-secret AEAD ciphers), a holder that swaps in a freshly loaded
// context on SIGHUP (handshakes already done keep the context they started with), the self-signed
// certificate the embedded default makes on first start, and the one-line description of a
// negotiated session for Received headers and logs.
//
// SECURITY: the certificate and key are trusted operator files; the key file Sluice generates is
// created 0600. A reload that fails (missing file, key not matching the certificate) keeps the old
// context and reports why. Compression and renegotiation are off; the server picks the cipher.
// STANDARDS: RFC 3207 (STARTTLS), RFC 8314 (implicit TLS), RFC 8996 (no TLS 1.0/1.1), RFC 7525.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace sluice::tls {

enum class MinVersion { tls1_2, tls1_3 };

// A certificate or key that OpenSSL refused, naming the file and its reason; `part` says which
// file is at fault (a key that does not match its certificate counts as the key's).
class LoadError : public std::runtime_error {
  public:
    enum class Part { certificate, key, other };
    LoadError(const std::string& what, Part p) : std::runtime_error(what), part(p) {}
    Part part;
};

// Throws LoadError naming the file and the OpenSSL reason.
std::shared_ptr<boost::asio::ssl::context> make_server_context(
    const std::filesystem::path& cert_chain, const std::filesystem::path& key,
    MinVersion min = MinVersion::tls1_2);

// Writes a self-signed certificate (EC P-256, SHA-256, CN and subjectAltName = hostname, valid
// 10 years) and its key, unless both files exist already. Returns true when it created them.
// Throws std::runtime_error on failure.
bool ensure_self_signed(const std::filesystem::path& cert, const std::filesystem::path& key,
                        const std::string& hostname);

// "TLSv1.3 TLS_AES_256_GCM_SHA384"
std::string describe(const SSL* ssl);

// The context used for new handshakes; thread-safe.
class ContextHolder {
  public:
    ContextHolder(std::filesystem::path cert, std::filesystem::path key, MinVersion min);
    std::shared_ptr<boost::asio::ssl::context> get() const;
    // Loads the files again; on success new handshakes use them. On failure returns the reason
    // and keeps the current context.
    std::string reload();

  private:
    std::filesystem::path cert_, key_;
    MinVersion min_;
    mutable std::mutex mu_;
    std::shared_ptr<boost::asio::ssl::context> ctx_;
};

}  // namespace sluice::tls
