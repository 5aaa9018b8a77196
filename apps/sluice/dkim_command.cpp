// dkim_command.cpp: `sluice dkim keygen`: a new DKIM signing key and the DNS record that
// publishes it (see cli.hpp and docs/authentication.md, "Signing").
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "cli.hpp"
#include "trust/dkim_sign.hpp"

namespace sluice::app {

namespace {

// A TXT value as zone-file text: character-strings of at most 255 octets each (RFC 1035 3.3.14;
// an RSA 2048 key's p= is longer than one), in parentheses so the record may span lines.
std::string zone_text(std::string_view value) {
    std::string out = "(";
    for (std::size_t i = 0; i < value.size(); i += 250)
        out += fmt::format("\n    \"{}\"", value.substr(i, 250));
    return out + " )";
}

bool valid_label_text(std::string_view s, bool allow_underscore) {
    if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.' ||
        s.find("..") != std::string_view::npos)
        return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || (allow_underscore && c == '_')))
            return false;
    return true;
}

}  // namespace

int dkim_keygen(const DkimKeygenArgs& a) {
    namespace dkim = trust::dkim;
    if (!valid_label_text(a.domain, false)) {
        fmt::print(stderr, "sluice: dkim keygen: --domain: \"{}\" is not a domain name\n",
                   a.domain);
        return 2;
    }
    if (!valid_label_text(a.selector, true) || a.selector.size() > 63) {
        fmt::print(stderr, "sluice: dkim keygen: --selector: \"{}\" is not a DNS label\n",
                   a.selector);
        return 2;
    }
    dkim::Algorithm algo;
    if (a.algo == "rsa") {
        algo = dkim::Algorithm::rsa_sha256;
    } else if (a.algo == "ed25519") {
        algo = dkim::Algorithm::ed25519_sha256;
    } else {
        fmt::print(stderr, "sluice: dkim keygen: --algo must be rsa or ed25519\n");
        return 2;
    }
    if (algo == dkim::Algorithm::rsa_sha256 && (a.bits < 1024 || a.bits > 4096)) {
        fmt::print(stderr, "sluice: dkim keygen: --bits must be 1024-4096 (2048 recommended)\n");
        return 2;
    }
    const dkim::GeneratedKey key = dkim::generate_key(algo, a.bits);
    const std::string out = a.out.empty() ? fmt::format("{}.{}.key", a.domain, a.selector) : a.out;
    // 0600 from the start and never over an existing key: a lost key means a re-published record.
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fmt::print(stderr, "sluice: dkim keygen: {}: {}\n", out, std::strerror(errno));
        return 1;
    }
    std::string_view pem = key.private_pem;
    bool ok = true;
    while (ok && !pem.empty()) {
        const ssize_t n = ::write(fd, pem.data(), pem.size());
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) pem.remove_prefix(static_cast<std::size_t>(n));
    }
    ok = ok && ::fsync(fd) == 0;
    ok = (::close(fd) == 0) && ok;
    if (!ok) {
        fmt::print(stderr, "sluice: dkim keygen: {}: {}\n", out, std::strerror(errno));
        ::unlink(out.c_str());
        return 1;
    }
    fmt::print(stderr, "Wrote the private key to {} (mode 0600).\n", out);
    fmt::print(stderr, "Publish this record in the DNS zone of {}:\n\n", a.domain);
    fmt::print("{}._domainkey.{}. IN TXT {}\n", a.selector, a.domain, zone_text(key.dns_txt));
    fmt::print(stderr,
               "\nThen sign with it (sluice.toml):\n\n[[dkim_key]]\ndomain = \"{}\"\n"
               "selector = \"{}\"\nkey_file = \"{}\"\n",
               a.domain, a.selector, out);
    return 0;
}

}  // namespace sluice::app
