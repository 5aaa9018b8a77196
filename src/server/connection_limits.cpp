#include "server/connection_limits.hpp"

namespace sluice::server {

ConnectionLimits::Admit ConnectionLimits::acquire(const std::string& ip) {
    std::lock_guard lock(mu_);
    if (active_ >= total_) return Admit::total_full;
    auto& n = per_ip_count_[ip];
    if (n >= per_ip_) {
        if (n == 0) per_ip_count_.erase(ip);
        return Admit::ip_full;
    }
    ++n;
    ++active_;
    return Admit::ok;
}

void ConnectionLimits::release(const std::string& ip) {
    std::lock_guard lock(mu_);
    auto it = per_ip_count_.find(ip);
    if (it != per_ip_count_.end() && --it->second == 0) per_ip_count_.erase(it);
    if (active_ > 0) --active_;
}

std::size_t ConnectionLimits::active() const {
    std::lock_guard lock(mu_);
    return active_;
}

}  // namespace sluice::server
