// author.hpp: the author domains of a message: the domains of the mailboxes in its From header
// field(s) (RFC 5322 3.6.2), as DMARC needs them (RFC 7489 3.1, 6.6.1).
//
// DMARC protects the domain a reader sees, so this parse must find the domain every mail reader
// would show, or say it cannot: comments (nested, escaped), quoted strings, display names with
// special characters, angle-addrs with obsolete routes, groups and lists of mailboxes are read as
// RFC 5322 defines them; a domain literal, an empty domain or a name that is not a valid DNS name
// makes the field `malformed` (the caller refuses rather than let a sender opt out of DMARC by
// writing an address we cannot read). Internationalized domains are converted to A-labels
// (IDNA2008, libidn2), the form their DNS records have.
//
// SECURITY: the header section is untrusted; parsing is linear, bounded by the input, and never
// recursive beyond comment nesting (counted, not recursed).
// STANDARDS: RFC 5322 3.2.2 (CFWS), 3.2.4 (quoted strings), 3.4 (addresses), 3.6.2 (From), 4.4
// (obs-route); RFC 7489 6.6.1; RFC 5890 (A-labels).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::trust {

struct Authors {
    std::size_t fields = 0;            // From fields in the header section
    std::vector<std::string> domains;  // distinct, lower-case A-labels, in order of appearance
    bool malformed = false;            // a From field, or a mailbox in one, could not be read
};

// `header_section`: the message's header section (fields split at LF, as the SMTP side's header
// scan and the forged-result remover split them; continuation lines start with SP or HTAB).
Authors author_domains(std::string_view header_section);

// A domain name as DNS has it: lower-case A-labels, each 1-63 octets of letters, digits and '-'
// ('_' allowed), at most 253 octets, no empty label; UTF-8 input converted to A-labels. "" if it
// cannot be one.
std::string dns_domain(std::string_view name);

}  // namespace sluice::trust
