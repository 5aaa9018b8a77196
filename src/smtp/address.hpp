// address.hpp: RFC 5321 reverse-path / forward-path parsing.
//
// SECURITY: input is the untrusted argument of MAIL FROM / RCPT TO. The parser accepts only the RFC
// 5321 4.1.2 grammar (plus RFC 6531 UTF-8 when valid UTF-8), enforces the 4.5.3.1 size limits, and
// never interprets '%' or '!' in a local part (no source routing through us). Source routes
// ("<@a,@b:user@d>") are parsed and dropped, as 4.1.1.3 / appendix C allow.
// STANDARDS: RFC 5321 4.1.2, 4.1.3 (address literals), 4.5.3.1; RFC 6531 3.3.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::smtp {

struct Mailbox {
    std::string local;  // as written, without quotes removed (e.g. "\"john doe\"" stays quoted)
    std::string
        domain;  // lower-cased if a name; address literals kept as "[1.2.3.4]" / "[IPv6:...]"
    bool domain_is_literal = false;
    bool utf8 = false;  // local part or domain contains non-ASCII (needs SMTPUTF8)

    // local@domain (or just local when domain is empty: the special "postmaster" RCPT).
    std::string str() const { return domain.empty() ? local : local + "@" + domain; }
};

struct Path {
    bool null = false;  // "<>"
    Mailbox mailbox;
};

enum class AddressError {
    none,
    syntax,           // 501 5.1.3 / 5.1.7
    local_too_long,   // > 64 octets
    domain_too_long,  // > 255 octets
    path_too_long,    // > 256 octets including < >
    bad_utf8,         // invalid UTF-8 sequence
};

struct PathResult {
    std::optional<Path> path;
    AddressError error = AddressError::none;
    std::string_view rest;  // input after the closing '>' (ESMTP parameters follow)
};

// Parses a path starting at '<'. When allow_null, "<>" is valid (reverse-path). When
// allow_postmaster,
// "<Postmaster>" with no domain is accepted (RFC 5321 4.5.1) and yields local="postmaster", domain
// "". Non-ASCII is accepted when it is valid UTF-8 and sets Mailbox::utf8; the session decides
// whether SMTPUTF8 allows it.
PathResult parse_path(std::string_view in, bool allow_null, bool allow_postmaster);

// The local part with quoting removed and backslash escapes resolved ("\"a b\"" -> "a b").
std::string unquote_local_part(std::string_view local);

// Well-formed UTF-8 per RFC 3629 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s);
// Length of the well-formed UTF-8 character at the start of s (1 for ASCII), 0 if malformed/empty.
std::size_t utf8_sequence_length(std::string_view s);

}  // namespace sluice::smtp
