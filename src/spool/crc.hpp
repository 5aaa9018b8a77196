// crc.hpp: the one CRC-32 the spool uses (zlib's, the ISO-HDLC polynomial) for queue files, slot
// headers and status records, and its 8-digit lower-case hex form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::spool {

std::uint32_t crc32_of(std::string_view bytes);  // any length
void append_crc32_hex(std::string& out, std::uint32_t crc);
// Exactly 8 lower-case hex digits, or nullopt.
std::optional<std::uint32_t> parse_crc32_hex(std::string_view hex);

}  // namespace sluice::spool
