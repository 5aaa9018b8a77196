// connection_limits.hpp: counts open connections in total and per client IP, so one client (or a
// flood of idle sockets) cannot take every slot. Thread-safe; acquire/release are O(1).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice::server {

class ConnectionLimits {
  public:
    enum class Admit { ok, total_full, ip_full };

    ConnectionLimits(std::size_t total, std::size_t per_ip) : total_(total), per_ip_(per_ip) {}

    // On ok, the caller must release(ip) exactly once when the connection ends.
    Admit acquire(const std::string& ip);
    void release(const std::string& ip);
    std::size_t active() const;

  private:
    mutable std::mutex mu_;
    std::size_t total_;
    std::size_t per_ip_;
    std::size_t active_ = 0;
    std::unordered_map<std::string, std::size_t> per_ip_count_;
};

}  // namespace sluice::server
