// spf_macro.hpp: SPF macro expansion (RFC 7208 7), without I/O.
//
// The %{p} macro needs DNS (a validated reverse name): the evaluator looks it up only when a
// macro-string uses it and passes the answer in; everything else here is pure.
//
// SECURITY: the sender's local part and the HELO name are client-supplied and end up in DNS query
// names; expansion only copies them (URL-escaped for upper-case macro letters) and the result is
// bounded (7.3: truncated to 253 octets by dropping leftmost labels).
// STANDARDS: RFC 7208 7.1-7.4.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/cidr.hpp"

namespace sluice::trust::spf {

struct MacroContext {
    std::string_view sender;         // %{s}: "local@domain" ("postmaster@helo" for <>)
    std::string_view local_part;     // %{l}
    std::string_view sender_domain;  // %{o}
    std::string_view domain;         // %{d}: the domain being checked
    IpAddress ip{};                  // %{i}, %{v}, %{c}
    std::string_view helo;           // %{h}
    std::string_view ptr_name;       // %{p}: the validated name, or "unknown"
    std::string_view receiver;       // %{r}: our host name (explanations only)
    std::int64_t now = 0;            // %{t}: Unix seconds (explanations only)
};

// Expands a macro-string (explain: an explain-string, where %{c}, %{r}, %{t} are allowed).
// nullopt on a syntax error, which is a permerror (7.1), and when the result would pass 2048
// octets (a hostile record repeating macros must not cost more).
std::optional<std::string> expand(std::string_view macro_string, const MacroContext& ctx,
                                  bool explain = false);

// Whether the string uses %{p} (so the evaluator must look up the validated name first).
bool uses_ptr_macro(std::string_view macro_string);

// A domain name longer than 253 octets loses labels from the left until it fits (7.3).
std::string truncate_domain(std::string name);

// %{i} of an address: dotted IPv4, or IPv6 as 32 dot-separated nibbles (7.3).
std::string dotted_ip(const IpAddress& ip);

// The reverse-lookup name: "4.3.2.1.in-addr.arpa" or the nibbles under "ip6.arpa".
std::string reverse_name(const IpAddress& ip);

}  // namespace sluice::trust::spf
