// queue_filter.hpp: which queued messages an operator means (`sluice queue list|hold|release|
// delete|flush` with --sender, --recipient, --domain, --older-than, --newer-than, --held,
// --error), as Postfix's `postqueue -j | jq` and `postsuper -d` lists are used in an incident.
//
// Pure: it reads spool::QueueEntry values and a clock reading, so it is unit-tested without a
// spool. Every condition given must hold (AND); a filter with no condition matches everything.
// Patterns are shell globs (`*`, `?`, `[...]`), matched without regard to case, against the whole
// address; the null sender is "<>". --recipient, --domain and --error look at the recipients not
// yet delivered or failed (the ones the operator can still act on), so a message whose only
// pending recipient is at gmail.com matches --domain gmail.com even if others were delivered.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "spool/spool.hpp"

namespace sluice::queue {

struct QueueFilter {
    std::optional<std::string> sender;     // glob on the envelope sender ("<>" for the null one)
    std::optional<std::string> recipient;  // glob on a pending recipient's address
    std::optional<std::string> domain;     // a pending recipient's domain, exactly (any case)
    std::optional<std::chrono::seconds> older_than;  // received at least this long ago
    std::optional<std::chrono::seconds> newer_than;  // received less than this long ago
    std::optional<bool> held;                        // held (true) or not held (false)
    std::optional<std::string> error;  // substring (any case) of a pending recipient's last error

    bool empty() const {
        return !sender && !recipient && !domain && !older_than && !newer_than && !held && !error;
    }
};

// now_us: microseconds since the Unix epoch (as Envelope::received_at_us).
[[nodiscard]] bool matches(const QueueFilter& f, const spool::QueueEntry& e, std::int64_t now_us);

// Case-insensitive shell glob (fnmatch with FNM_CASEFOLD); exposed for tests.
[[nodiscard]] bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace sluice::queue
