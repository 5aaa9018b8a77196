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

//
// A message whose body was streamed into the slot as it arrived (spool.hpp, IncomingBody) has a
// 28-byte header instead: magic "SLQ2", the length L of everything after the header (8 bytes), the
// length C of the streamed body at its start (8 bytes), a CRC-32 of the L bytes and one of the 24
// bytes before it. The body comes first, since it was written before the envelope was complete;
// the queue file follows it, and its message record holds the part of the message before the body
// (added headers, trace header, header section). The message is that part followed by the body.
// Anything else (FREE, zeros, a torn header) is a free slot or a corrupt one, never a message.
inline constexpr std::size_t kSlotHeader = 20;
inline constexpr std::size_t kStreamedHeader = 28;  // where a streamed body starts

enum class SlotState { free, message, corrupt };

// The header for a slot holding `body` under `magic` ("SLQ1", or "FREE" to mark it free).
std::string slot_header(std::string_view magic, std::string_view body);
// The header of a streamed slot: `total` bytes follow it, the first `streamed` of them the body;
// `crc` is the CRC-32 of all `total`.
std::string streamed_slot_header(std::uint64_t total, std::uint64_t streamed, std::uint32_t crc);
// Classifies a slot's content; on `message`, *body is the queue file inside it and *streamed (when
// given) the streamed body before it (empty for an SLQ1 slot).
SlotState parse_slot(std::string_view data, std::string_view* body,
                     std::string_view* streamed = nullptr);
// "s0000042" <-> 42.
std::string slot_name(std::uint32_t n);
std::optional<std::uint32_t> slot_number(std::string_view name);

}  // namespace sluice::spool
