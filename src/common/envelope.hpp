// envelope.hpp: the SMTP envelope of one accepted message, as it travels from the session through
// the spool to delivery.
//
// SECURITY: every string here came from an untrusted client, but only after the smtp parsers
// accepted it (valid RFC 5321 paths, bounded lengths). Consumers still treat them as data, never as
// paths or commands. STANDARDS: RFC 5321 (envelope), RFC 3461 (DSN parameters), RFC 6152/3030 (body
// types), RFC 6531.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

enum class BodyType : std::uint8_t { seven_bit = 0, eight_bit_mime = 1, binary_mime = 2 };

// RFC 3461 NOTIFY as a bit set; 0 means the client did not say.
enum NotifyFlags : std::uint8_t {
    notify_never = 1,
    notify_success = 2,
    notify_failure = 4,
    notify_delay = 8,
};

enum class DsnRet : std::uint8_t { unspecified = 0, full = 1, hdrs = 2 };

struct EnvelopeRecipient {
    std::string
        address;        // local@domain as accepted at RCPT (domain lower-cased); "postmaster" alone
    std::string orcpt;  // RFC 3461 ORCPT value as sent (addr-type;xtext), empty if none
    std::uint8_t notify = 0;

    bool operator==(const EnvelopeRecipient&) const = default;
};

struct Envelope {
    std::string queue_id;
    std::string sender;  // empty string is the null reverse-path <>
    std::vector<EnvelopeRecipient> recipients;
    std::string helo;       // name the client gave in EHLO/HELO
    std::string client_ip;  // textual, no brackets
    std::string listener;   // name of the listener that accepted it
    std::string protocol;   // RFC 3848 WITH keyword: SMTP, ESMTP, UTF8SMTP, ...
    BodyType body = BodyType::seven_bit;
    bool smtputf8 = false;
    DsnRet ret = DsnRet::unspecified;
    std::string envid;                // RFC 3461 ENVID (xtext as sent)
    std::int64_t received_at_us = 0;  // acceptance time, microseconds since the Unix epoch

    bool operator==(const Envelope&) const = default;
};

// A recipient address as stored ("local@domain", or the bare "postmaster") split at its last '@'.
inline void split_address(std::string_view addr, std::string& local, std::string& domain) {
    const auto at = addr.rfind('@');
    if (at == std::string_view::npos) {
        local = addr;  // bare "postmaster"
        domain.clear();
    } else {
        local = addr.substr(0, at);
        domain = addr.substr(at + 1);
    }
}

}  // namespace sluice
