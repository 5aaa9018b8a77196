// slot_file.hpp: the self-checking header of a slot file (spool.hpp's slots/s<NNNNNNN>).
//
// A slot file starts with a 20-byte header: magic "SLQ1" or "FREE", the length of the queue file
// that follows (8 bytes, little-endian), a CRC-32 of that queue file and a CRC-32 of the 16 bytes
// before it (4 bytes each, little-endian). The queue file (format.hpp) carries its own CRC and END
// record too. Bytes after it are the tail of an older, longer message and are ignored. A torn
// rewrite never reads as a message: a new header over an old body (or the reverse) fails the body
// CRC, and a partly written body fails both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::spool {

inline constexpr std::size_t kSlotHeader = 20;

enum class SlotState { free, message, corrupt };

// The header for a slot holding `body` under `magic` ("SLQ1", or "FREE" to mark it free).
std::string slot_header(std::string_view magic, std::string_view body);
// Classifies a slot's content; on `message`, *body is the queue file inside it.
SlotState parse_slot(std::string_view data, std::string_view* body);
// "s0000042" <-> 42.
std::string slot_name(std::uint32_t n);
std::optional<std::uint32_t> slot_number(std::string_view name);

}  // namespace sluice::spool
