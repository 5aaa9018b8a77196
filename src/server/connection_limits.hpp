// connection_limits.hpp: counts open connections in total, per client address and per client
// network, so one client (or a flood of idle sockets) cannot take every slot. An IPv6 client
// counts per /64 (one attacker commonly holds a whole /64, so per-address limits would not bind);
// networks are IPv4 /24 and IPv6 /48. Thread-safe; acquire/release are O(1).
//
// Stress: past `stress_at` connections the server is under stress (Postfix's term): connections
// get shorter command deadlines, and when every slot is taken a new client may take the slot of
// the idlest unauthenticated connection (force_acquire, after the server evicted one).
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice::server {

class ConnectionLimits {
  public:
    enum class Admit { ok, total_full, ip_full, net_full };

    // stress_at 0: three quarters of `total`.
    ConnectionLimits(std::size_t total, std::size_t per_ip, std::size_t per_net = 0,
                     std::size_t stress_at = 0);

    // On ok, the caller must release(ip) exactly once when the connection ends.
    Admit acquire(const std::string& ip);
    // As acquire, but past the total: the caller has just evicted a connection, whose slot
    // comes back when it closes. Per-address and per-network limits still apply.
    Admit force_acquire(const std::string& ip);
    void release(const std::string& ip);
    std::size_t active() const;
    bool stressed() const;

  private:
    Admit take(const std::string& ip, bool over_total);

    mutable std::mutex mu_;
    std::size_t total_;
    std::size_t per_ip_;
    std::size_t per_net_;
    std::size_t stress_at_;
    std::atomic<std::size_t> active_{0};  // written under mu_; read without it (stressed())
    std::unordered_map<std::string, std::size_t> per_ip_count_;
    std::unordered_map<std::string, std::size_t> per_net_count_;
};

}  // namespace sluice::server
