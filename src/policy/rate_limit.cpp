// rate_limit.cpp: fixed-window sending limits (see rate_limit.hpp).
#include "policy/rate_limit.hpp"

#include "common/ascii.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sluice::policy {
namespace {

std::string format_window(std::chrono::milliseconds w) {
    const auto ms = w.count();
    if (ms % 86400000 == 0) return std::to_string(ms / 86400000) + "d";
    if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
    if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

}  // namespace

std::string_view scope_name(Scope s) {
    switch (s) {
        case Scope::ip:
            return "ip";
        case Scope::user:
            return "user";
        case Scope::sender:
            return "sender";
    }
    return "?";
}

std::string_view metric_name(Metric m) {
    switch (m) {
        case Metric::connections:
            return "connections";
        case Metric::messages:
            return "messages";
        case Metric::recipients:
            return "recipients";
    }
    return "?";
}

std::uint64_t MemoryCounterStore::get(const std::string& key, std::int64_t window_start) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end() || it->second.window_start != window_start) return 0;
    return it->second.count;
}

void MemoryCounterStore::add(const std::string& key, std::int64_t window_start,
                             std::int64_t expires, std::uint64_t n) {
    std::lock_guard lock(mu_);
    // Drop expired windows now and then, so memory follows the active clients only.
    if (window_start - last_prune_ > 60000 || map_.size() > 100000) prune(window_start);
    auto [it, fresh] = map_.try_emplace(key, Value{window_start, expires, 0});
    if (!fresh && it->second.window_start != window_start)
        it->second = Value{window_start, expires, 0};
    it->second.count += n;
}

void MemoryCounterStore::prune(std::int64_t now) {
    last_prune_ = now;
    std::erase_if(map_, [now](const auto& kv) { return kv.second.expires <= now; });
}

std::vector<CounterEntry> MemoryCounterStore::snapshot(std::int64_t now) {
    std::lock_guard lock(mu_);
    std::vector<CounterEntry> out;
    out.reserve(map_.size());
    for (const auto& [k, v] : map_)
        if (v.expires > now) out.push_back({k, v.window_start, v.expires, v.count});
    return out;
}

void MemoryCounterStore::restore(const std::vector<CounterEntry>& entries, std::int64_t now) {
    std::lock_guard lock(mu_);
    for (const auto& e : entries)
        if (e.expires > now) map_[e.key] = Value{e.window_start, e.expires, e.count};
}

std::size_t MemoryCounterStore::size() {
    std::lock_guard lock(mu_);
    return map_.size();
}

RateLimiter::RateLimiter(std::vector<Rule> rules, CounterStore& store)
    : rules_(std::move(rules)), store_(store) {}

bool RateLimiter::has(Metric m) const {
    for (const auto& r : rules_)
        if (r.metric == m) return true;
    return false;
}

std::string_view RateLimiter::subject(const Rule& r, const Subjects& who) {
    switch (r.scope) {
        case Scope::ip:
            return who.ip;
        case Scope::user:
            return who.user;
        case Scope::sender:
            return who.sender;
    }
    return {};
}

std::string RateLimiter::key(const Rule& r, std::string_view subject) {
    std::string k;
    k.reserve(subject.size() + 32);
    k += scope_name(r.scope);
    k += ' ';
    k += metric_name(r.metric);
    k += ' ';
    k += std::to_string(r.window.count());
    k += ' ';
    k += ascii_lower(subject);
    return k;
}

std::optional<Rule> RateLimiter::check(Metric m, const Subjects& who, std::uint64_t n,
                                       std::int64_t now) {
    for (const auto& r : rules_) {
        if (r.metric != m) continue;
        const auto s = subject(r, who);
        if (s.empty()) continue;
        const std::int64_t w = r.window.count();
        const std::int64_t start = now - now % w;
        if (store_.get(key(r, s), start) + n > r.limit) return r;
    }
    return std::nullopt;
}

void RateLimiter::record(Metric m, const Subjects& who, std::uint64_t n, std::int64_t now) {
    for (const auto& r : rules_) {
        if (r.metric != m) continue;
        const auto s = subject(r, who);
        if (s.empty()) continue;
        const std::int64_t w = r.window.count();
        const std::int64_t start = now - now % w;
        store_.add(key(r, s), start, start + w, n);
    }
}

std::string RateLimiter::describe(const Rule& r) {
    std::string who = r.scope == Scope::ip     ? "your address"
                      : r.scope == Scope::user ? "your account"
                                               : "this sender";
    return "Rate limit exceeded: at most " + std::to_string(r.limit) + " " +
           std::string(metric_name(r.metric)) + " per " + format_window(r.window) + " for " + who +
           ", try again later";
}

void save_counters(const std::string& path, const std::vector<CounterEntry>& entries) {
    std::ostringstream out;
    out << "sluice-counters 1\n";
    for (const auto& e : entries)
        out << e.window_start << ' ' << e.expires << ' ' << e.count << ' ' << e.key << '\n';
    const std::string text = out.str();
    const std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + tmp);
    std::size_t off = 0;
    bool ok = true;
    while (ok && off < text.size()) {
        ssize_t w = ::write(fd, text.data() + off, text.size() - off);
        if (w < 0)
            ok = false;
        else
            off += static_cast<std::size_t>(w);
    }
    ok = ::fsync(fd) == 0 && ok;
    ok = ::close(fd) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw std::runtime_error("cannot write " + path);
    }
}

std::vector<CounterEntry> load_counters(const std::string& path) {
    std::vector<CounterEntry> out;
    std::ifstream in(path);
    if (!in) return out;
    std::string line;
    if (!std::getline(in, line) || line != "sluice-counters 1") return out;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        CounterEntry e;
        if (!(ls >> e.window_start >> e.expires >> e.count)) continue;
        ls.get();  // the space before the key
        std::getline(ls, e.key);
        if (!e.key.empty()) out.push_back(std::move(e));
    }
    return out;
}

}  // namespace sluice::policy
