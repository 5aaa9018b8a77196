// recipient_stage.cpp: who may be named at RCPT (see stages.hpp). The default trusts nobody to
// relay: never an open relay.
#include <fmt/format.h>

#include "policy/stages.hpp"

namespace sluice::policy {
namespace {

class RecipientStage final : public Stage {
  public:
    explicit RecipientStage(const delivery::LocalRouter& router) : router_(router) {}

    std::string_view name() const override { return "recipient"; }
    EventMask events() const override { return mask(Event::rcpt); }

    boost::asio::awaitable<Verdict> check(Event, const Facts& f) override {
        const smtp::Mailbox& rcpt = *f.recipient;
        switch (router_.check(rcpt.local, rcpt.domain)) {
            case delivery::RcptStatus::local:
                co_return Verdict::next();
            case delivery::RcptStatus::unknown_user:
                co_return Verdict::refuse(
                    {550, "5.1.1",
                     fmt::format("<{}>: Recipient address rejected: User unknown", rcpt.str())},
                    "unknown_user");
            case delivery::RcptStatus::not_local:
                break;
        }
        // Address literals and bare names are never relayed, whoever asks.
        if (f.relay_allowed() && !rcpt.domain.empty() && !rcpt.domain_is_literal)
            co_return Verdict::next();
        co_return Verdict::refuse(
            {550, "5.7.1", fmt::format("<{}>: Relay access denied", rcpt.str())}, "relay_denied");
    }

  private:
    const delivery::LocalRouter& router_;
};

}  // namespace

std::unique_ptr<Stage> recipient_stage(const delivery::LocalRouter& router) {
    return std::make_unique<RecipientStage>(router);
}

}  // namespace sluice::policy
