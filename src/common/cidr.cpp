// cidr.cpp: parsing and matching of IP addresses and CIDR networks (see cidr.hpp).
//
// SECURITY: network text comes from the operator's config (trusted); addresses to match come from
// accept(). Parsing goes through inet_pton only (no resolver, no "1.2" shorthand, no zone ids), and
// both forms live in one 16-byte space so an IPv4 client seen on a dual-stack socket as
// ::ffff:a.b.c.d matches the same IPv4 networks it would match on an IPv4 socket. STANDARDS: RFC
// 4291 2.5.5.2 (IPv4-mapped IPv6 addresses), RFC 4632 (CIDR notation).
#include "common/cidr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace sluice {
namespace {

constexpr int kV4Offset = 96;  // an IPv4 /n is /(96+n) in the IPv4-mapped space

// Parses an address without brackets; reports whether it was written as IPv4.
std::optional<IpAddress> parse_bare(std::string_view text, bool* was_v4) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    if (text.find('\0') != std::string_view::npos) return std::nullopt;
    const std::string s(text);
    IpAddress a;
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        a.bytes[10] = 0xff;
        a.bytes[11] = 0xff;
        std::memcpy(a.bytes.data() + 12, &v4, 4);
        if (was_v4) *was_v4 = true;
        return a;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
        std::memcpy(a.bytes.data(), &v6, 16);
        if (was_v4) *was_v4 = false;
        return a;
    }
    return std::nullopt;
}

// Strips one pair of surrounding brackets ("[::1]" -> "::1"); nullopt if they are unbalanced.
std::optional<std::string_view> strip_brackets(std::string_view text) {
    const bool open = !text.empty() && text.front() == '[';
    const bool close = !text.empty() && text.back() == ']';
    if (open != close) return std::nullopt;
    if (open) {
        if (text.size() < 2) return std::nullopt;
        text = text.substr(1, text.size() - 2);
    }
    return text;
}

// True if the first `prefix` bits of a and b are equal.
bool prefix_equal(const IpAddress& a, const IpAddress& b, int prefix) {
    const int full = prefix / 8;
    if (std::memcmp(a.bytes.data(), b.bytes.data(), static_cast<std::size_t>(full)) != 0) {
        return false;
    }
    const int rest = prefix % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a.bytes[full] & mask) == (b.bytes[full] & mask);
}

}  // namespace

bool IpAddress::is_v4() const {
    for (int i = 0; i < 10; ++i) {
        if (bytes[i] != 0) return false;
    }
    return bytes[10] == 0xff && bytes[11] == 0xff;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_v4()) {
        in_addr v4{};
        std::memcpy(&v4, bytes.data() + 12, 4);
        if (inet_ntop(AF_INET, &v4, buf, sizeof buf) == nullptr) return {};
    } else {
        in6_addr v6{};
        std::memcpy(&v6, bytes.data(), 16);
        if (inet_ntop(AF_INET6, &v6, buf, sizeof buf) == nullptr) return {};
    }
    return buf;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    const auto inner = strip_brackets(text);
    if (!inner) return std::nullopt;
    return parse_bare(*inner, nullptr);
}

bool Cidr::contains(const IpAddress& a) const {
    return prefix_equal(network, a, prefix);
}

std::string Cidr::to_string() const {
    if (network.is_v4() && prefix >= kV4Offset) {
        return network.to_string() + "/" + std::to_string(prefix - kV4Offset);
    }
    return network.to_string() + "/" + std::to_string(prefix);
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
    std::string_view addr_text = text;
    std::optional<int> written_prefix;
    if (const auto slash = text.find('/'); slash != std::string_view::npos) {
        addr_text = text.substr(0, slash);
        const std::string_view digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3) return std::nullopt;
        if (digits.size() > 1 && digits.front() == '0') return std::nullopt;  // "/08"
        int n = 0;
        for (const char c : digits) {
            if (c < '0' || c > '9') return std::nullopt;
            n = n * 10 + (c - '0');
        }
        written_prefix = n;
    }
    const auto inner = strip_brackets(addr_text);
    if (!inner) return std::nullopt;
    bool was_v4 = false;
    const auto addr = parse_bare(*inner, &was_v4);
    if (!addr) return std::nullopt;

    Cidr c;
    if (was_v4) {
        const int n = written_prefix.value_or(32);
        if (n > 32) return std::nullopt;
        c.prefix = kV4Offset + n;
    } else {
        const int n = written_prefix.value_or(128);
        if (n > 128) return std::nullopt;
        c.prefix = n;
    }
    c.network = *addr;
    c.clear_host_bits();
    return c;
}

void Cidr::clear_host_bits() {
    // So that equal networks compare and print equal.
    for (int bit = prefix; bit < 128; ++bit)
        network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
}

std::string network_key(std::string_view ip, int v4_prefix, int v6_prefix) {
    // The common case, cheaply (once per connection and per login): an IPv4 address as the
    // kernel gives it, whose /32 is itself and whose /24 ends at its last dot.
    if (!ip.empty() && ip.find_first_not_of("0123456789.") == std::string_view::npos &&
        std::count(ip.begin(), ip.end(), '.') == 3) {
        if (v4_prefix == 32) return std::string(ip);
        if (v4_prefix == 24) return std::string(ip.substr(0, ip.rfind('.'))) + ".0/24";
    }
    const auto a = IpAddress::parse(ip);
    if (!a) return std::string(ip);
    if (a->is_v4() && v4_prefix == 32) return a->to_string();  // as the fast path spells it
    Cidr c{*a, a->is_v4() ? kV4Offset + v4_prefix : v6_prefix};
    c.clear_host_bits();
    return c.to_string();
}

bool CidrList::contains(const IpAddress& a) const {
    for (const auto& n : nets_) {
        if (n.contains(a)) return true;
    }
    return false;
}

}  // namespace sluice
