// policies.cpp: see policies.hpp.
#include "server/policies.hpp"

#include "policy/stages.hpp"

namespace sluice::server {

policy::Chain build_chain(const Context& ctx, const config::Listener& listener) {
    policy::Chain c;
    c.add(policy::access_stage(ctx.cfg, listener));
    if (ctx.users) c.add(policy::sender_stage(ctx.cfg.auth.check_from_header));
    if (ctx.rate_limiter && (ctx.rate_limiter->has(policy::Metric::messages) ||
                             ctx.rate_limiter->has(policy::Metric::recipients)))
        c.add(policy::rate_limit_stage(*ctx.rate_limiter));
    c.add(policy::loop_stage(ctx.cfg.limits.received_headers));
    c.add(policy::recipient_stage(ctx.router));  // last at RCPT: see policies.hpp
    return c;
}

}  // namespace sluice::server
