// received.hpp: the trace header this server prepends to every accepted message.
//
// SECURITY: the HELO name is client-supplied; the session only accepts printable, space-free names,
// and this module writes it as-is inside the "from" clause, followed by the real client IP in
// brackets (RFC 5321 4.4), so a forged HELO can never hide the connecting address. STANDARDS: RFC
// 5321 4.4 (trace information), RFC 5322 3.3 (date-time), RFC 3848 (WITH keywords).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/envelope.hpp"

namespace sluice::intake {

// The complete "Received: ..." field, folded, ending with CRLF. `tls` (e.g. "TLSv1.3
// TLS_AES_256_GCM_SHA384") becomes a comment after the WITH keyword when not empty.
std::string received_header(const Envelope& env, const std::string& hostname,
                            std::string_view tls = {});

}  // namespace sluice::intake
