// rate_limit.hpp: sending limits per client IP, per authenticated user and per envelope sender:
// connections, messages and recipients per fixed window (e.g. per minute, hour, day). Pure logic
// over a CounterStore; time is passed in (milliseconds since the Unix epoch), so tests need no
// sleeping. The server asks at connect (connections), MAIL (messages) and RCPT (recipients), and
// counts messages and recipients once a message is committed.
//
// SECURITY: keys come from the client (IP from accept(), sender from MAIL), but they are only map
// keys here; the store bounds its memory by dropping expired windows.
// STANDARDS: RFC 3463 (4.7.x codes are chosen by the caller).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::policy {

enum class Scope { ip, user, sender };
enum class Metric { connections, messages, recipients };

std::string_view scope_name(Scope s);
std::string_view metric_name(Metric m);

struct Rule {
    Scope scope = Scope::ip;
    Metric metric = Metric::messages;
    std::uint64_t limit = 0;
    std::chrono::milliseconds window{60000};
};

// Counters for fixed windows. Thread-safe. A Redis-backed store (INCRBY + PEXPIREAT) fits the
// same interface for a cluster.
class CounterStore {
  public:
    virtual ~CounterStore() = default;
    // The counter `key` in the window that started at `window_start` (ms); 0 when absent.
    virtual std::uint64_t get(const std::string& key, std::int64_t window_start) = 0;
    // Adds n; the counter may be forgotten after `expires` (ms).
    virtual void add(const std::string& key, std::int64_t window_start, std::int64_t expires,
                     std::uint64_t n) = 0;
};

struct CounterEntry {
    std::string key;
    std::int64_t window_start = 0;
    std::int64_t expires = 0;
    std::uint64_t count = 0;
};

class MemoryCounterStore final : public CounterStore {
  public:
    std::uint64_t get(const std::string& key, std::int64_t window_start) override;
    void add(const std::string& key, std::int64_t window_start, std::int64_t expires,
             std::uint64_t n) override;
    // Persistence: the live counters, and loading them back after a restart.
    std::vector<CounterEntry> snapshot(std::int64_t now);
    void restore(const std::vector<CounterEntry>& entries, std::int64_t now);
    std::size_t size();

  private:
    struct Value {
        std::int64_t window_start;
        std::int64_t expires;
        std::uint64_t count;
    };
    void prune(std::int64_t now);
    std::mutex mu_;
    std::unordered_map<std::string, Value> map_;
    std::int64_t last_prune_ = 0;
};

// Who is acting: empty fields are not limited (no user before AUTH; no sender before MAIL).
struct Subjects {
    std::string_view ip;
    std::string_view user;
    std::string_view sender;
};

class RateLimiter {
  public:
    RateLimiter(std::vector<Rule> rules, CounterStore& store);

    bool has(Metric m) const;
    // The first rule that adding `n` would exceed, if any; counts nothing.
    std::optional<Rule> check(Metric m, const Subjects& who, std::uint64_t n, std::int64_t now);
    void record(Metric m, const Subjects& who, std::uint64_t n, std::int64_t now);

    // "4.7.1 Rate limit: 10 messages per 1h for your address exceeded, try again later"-style text.
    static std::string describe(const Rule& r);

  private:
    static std::string key(const Rule& r, std::string_view subject);
    static std::string_view subject(const Rule& r, const Subjects& who);
    std::vector<Rule> rules_;
    CounterStore& store_;
};

// Counter persistence in a small text file, written atomically (tmp, fsync, rename). Blocking:
// call off the event loop.
void save_counters(const std::string& path, const std::vector<CounterEntry>& entries);
std::vector<CounterEntry> load_counters(const std::string& path);  // missing file: empty

}  // namespace sluice::policy
