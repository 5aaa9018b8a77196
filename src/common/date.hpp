// date.hpp: the RFC 5322 date-time this server writes (trace headers, DSNs), always in UTC.
// STANDARDS: RFC 5322 3.3.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

// "Sat, 28 Nov 2026 16:49:32 +0000"
std::string rfc5322_date(std::int64_t unix_seconds);

}  // namespace sluice
