#include "smtp/received.hpp"

#include <fmt/format.h>

#include <ctime>

namespace sluice::smtp {

std::string rfc5322_date(std::int64_t unix_seconds) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{}, {} {} {} {:02}:{:02}:{:02} +0000", kDays[tm.tm_wday], tm.tm_mday,
                       kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string received_header(const Envelope& env, const std::string& hostname,
                            std::string_view tls) {
    std::string h;
    h.reserve(256);
    bool v6 = env.client_ip.find(':') != std::string::npos;
    fmt::format_to(std::back_inserter(h), "Received: from {} ([{}{}])\r\n\tby {} (Sluice) with {}",
                   env.helo.empty() ? "unknown" : env.helo, v6 ? "IPv6:" : "", env.client_ip,
                   hostname, env.protocol);
    if (!tls.empty()) fmt::format_to(std::back_inserter(h), " ({})", tls);
    fmt::format_to(std::back_inserter(h), " id {}", env.queue_id);
    // Naming the recipient is only safe when there is one (more would disclose Bcc recipients).
    if (env.recipients.size() == 1)
        fmt::format_to(std::back_inserter(h), "\r\n\tfor <{}>", env.recipients[0].address);
    fmt::format_to(std::back_inserter(h), "; {}\r\n", rfc5322_date(env.received_at_us / 1000000));
    return h;
}

}  // namespace sluice::smtp
