// login_guard.hpp: failed-login bookkeeping per client address: each failure earns a delay that
// doubles with every failure (up to a cap), and too many failures within a window lock the address
// out for a while. Pure logic with the clock passed in, so it is unit-tested without sleeping;
// thread-safe, since connections on every event-loop thread share one guard.
//
// SECURITY: the client address is the key (a login name would let an attacker lock a victim out).
// Memory is bounded: past kMaxEntries tracked addresses, stale entries are pruned and, if that is
// not enough, the oldest entry is dropped.
// STANDARDS: RFC 4954 4 (535 5.7.8 on failure; 454 4.7.0 for a temporary refusal).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice::auth {

struct LockoutPolicy {
    using Duration = std::chrono::milliseconds;
    std::size_t max_failures = 5;  // failures within `window` that lock out
    Duration window = std::chrono::minutes(10);
    Duration lockout = std::chrono::minutes(15);
    Duration delay = std::chrono::seconds(1);  // after the first failure; doubles each time
    Duration max_delay = std::chrono::seconds(8);
};

class LoginGuard {
  public:
    using clock = std::chrono::steady_clock;
    static constexpr std::size_t kMaxEntries = 100000;

    explicit LoginGuard(LockoutPolicy policy) : policy_(policy) {}

    // Time left on a lockout of `ip` (zero when it may try).
    clock::duration locked_for(const std::string& ip, clock::time_point now);

    struct Failure {
        clock::duration delay;  // wait this long before answering 535
        bool locked_now;        // this failure started a lockout
        std::size_t count;      // failures in the current window
    };
    Failure failure(const std::string& ip, clock::time_point now);

    void success(const std::string& ip);

    std::size_t tracked() const;

  private:
    struct Entry {
        std::size_t failures = 0;
        clock::time_point window_start;
        clock::time_point locked_until;
        clock::time_point last;
    };
    void prune(clock::time_point now);

    LockoutPolicy policy_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace sluice::auth
