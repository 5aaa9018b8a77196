// queue_filter.cpp: operator filters over queue entries (see queue_filter.hpp).
#include "queue/queue_filter.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>

namespace sluice::queue {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool pending(const spool::QueueEntry& e, std::size_t i) {
    return i >= e.recipients.size() || e.recipients[i].state == spool::RecipientState::pending;
}

}  // namespace

bool glob_match(const std::string& pattern, const std::string& text) {
    return ::fnmatch(pattern.c_str(), text.c_str(), FNM_CASEFOLD) == 0;
}

bool matches(const QueueFilter& f, const spool::QueueEntry& e, std::int64_t now_us) {
    const auto& env = e.envelope;
    if (f.held && *f.held != e.held) return false;
    if (f.sender && !glob_match(*f.sender, env.sender.empty() ? "<>" : env.sender)) return false;
    const std::int64_t age_us = now_us - env.received_at_us;
    if (f.older_than && age_us < std::chrono::microseconds(*f.older_than).count()) return false;
    if (f.newer_than && age_us >= std::chrono::microseconds(*f.newer_than).count()) return false;
    if (!f.recipient && !f.domain && !f.error) return true;
    // One pending recipient must satisfy every recipient condition.
    const std::string want_domain = f.domain ? lower(*f.domain) : std::string();
    const std::string want_error = f.error ? lower(*f.error) : std::string();
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
        if (!pending(e, i)) continue;
        const std::string& addr = env.recipients[i].address;
        if (f.recipient && !glob_match(*f.recipient, addr)) continue;
        if (f.domain) {
            const auto at = addr.rfind('@');
            if (at == std::string::npos || lower(addr.substr(at + 1)) != want_domain) continue;
        }
        if (f.error) {
            const std::string err =
                i < e.recipients.size() ? lower(e.recipients[i].last_error) : "";
            if (err.find(want_error) == std::string::npos) continue;
        }
        return true;
    }
    return false;
}

}  // namespace sluice::queue
