// policies.cpp: see policies.hpp.
#include "server/policies.hpp"

#include "policy/stages.hpp"

namespace sluice::server {

policy::Chain build_chain(const config::Config& cfg, const config::Listener& listener,
                          const delivery::LocalRouter& router, bool auth,
                          policy::RateLimiter* limiter, dns::Lookup& dns) {
    policy::Chain c;
    c.add(policy::access_stage(cfg, listener));
    if (auth) c.add(policy::sender_stage(cfg.auth.check_from_header));
    if (limiter &&
        (limiter->has(policy::Metric::messages) || limiter->has(policy::Metric::recipients)))
        c.add(policy::rate_limit_stage(*limiter));
    c.add(policy::loop_stage(cfg.limits.received_headers));
    // After the cheap local checks: a client refused anyway costs no DNS lookups.
    if (listener.verifies() && (cfg.verify.spf || cfg.verify.dkim || cfg.verify.dmarc))
        c.add(policy::verify_stage(cfg.verify, dns));
    c.add(policy::recipient_stage(router));  // last at RCPT: see policies.hpp
    return c;
}

}  // namespace sluice::server
