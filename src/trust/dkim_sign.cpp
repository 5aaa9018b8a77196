// dkim_sign.cpp: DKIM signing and keys (see dkim_sign.hpp).
#include "trust/dkim_sign.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "common/ascii.hpp"
#include "trust/dkim_canon.hpp"
#include "trust/dkim_ossl.hpp"

namespace sluice::trust::dkim {

namespace {

constexpr std::size_t kColumns = 78;  // RFC 5322 2.1.1: lines SHOULD stay within 78 characters

// Appends tag text to a header field, folding with CRLF TAB where the next piece would pass
// kColumns. A fold replaces the space before a piece, or is put between pieces that are joined
// without one (after a ':' in h=, inside the base64 of b=), where the grammar allows FWS.
struct Folder {
    std::string out;
    std::size_t col = 0;

    void add(std::string_view piece, bool space = true) {
        if (col + (space ? 1 : 0) + piece.size() > kColumns && col > 1) {
            out += "\r\n\t";
            col = 1;
        } else if (space) {
            out += ' ';
            ++col;
        }
        out += piece;
        col += piece.size();
    }
};

// PEM files are read without a passphrase: an encrypted key fails to load instead of prompting.
int no_passphrase(char*, int, int, void*) {
    return -1;
}

}  // namespace

std::optional<SigningKey> load_signing_key(const std::filesystem::path& path, std::string domain,
                                           std::string selector, std::string* error) {
    auto fail = [&](const std::string& why) -> std::optional<SigningKey> {
        if (error) *error = path.string() + ": " + why;
        return std::nullopt;
    };
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(std::string("cannot read: ") + std::strerror(errno));
    std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ossl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    ossl::Pkey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                       : nullptr);
    if (!key) return fail("not an unencrypted PEM private key (" + ossl::last_error() + ")");
    Algorithm algorithm;
    switch (EVP_PKEY_get_base_id(key.get())) {
        case EVP_PKEY_RSA:
            if (EVP_PKEY_get_bits(key.get()) < 1024)
                return fail("rsa key shorter than 1024 bits (RFC 8301)");
            algorithm = Algorithm::rsa_sha256;
            break;
        case EVP_PKEY_ED25519:
            algorithm = Algorithm::ed25519_sha256;
            break;
        default:
            return fail("not an rsa or ed25519 key");
    }
    return SigningKey{std::move(domain), std::move(selector), algorithm,
                      std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free)};
}

std::vector<std::string> default_signed_headers(std::string_view header_section) {
    // {name, over-signed}: RFC 6376 5.4.1's list, plus the fields that say what the message is.
    static constexpr std::pair<std::string_view, bool> kNames[] = {
        {"From", true},
        {"Reply-To", true},
        {"Subject", true},
        {"Date", true},
        {"To", true},
        {"Cc", true},
        {"Message-ID", true},
        {"MIME-Version", true},
        {"Content-Type", true},
        {"Content-Transfer-Encoding", false},
        {"Resent-Date", false},
        {"Resent-From", false},
        {"Resent-To", false},
        {"Resent-Cc", false},
        {"In-Reply-To", false},
        {"References", false},
        {"List-Id", false},
        {"List-Help", false},
        {"List-Unsubscribe", false},
        {"List-Subscribe", false},
        {"List-Post", false},
        {"List-Owner", false},
        {"List-Archive", false},
    };
    const auto fields = split_header_fields(header_section);
    std::vector<std::string> names;
    for (const auto& [name, over] : kNames) {
        auto n = std::count_if(fields.begin(), fields.end(), [name = name](const HeaderField& f) {
            return ascii_iequals(f.name, name);
        });
        for (auto i = n + (over ? 1 : 0); i > 0; --i) names.emplace_back(name);
    }
    return names;
}

std::string sign(const SigningKey& key, std::string_view header_section, std::string_view body_hash,
                 const SignOptions& options) {
    if (!key.key) throw std::runtime_error("dkim: signing key not loaded");
    if (key.algorithm == Algorithm::rsa_sha1)
        throw std::runtime_error("dkim: rsa-sha1 signing is not allowed (RFC 8301)");
    std::vector<std::string> names =
        options.headers.empty() ? default_signed_headers(header_section) : options.headers;
    if (std::none_of(names.begin(), names.end(),
                     [](const std::string& n) { return ascii_iequals(n, "From"); }))
        names.insert(names.begin(), "From");  // RFC 6376 5.4: From MUST be signed

    Folder f{"DKIM-Signature:", 15};
    f.add("v=1;");
    f.add("a=" + std::string(algorithm_name(key.algorithm)) + ";");
    f.add("c=relaxed/relaxed;");
    f.add("d=" + key.domain + ";");
    f.add("s=" + key.selector + ";");
    if (options.timestamp != 0) {
        f.add("t=" + std::to_string(options.timestamp) + ";");
        if (options.expire_after != 0)
            f.add("x=" + std::to_string(options.timestamp + options.expire_after) + ";");
    }
    for (std::size_t i = 0; i < names.size(); ++i)
        f.add((i == 0 ? "h=" : "") + names[i] + (i + 1 < names.size() ? ":" : ";"), i == 0);
    f.add("bh=" + base64_encode(body_hash) + ";");
    f.add("b=");

    // The field as it is now, with b= empty, is what RFC 6376 3.7 hashes last.
    const std::string data =
        signed_header_data(split_header_fields(header_section), names, Canon::relaxed, f.out);
    const std::string signature = ossl::sign(key.key.get(), key.algorithm, data);
    if (signature.empty()) throw std::runtime_error("dkim: signing failed: wrong key type");
    const std::string b = base64_encode(signature);
    for (std::size_t i = 0; i < b.size();) {
        if (f.col >= kColumns) {
            f.out += "\r\n\t";
            f.col = 1;
        }
        std::size_t n = std::min(b.size() - i, kColumns - f.col);
        f.out.append(b, i, n);
        f.col += n;
        i += n;
    }
    f.out += "\r\n";
    return std::move(f.out);
}

GeneratedKey generate_key(Algorithm algorithm, int rsa_bits) {
    const bool ed25519 = algorithm_key_type(algorithm) == KeyType::ed25519;
    ossl::Pkey key(
        ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(rsa_bits)));
    if (!key) throw std::runtime_error("dkim: key generation failed: " + ossl::last_error());

    GeneratedKey out;
    ossl::Bio mem(BIO_new(BIO_s_mem()));
    if (!mem ||
        PEM_write_bio_PrivateKey(mem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        throw std::runtime_error("dkim: cannot write the key: " + ossl::last_error());
    char* pem = nullptr;
    long n = BIO_get_mem_data(mem.get(), &pem);
    out.private_pem.assign(pem, static_cast<std::size_t>(n));

    std::string pub;
    if (ed25519) {
        std::size_t len = 32;
        pub.resize(len);
        if (EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(pub.data()),
                                        &len) != 1)
            throw std::runtime_error("dkim: no raw public key: " + ossl::last_error());
        pub.resize(len);
    } else {
        int len = i2d_PUBKEY(key.get(), nullptr);
        if (len <= 0) throw std::runtime_error("dkim: cannot encode the public key");
        pub.resize(static_cast<std::size_t>(len));
        auto* p = reinterpret_cast<unsigned char*>(pub.data());
        i2d_PUBKEY(key.get(), &p);
    }
    out.dns_txt =
        std::string("v=DKIM1; k=") + (ed25519 ? "ed25519" : "rsa") + "; p=" + base64_encode(pub);
    return out;
}

}  // namespace sluice::trust::dkim
