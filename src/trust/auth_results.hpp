// auth_results.hpp: the header fields that report what this hop found: Authentication-Results
// (RFC 8601) and Received-SPF (RFC 7208 9.1), and the removal of Authentication-Results fields
// that claim to come from us.
//
// An Authentication-Results field is believed by the mail reader (and by filters further in)
// because of its authserv-id: a sender who writes "Authentication-Results: <our id>; dmarc=pass"
// into a forgery must not have it believed, so every such field already in an arriving message
// is removed (RFC 8601 5) before ours is added.
//
// SECURITY: results carry text from DNS records (SPF explanations, problems naming a record) and
// from clients (addresses, HELO names); everything that goes into a field passes through
// comment() or value(), which keep only printable ASCII and escape what would end a comment, so
// nothing can add a line or a field.
// STANDARDS: RFC 8601 2.2-2.7, 5; RFC 7208 9.1; RFC 7001 (ptype smtp); RFC 5322 2.2 (folding).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::trust {

struct MethodResult {
    std::string method;   // "spf", "dkim", "dmarc", "arc"
    std::string result;   // "pass", "fail", "none", ...
    std::string comment;  // free text, sanitized when written; "" for none
    std::vector<std::pair<std::string, std::string>> properties;  // {"smtp.mailfrom", "a@b"}
};

// The complete field, "Authentication-Results: id;\r\n\tspf=pass ...;\r\n\tdkim=...\r\n", or with
// no results "Authentication-Results: id; none\r\n".
std::string authentication_results(std::string_view authserv_id,
                                   const std::vector<MethodResult>& results);

// The header section (up to and including the empty line, or all of it when there is none) with
// every Authentication-Results field whose authserv-id is `authserv_id` (case-insensitive)
// removed; *removed counts them. Fields are found by name at the start of a line; continuation
// lines go with their field.
std::string strip_results(std::string_view header_section, std::string_view authserv_id,
                          std::size_t* removed);

// The authserv-id of an Authentication-Results field's value (leading CFWS skipped, a
// quoted-string unquoted as readers unquote it), "" if none.
std::string results_authserv_id(std::string_view value);

// A property value (RFC 8601 2.2 pvalue): an address or domain as is when it is one (dot-atom
// local part, or none: "@example.com"), else only its domain part.
std::string property_value(std::string_view address_or_domain);

// The Received-SPF field (RFC 7208 9.1) for one check: result, a comment, and the key-value pairs
// client-ip, envelope-from, helo, identity, receiver, and mechanism or problem.
struct SpfTrace {
    std::string_view result;
    std::string_view comment;
    std::string_view client_ip;
    std::string_view envelope_from;
    std::string_view helo;
    std::string_view identity;  // "mailfrom" or "helo"
    std::string_view receiver;
    std::string_view mechanism;  // what matched, "" if nothing did
    std::string_view problem;    // temperror/permerror: why
};
std::string received_spf(const SpfTrace& t);

// A property value that is not an address: as is when it is an RFC 2045 token, else a
// quoted-string (base64 "header.b" values carry '/' and '=').
std::string quoted(std::string_view v);

// Text for an SMTP reply: printable ASCII only (others become '?'), at most `max` octets.
std::string printable(std::string_view text, std::size_t max = 200);

// Text for a comment: printable ASCII only (others become '?'), '(' ')' '\' escaped, at most
// `max` octets.
std::string comment_text(std::string_view text, std::size_t max = 200);

}  // namespace sluice::trust
