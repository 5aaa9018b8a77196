// crc.cpp: see crc.hpp.
#include "spool/crc.hpp"

#include <zlib.h>

#include <algorithm>

namespace sluice::spool {

std::uint32_t crc32_of(std::string_view bytes) {
    return crc32_extend(static_cast<std::uint32_t>(crc32(0L, Z_NULL, 0)), bytes);
}

std::uint32_t crc32_join(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t len_b) {
    return static_cast<std::uint32_t>(crc32_combine64(crc_a, crc_b, static_cast<z_off64_t>(len_b)));
}

std::uint32_t crc32_extend(std::uint32_t start, std::string_view bytes) {
    // zlib's crc32 takes uInt lengths; feed large buffers in pieces.
    uLong crc = start;
    const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
    std::size_t left = bytes.size();
    while (left > 0) {
        auto n = static_cast<uInt>(std::min<std::size_t>(left, 1u << 30));
        crc = crc32(crc, p, n);
        p += n;
        left -= n;
    }
    return static_cast<std::uint32_t>(crc);
}

void append_crc32_hex(std::string& out, std::uint32_t crc) {
    static constexpr char kHex[] = "0123456789abcdef";
    char text[8];
    for (int i = 7; i >= 0; --i) {
        text[i] = kHex[crc & 0xf];
        crc >>= 4;
    }
    out.append(text, 8);
}

std::optional<std::uint32_t> parse_crc32_hex(std::string_view hex) {
    if (hex.size() != 8) return std::nullopt;
    std::uint32_t v = 0;
    for (char c : hex) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return std::nullopt;
        v = (v << 4) | static_cast<std::uint32_t>(d);
    }
    return v;
}

}  // namespace sluice::spool
