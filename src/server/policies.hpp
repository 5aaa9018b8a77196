// policies.hpp: the Policy chain each listener runs, built from the configuration. The order is
// the order of the checks: a cheap refusal before an expensive one, and the recipient stage last
// at RCPT so that nothing after it can turn a relay refusal into an acceptance.
#pragma once

#include "policy/chain.hpp"
#include "server/context.hpp"

namespace sluice::server {

// ctx.rate_limiter may be null (no limits configured).
policy::Chain build_chain(const Context& ctx, const config::Listener& listener);

}  // namespace sluice::server
