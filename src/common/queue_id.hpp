// queue_id.hpp: unique, time-ordered queue IDs for accepted messages.
//
// An ID is 16 characters of Crockford base-32 (0-9, A-Z without I L O U): 11 for the acceptance
// time in microseconds and 5 for a per-process counter mixed with random bits, so IDs sort by
// arrival, never repeat within a process, and do not collide across restarts. They are safe as file
// names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

// Thread-safe.
std::string new_queue_id(std::int64_t now_us);

// True when s looks like an ID this module made (used before turning untrusted input into a path).
bool is_valid_queue_id(std::string_view s);

}  // namespace sluice
