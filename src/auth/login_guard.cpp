// login_guard.cpp: reserve-then-settle login attempts, per-address lockouts and per-account
// spacing (see login_guard.hpp).
#include "auth/login_guard.hpp"

#include <algorithm>
#include <vector>

#include "common/ascii.hpp"
#include "common/cidr.hpp"

namespace sluice::auth {
namespace {

// The address ledger's key: an IPv4 address, or the /64 an IPv6 address is in.
std::string address_key(const std::string& ip) {
    return network_key(ip, 32, 64);
}
// A network an account logged in from: wide enough for a dynamic address that changes.
std::string home_key(const std::string& ip) {
    return network_key(ip, 24, 64);
}

LoginGuard::clock::duration doubled(LoginGuard::clock::duration base, std::size_t times,
                                    LoginGuard::clock::duration cap) {
    for (std::size_t i = 0; i < times && base < cap; ++i) base *= 2;
    return std::min(base, cap);
}

// Makes room in a full ledger: stale entries go, and if that is not enough, the least recently
// seen tenth (never one with an attempt in flight). A tenth at once keeps a flood of new keys from
// costing a pass over the whole ledger each.
template <class Entry, class Stale>
void prune(std::unordered_map<std::string, Entry>& m, Stale stale) {
    std::erase_if(m, [&](const auto& kv) { return kv.second.in_flight == 0 && stale(kv.second); });
    if (m.size() < LoginGuard::kMaxEntries) return;
    std::vector<LoginGuard::clock::time_point> seen;
    seen.reserve(m.size());
    for (const auto& kv : m)
        if (kv.second.in_flight == 0) seen.push_back(kv.second.last);
    if (seen.empty()) return;
    const std::size_t k = std::min(seen.size() - 1, LoginGuard::kMaxEntries / 10);
    std::nth_element(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(k), seen.end());
    const auto cutoff = seen[k];
    std::erase_if(
        m, [&](const auto& kv) { return kv.second.in_flight == 0 && kv.second.last <= cutoff; });
}

}  // namespace

LoginGuard::Address& LoginGuard::address(const std::string& key, clock::time_point now) {
    if (addresses_.size() >= kMaxEntries && !addresses_.count(key))
        prune(addresses_, [&](const Address& a) {
            return a.locked_until <= now && now - a.last > policy_.window;
        });
    Address& a = addresses_[key];
    if (!a.failed_accounts.empty() && now - a.window_start > policy_.window)
        a.failed_accounts.clear();
    if (a.failed_accounts.empty() && a.in_flight == 0) a.window_start = now;
    a.last = now;
    return a;
}

LoginGuard::Account& LoginGuard::account(const std::string& key, clock::time_point now) {
    if (accounts_.size() >= kMaxEntries && !accounts_.count(key))
        prune(accounts_, [&](const Account& a) { return now - a.last > policy_.window; });
    Account& a = accounts_[key];
    if (a.failures > 0 && now - a.window_start > policy_.window) a.failures = 0;
    if (a.failures == 0) a.window_start = now;
    a.last = now;
    return a;
}

LoginGuard::Attempt LoginGuard::begin(const std::string& ip, const std::string& login,
                                      clock::time_point now) {
    std::lock_guard lock(mu_);
    Address& a = address(address_key(ip), now);
    if (a.locked_until > now) return {Decision::locked};
    if (a.failed_accounts.size() + a.in_flight >= policy_.max_failures) return {Decision::busy};

    Account& acct = account(ascii_lower(login), now);
    Attempt out{Decision::check};
    const bool home = std::find(acct.known_networks.begin(), acct.known_networks.end(),
                                home_key(ip)) != acct.known_networks.end();
    const std::size_t pressure = acct.failures + acct.in_flight;
    if (!home && pressure >= policy_.account_free) {
        const auto start = std::max(now, acct.next_slot);
        if (start - now > policy_.account_max_delay) {
            ++throttled_total_;
            return {Decision::throttled};
        }
        acct.next_slot = start + doubled(policy_.delay, pressure - policy_.account_free,
                                         policy_.account_max_delay);
        out.wait = start - now;
        out.throttle_started = pressure == policy_.account_free;
        ++throttled_total_;
    }
    ++a.in_flight;
    ++acct.in_flight;
    return out;
}

LoginGuard::Failure LoginGuard::failed(const std::string& ip, const std::string& login,
                                       clock::time_point now) {
    std::lock_guard lock(mu_);
    Account& acct = account(ascii_lower(login), now);
    if (acct.in_flight > 0) --acct.in_flight;
    ++acct.failures;

    Address& a = address(address_key(ip), now);
    if (a.in_flight > 0) --a.in_flight;
    a.failed_accounts.push_back(ascii_lower(login));
    Failure f{doubled(policy_.delay, a.failed_accounts.size() - 1, policy_.max_delay), false,
              a.failed_accounts.size()};
    if (a.failed_accounts.size() >= policy_.max_failures && a.locked_until <= now) {
        a.locked_until = now + policy_.lockout;
        a.failed_accounts.clear();  // a fresh window after the lockout
        f.locked_now = true;
        ++lockouts_total_;
    }
    return f;
}

bool LoginGuard::succeeded(const std::string& ip, const std::string& login, clock::time_point now) {
    std::lock_guard lock(mu_);
    const std::string name = ascii_lower(login);
    Account& acct = account(name, now);
    if (acct.in_flight > 0) --acct.in_flight;
    Address& a = address(address_key(ip), now);
    if (a.in_flight > 0) --a.in_flight;
    if (a.locked_until > now) return false;
    // Forgive this account's own failures from here (the owner mistyped), nobody else's.
    std::erase(a.failed_accounts, name);
    // The account's spacing is not reset: the owner logging in often must not hand an attacker
    // fresh free guesses. Its home network skips the spacing from now on instead.
    const std::string home = home_key(ip);
    std::erase(acct.known_networks, home);
    acct.known_networks.push_back(home);
    if (acct.known_networks.size() > kKnownNetworks)
        acct.known_networks.erase(acct.known_networks.begin());
    return true;
}

LoginGuard::clock::duration LoginGuard::locked_for(const std::string& ip, clock::time_point now) {
    std::lock_guard lock(mu_);
    auto it = addresses_.find(address_key(ip));
    if (it == addresses_.end() || it->second.locked_until <= now) return clock::duration::zero();
    return it->second.locked_until - now;
}

std::size_t LoginGuard::tracked() const {
    std::lock_guard lock(mu_);
    return addresses_.size() + accounts_.size();
}

}  // namespace sluice::auth
