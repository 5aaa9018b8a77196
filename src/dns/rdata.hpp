// rdata.hpp: decoding the record data libunbound hands back (MX, A, AAAA, TXT, PTR), without I/O.
//
// SECURITY: the bytes come from DNS servers, which are untrusted: every length is bounds-checked,
// compression pointers are refused (unbound returns uncompressed rdata), and names are limited to
// 255 octets. A record that does not decode is dropped, never guessed at.
// STANDARDS: RFC 1035 3.1 (names), 3.3.9 (MX), 3.3.12 (PTR), 3.3.14 (TXT), 3.4.1 (A); RFC 3596
// (AAAA).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::dns {

struct MxRecord {
    std::uint16_t preference = 0;
    std::string host;  // lower-case, no trailing dot; "" for the root (null MX, RFC 7505)

    bool operator==(const MxRecord&) const = default;
};

// Wire-format name at the start of `in` as dotted text; *used gets its length. nullopt if damaged.
std::optional<std::string> decode_name(std::string_view in, std::size_t* used = nullptr);

std::optional<MxRecord> decode_mx(std::string_view rdata);

// A TXT record's character-strings (each a length octet and that many octets), concatenated
// without separators. nullopt if a length runs past the end.
std::optional<std::string> decode_txt(std::string_view rdata);

// "192.0.2.1" from 4 octets, "2001:db8::1" from 16; nullopt for any other length.
std::optional<std::string> decode_address(std::string_view rdata);

}  // namespace sluice::dns
