// access_stage.cpp: [access] and per-listener allow/deny lists, at connect (see stages.hpp).
#include <fmt/format.h>

#include "policy/stages.hpp"

namespace sluice::policy {
namespace {

class AccessStage final : public Stage {
  public:
    AccessStage(const config::Config& cfg, const config::Listener& l)
        : cfg_(cfg),
          listener_(l),
          drop_(l.deny_action.value_or(cfg.access.deny_action) == config::DenyAction::drop) {}

    std::string_view name() const override { return "access"; }
    EventMask events() const override { return mask(Event::connect); }

    boost::asio::awaitable<Verdict> check(Event, const Facts& f) override {
        const auto refuses = [&](const CidrList& allow, const CidrList& deny) {
            const bool denied = f.client_addr && deny.contains(*f.client_addr);
            const bool allowed = allow.empty() || (f.client_addr && allow.contains(*f.client_addr));
            return denied || !allowed;
        };
        if (!refuses(cfg_.access.allow, cfg_.access.deny) &&
            !refuses(listener_.allow, listener_.deny))
            co_return Verdict::next();
        if (drop_) co_return Verdict::disconnect({0, "", "dropped: access list"}, "access_denied");
        co_return Verdict::refuse({554, "5.7.1", fmt::format("{} Access denied", cfg_.hostname)},
                                  "access_denied");
    }

  private:
    const config::Config& cfg_;
    const config::Listener& listener_;
    bool drop_;
};

}  // namespace

std::unique_ptr<Stage> access_stage(const config::Config& cfg, const config::Listener& listener) {
    return std::make_unique<AccessStage>(cfg, listener);
}

}  // namespace sluice::policy
