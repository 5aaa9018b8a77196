#include "intake/received.hpp"

#include <fmt/format.h>

#include "common/date.hpp"

namespace sluice::intake {

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

}  // namespace sluice::intake
