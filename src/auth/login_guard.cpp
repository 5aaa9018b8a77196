// login_guard.cpp: failed-login delays and lockouts (see login_guard.hpp).
#include "auth/login_guard.hpp"

#include <algorithm>

namespace sluice::auth {

LoginGuard::clock::duration LoginGuard::locked_for(const std::string& ip, clock::time_point now) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(ip);
    if (it == entries_.end() || it->second.locked_until <= now) return clock::duration::zero();
    return it->second.locked_until - now;
}

LoginGuard::Failure LoginGuard::failure(const std::string& ip, clock::time_point now) {
    std::lock_guard lock(mu_);
    if (entries_.size() >= kMaxEntries && !entries_.count(ip)) prune(now);
    Entry& e = entries_[ip];
    if (e.failures == 0 || now - e.window_start > policy_.window) {
        e.failures = 0;
        e.window_start = now;
    }
    ++e.failures;
    e.last = now;
    Failure f{policy_.delay, false, e.failures};
    for (std::size_t i = 1; i < e.failures && f.delay < policy_.max_delay; ++i) f.delay *= 2;
    f.delay = std::min<clock::duration>(f.delay, policy_.max_delay);
    if (e.failures >= policy_.max_failures) {
        e.locked_until = now + policy_.lockout;
        e.failures = 0;  // a fresh window after the lockout
        f.locked_now = true;
    }
    return f;
}

void LoginGuard::success(const std::string& ip) {
    std::lock_guard lock(mu_);
    // Logins are not attempted while locked out, so nothing worth keeping is lost here.
    entries_.erase(ip);
}

std::size_t LoginGuard::tracked() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

void LoginGuard::prune(clock::time_point now) {
    std::erase_if(entries_, [&](const auto& kv) {
        return kv.second.locked_until <= now && now - kv.second.last > policy_.window;
    });
    if (entries_.size() < kMaxEntries) return;
    auto oldest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
    if (oldest != entries_.end()) entries_.erase(oldest);
}

}  // namespace sluice::auth
