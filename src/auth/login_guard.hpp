// login_guard.hpp: who may try a password now, and what a failure costs. Two ledgers:
//
// - per client address (IPv6: per /64, which one attacker holds whole): each failure earns a delay
//   that doubles (up to a cap), and max_failures within the window lock the address out. Attempts
//   in flight count before their hash is checked (reserve, then settle): concurrent connections
//   get no more guesses than one connection would, and once the address is locked nothing from
//   it succeeds, not even an attempt that was already being checked. A success forgives only the
//   failures of the account that logged in, never another account's (else an attacker with one
//   account of his own could reset his count between guesses at a victim's).
// - per account, across addresses (a distributed attack): past account_free failures within the
//   window, attempts at that account are spaced by a delay that doubles up to account_max_delay;
//   an attempt that would wait longer than that is refused for now (454) without checking the
//   password. Never a hard lock (an attacker must not be able to lock the owner out), and networks
//   the account logged in from before skip the spacing, so the owner is not slowed down by it.
//
// Pure logic with the clock passed in, so it is unit-tested without sleeping; thread-safe, since
// connections on every event-loop thread share one guard. Memory is bounded: past kMaxEntries
// tracked keys in a ledger, stale entries are pruned and, if that is not enough, the oldest goes.
// STANDARDS: RFC 4954 4 (535 5.7.8 on failure; 454 4.7.0 for a temporary refusal).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice::auth {

struct LockoutPolicy {
    using Duration = std::chrono::milliseconds;
    std::size_t max_failures = 5;  // failures (and attempts in flight) within `window` that lock
    Duration window = std::chrono::minutes(10);
    Duration lockout = std::chrono::minutes(15);
    Duration delay = std::chrono::seconds(1);  // after the first failure; doubles each time
    Duration max_delay = std::chrono::seconds(8);
    std::size_t account_free = 5;  // failures at one account (any address) before spacing starts
    Duration account_max_delay = std::chrono::seconds(30);
};

class LoginGuard {
  public:
    using clock = std::chrono::steady_clock;
    static constexpr std::size_t kMaxEntries = 100000;
    static constexpr std::size_t kKnownNetworks = 8;  // per account

    explicit LoginGuard(LockoutPolicy policy) : policy_(policy) {}

    enum class Decision {
        check,      // check the password (after `wait`), then settle with failed()/succeeded()
        locked,     // the address is locked out: 454, no check
        busy,       // as many attempts are in flight as the address has guesses left: 454
        throttled,  // the account is under attack and its next slot is too far off: 454
    };
    struct Attempt {
        Decision decision = Decision::locked;
        clock::duration wait{};         // check: sleep this long first (the account's slot)
        bool throttle_started = false;  // this attempt started spacing for the account (log it)
    };
    // `ip` is the client address as text, `account` the login name (compared case-insensitively).
    // Decision::check reserves a guess: settle it exactly once with failed() or succeeded().
    Attempt begin(const std::string& ip, const std::string& account, clock::time_point now);

    struct Failure {
        clock::duration delay;  // wait this long before answering 535
        bool locked_now;        // this failure started a lockout of the address
        std::size_t count;      // the address's failures in the current window
    };
    Failure failed(const std::string& ip, const std::string& account, clock::time_point now);
    // The password was right. False when the address was locked meanwhile (by attempts that
    // settled first): refuse it as locked, the login does not count.
    bool succeeded(const std::string& ip, const std::string& account, clock::time_point now);

    // Time left on a lockout of `ip` (zero when it may try).
    clock::duration locked_for(const std::string& ip, clock::time_point now);
    std::size_t tracked() const;  // addresses and accounts in the ledgers

    // Counters for the operator (logs, and metrics once they are exported).
    std::uint64_t throttled_attempts() const { return throttled_total_.load(); }
    std::uint64_t lockouts() const { return lockouts_total_.load(); }

  private:
    struct Address {
        std::vector<std::string> failed_accounts;  // one per failure in the window
        std::size_t in_flight = 0;
        clock::time_point window_start;
        clock::time_point locked_until;
        clock::time_point last;
    };
    struct Account {
        std::size_t failures = 0;
        std::size_t in_flight = 0;
        clock::time_point window_start;
        clock::time_point next_slot;
        clock::time_point last;
        std::vector<std::string> known_networks;  // logged in from these; newest last
    };
    Address& address(const std::string& key, clock::time_point now);
    Account& account(const std::string& key, clock::time_point now);

    LockoutPolicy policy_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, Address> addresses_;
    std::unordered_map<std::string, Account> accounts_;
    std::atomic<std::uint64_t> throttled_total_{0};
    std::atomic<std::uint64_t> lockouts_total_{0};
};

}  // namespace sluice::auth
