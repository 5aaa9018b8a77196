// preflight.hpp: what `serve` will need from the host, checked before it binds a port, and by
// `sluice check-config` so that a configuration it passes starts.
//
// The configuration loader (src/config) checks a file's syntax and ranges without touching the
// host. These checks read the host: the run-as user exists, the certificate and key are readable
// and match, the SQLite user store opens, the DNSSEC trust anchor is readable, and every directory
// the server writes in exists or can be created (nothing is created here).
//
// SECURITY: read-only; the certificate and key are parsed by OpenSSL exactly as the server will
// load them (tls::make_server_context), so a pass here means the same load succeeds at start.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace sluice::server {

struct Problem {
    std::string key;      // the configuration key to change ("tls.key_file")
    std::string message;  // what is wrong, naming the path
};

// Every problem found, in the order of the configuration reference; empty when `serve` can start.
[[nodiscard]] std::vector<Problem> preflight(const config::Config& cfg);

// "tls.key_file: /etc/x.pem: cannot read: Permission denied", one per line.
[[nodiscard]] std::string describe(const std::vector<Problem>& problems);

}  // namespace sluice::server
