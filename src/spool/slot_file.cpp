// slot_file.cpp: see slot_file.hpp.
#include "spool/slot_file.hpp"

#include <charconv>
#include <cstdio>

#include "spool/crc.hpp"

namespace sluice::spool {
namespace {

void put_le(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(std::string_view in, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    return v;
}

}  // namespace

std::string slot_header(std::string_view magic, std::string_view body) {
    std::string h(magic);
    put_le(h, body.size(), 8);
    put_le(h, crc32_of(body), 4);
    put_le(h, crc32_of(h), 4);
    return h;
}

std::string streamed_slot_header(std::uint64_t total, std::uint64_t streamed, std::uint32_t crc) {
    std::string h("SLQ2");
    put_le(h, total, 8);
    put_le(h, streamed, 8);
    put_le(h, crc, 4);
    put_le(h, crc32_of(h), 4);
    return h;
}

SlotState parse_slot(std::string_view data, std::string_view* body, std::string_view* streamed) {
    if (streamed) *streamed = {};
    if (data.size() >= kStreamedHeader && data.substr(0, 4) == "SLQ2") {
        if (get_le(data.substr(24), 4) != crc32_of(data.substr(0, 24))) return SlotState::corrupt;
        const std::uint64_t len = get_le(data.substr(4), 8);
        const std::uint64_t head = get_le(data.substr(12), 8);
        if (len > data.size() - kStreamedHeader || head > len) return SlotState::corrupt;
        std::string_view all = data.substr(kStreamedHeader, static_cast<std::size_t>(len));
        if (get_le(data.substr(20), 4) != crc32_of(all)) return SlotState::corrupt;
        // The caller that cannot take a streamed body gets none rather than half a message.
        if (!streamed && head > 0) return SlotState::corrupt;
        if (streamed) *streamed = all.substr(0, static_cast<std::size_t>(head));
        *body = all.substr(static_cast<std::size_t>(head));
        return SlotState::message;
    }
    if (data.size() < kSlotHeader || data.substr(0, 4) != "SLQ1") return SlotState::free;
    if (get_le(data.substr(16), 4) != crc32_of(data.substr(0, 16))) return SlotState::corrupt;
    const std::uint64_t len = get_le(data.substr(4), 8);
    if (len > data.size() - kSlotHeader) return SlotState::corrupt;
    std::string_view b = data.substr(kSlotHeader, static_cast<std::size_t>(len));
    if (get_le(data.substr(12), 4) != crc32_of(b)) return SlotState::corrupt;
    *body = b;
    return SlotState::message;
}

std::string slot_name(std::uint32_t n) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "s%07u", n);
    return buf;
}

std::optional<std::uint32_t> slot_number(std::string_view name) {
    if (name.size() != 8 || name[0] != 's') return std::nullopt;
    std::uint32_t n = 0;
    auto [p, ec] = std::from_chars(name.data() + 1, name.data() + name.size(), n);
    if (ec != std::errc() || p != name.data() + name.size()) return std::nullopt;
    return n;
}

}  // namespace sluice::spool
