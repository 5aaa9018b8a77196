// queue_util.hpp: small helpers shared by the queue's files (private to src/queue).
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "smtp/reply.hpp"

namespace sluice::queue {

inline std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline std::int64_t to_us(config::Duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// "550 5.1.1 no such user": a reply as one line, for status records, logs and DSNs.
inline std::string reply_line(const smtp::Reply& r) {
    return r.enhanced.empty() ? fmt::format("{} {}", r.code, r.text)
                              : fmt::format("{} {} {}", r.code, r.enhanced, r.text);
}

}  // namespace sluice::queue
