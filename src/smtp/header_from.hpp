// header_from.hpp: the address in a message's From: header, for the submission check that an
// authenticated user sends only as itself ([auth] check_from_header).
//
// SECURITY: the message is untrusted client input. The parse is deliberately simple and strict:
// exactly one From: field in the header section, holding one mailbox, either "Name <a@b>" or a bare
// "a@b". Anything else (no From:, two From: fields, a group or a list of mailboxes, no '@') gives
// no address, and the caller refuses the message rather than guess.
// STANDARDS: RFC 5322 2.2 (header fields, folding), 3.4 (mailbox, angle-addr), 3.6 (one From:).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::smtp {

// The addr-spec of the single mailbox in the From: header of `message` (CRLF or LF line ends; the
// header section ends at the first empty line), or nullopt. Not lower-cased.
std::optional<std::string> from_header_address(std::string_view message);

}  // namespace sluice::smtp
