// connection_limits.cpp: see connection_limits.hpp.
#include "server/connection_limits.hpp"

#include "common/cidr.hpp"

namespace sluice::server {
namespace {

std::string address_key(const std::string& ip) {
    return network_key(ip, 32, 64);
}
std::string net_key(const std::string& ip) {
    return network_key(ip, 24, 48);
}

void drop(std::unordered_map<std::string, std::size_t>& m, const std::string& key) {
    auto it = m.find(key);
    if (it != m.end() && --it->second == 0) m.erase(it);
}

}  // namespace

ConnectionLimits::ConnectionLimits(std::size_t total, std::size_t per_ip, std::size_t per_net,
                                   std::size_t stress_at)
    : total_(total),
      per_ip_(per_ip),
      per_net_(per_net == 0 ? total : per_net),
      stress_at_(stress_at == 0 ? total - total / 4 : stress_at) {}

ConnectionLimits::Admit ConnectionLimits::take(const std::string& ip, bool over_total) {
    const std::string a = address_key(ip), n = net_key(ip);
    std::lock_guard lock(mu_);
    // The client's own limits first: a client over them must not make the server evict a
    // session (of someone else) for a slot it would not get anyway.
    auto ai = per_ip_count_.find(a);
    if (ai != per_ip_count_.end() && ai->second >= per_ip_) return Admit::ip_full;
    auto ni = per_net_count_.find(n);
    if (ni != per_net_count_.end() && ni->second >= per_net_) return Admit::net_full;
    if (!over_total && active_ >= total_) return Admit::total_full;
    ++per_ip_count_[a];
    ++per_net_count_[n];
    ++active_;
    return Admit::ok;
}

ConnectionLimits::Admit ConnectionLimits::acquire(const std::string& ip) {
    return take(ip, false);
}

ConnectionLimits::Admit ConnectionLimits::force_acquire(const std::string& ip) {
    return take(ip, true);
}

void ConnectionLimits::release(const std::string& ip) {
    const std::string a = address_key(ip), n = net_key(ip);
    std::lock_guard lock(mu_);
    drop(per_ip_count_, a);
    drop(per_net_count_, n);
    if (active_ > 0) --active_;
}

std::size_t ConnectionLimits::active() const {
    return active_.load(std::memory_order_relaxed);
}

bool ConnectionLimits::stressed() const {
    // Asked at every command: no lock (an answer a connection late does not matter).
    return active_.load(std::memory_order_relaxed) >= stress_at_;
}

}  // namespace sluice::server
