// policies.hpp: the Policy chain each listener runs, built from the configuration. The order is
// the order of the checks: a cheap refusal before an expensive one, and the recipient stage last
// at RCPT so that nothing after it can turn a relay refusal into an acceptance.
#pragma once

#include "config/config.hpp"
#include "delivery/local_router.hpp"
#include "dns/resolver.hpp"
#include "policy/chain.hpp"
#include "policy/rate_limit.hpp"

namespace sluice::server {

// `auth`: a user store exists (sender ownership is checked); `limiter` may be null (no limits);
// `dns` answers the verification stage's lookups.
policy::Chain build_chain(const config::Config& cfg, const config::Listener& listener,
                          const delivery::LocalRouter& router, bool auth,
                          policy::RateLimiter* limiter, dns::Lookup& dns);

}  // namespace sluice::server
