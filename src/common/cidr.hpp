// cidr.hpp: IPv4/IPv6 networks in CIDR notation, and lists of them, for access control.
//
// SECURITY: parses operator config (trusted) and matches client addresses taken from accept()
// (kernel supplied). IPv4-mapped IPv6 clients (::ffff:a.b.c.d) match IPv4 networks, so a dual-stack
// listener cannot be used to slip past an IPv4 deny list.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// An address in 16-byte form; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d).
struct IpAddress {
    std::array<std::uint8_t, 16> bytes{};
    bool is_v4() const;
    std::string to_string() const;
    static std::optional<IpAddress> parse(std::string_view text);  // "1.2.3.4", "::1", "[::1]"
    bool operator==(const IpAddress&) const = default;
};

struct Cidr {
    IpAddress network;  // host bits cleared
    int prefix = 0;     // 0..128 in the 16-byte form (IPv4 /n is stored as /(96+n))
    bool contains(const IpAddress& a) const;
    std::string to_string() const;  // IPv4 as "a.b.c.d/n"
    // "10.0.0.0/8", "::1/128", "192.0.2.1" (a single host). nullopt on bad syntax or prefix.
    static std::optional<Cidr> parse(std::string_view text);
    void clear_host_bits();
};

// The network `ip` belongs to, as text ("192.0.2.0/24", "2001:db8::/64"), for limits that count
// per network: one attacker commonly holds a whole IPv6 /64 (and often an IPv4 /24). Prefixes in
// their own family's bits (v4_prefix 0..32, v6_prefix 0..128). Text that is not an address is
// returned as is.
std::string network_key(std::string_view ip, int v4_prefix, int v6_prefix);

class CidrList {
  public:
    CidrList() = default;
    explicit CidrList(std::vector<Cidr> nets) : nets_(std::move(nets)) {}
    bool contains(const IpAddress& a) const;
    bool empty() const { return nets_.empty(); }
    const std::vector<Cidr>& nets() const { return nets_; }
    void add(const Cidr& c) { nets_.push_back(c); }

  private:
    std::vector<Cidr> nets_;
};

}  // namespace sluice
