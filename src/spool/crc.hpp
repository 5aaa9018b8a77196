// crc.hpp: the one CRC-32 the spool uses (zlib's, the ISO-HDLC polynomial) for queue files, slot
// headers and status records, and its 8-digit lower-case hex form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::spool {

std::uint32_t crc32_of(std::string_view bytes);  // any length
// The CRC-32 of (bytes whose CRC is `crc`) followed by `more`.
std::uint32_t crc32_extend(std::uint32_t crc, std::string_view more);
// The CRC-32 of A followed by B, from CRC(A), CRC(B) and B's length.
std::uint32_t crc32_join(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t len_b);
void append_crc32_hex(std::string& out, std::uint32_t crc);
// Exactly 8 lower-case hex digits, or nullopt.
std::optional<std::uint32_t> parse_crc32_hex(std::string_view hex);

}  // namespace sluice::spool
