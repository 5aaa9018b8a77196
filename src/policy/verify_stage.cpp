// verify_stage.cpp: inbound message authentication on a listener that verifies (see stages.hpp).
//
// SPF is checked at MAIL FROM, where it is known (the client address, HELO name and envelope
// sender); the result is kept in the session's state and reported at the end of data in one
// Authentication-Results field, which DKIM and DMARC results will join. Clients allowed to relay
// (authenticated users, trusted networks) are our own senders: they are not judged.
#include <fmt/format.h>

#include <chrono>

#include "common/log.hpp"
#include "policy/stages.hpp"
#include "trust/auth_results.hpp"
#include "trust/spf_eval.hpp"

namespace sluice::policy {
namespace {

using trust::spf::Outcome;
using trust::spf::Result;

// What the session found, for the current transaction (mail) and the session (helo).
struct VerifyState final : StageState {
    bool judged = false;  // this transaction's sender was checked (not our own client)
    std::string helo_checked;
    std::optional<Outcome> helo;
    std::optional<Outcome> mail;
};

std::string spf_comment(const Outcome& o, std::string_view ip) {
    const std::string who = o.identity == "helo" ? o.domain : o.sender;
    switch (o.result) {
        case Result::pass:
            return fmt::format("{} designates {} as permitted sender", who, ip);
        case Result::fail:
            return fmt::format("{} does not designate {} as permitted sender", who, ip);
        case Result::softfail:
            return fmt::format("{} does not designate {} as permitted sender (softfail)", who, ip);
        case Result::neutral:
            return fmt::format("{} makes no statement about {}", o.domain, ip);
        case Result::none:
            return fmt::format("{} has no SPF record", o.domain);
        case Result::temperror:
        case Result::permerror:
            return o.problem;
    }
    return {};
}

class VerifyStage final : public Stage {
  public:
    VerifyStage(const config::Verify& cfg, dns::Lookup& dns) : cfg_(cfg), spf_(dns) {}

    std::string_view name() const override { return "verify"; }
    EventMask events() const override { return mask(Event::mail, Event::message); }

    std::unique_ptr<StageState> open(const Facts&) override {
        return std::make_unique<VerifyState>();
    }

    boost::asio::awaitable<Verdict> check(Event e, const Facts& f) override {
        auto& st = state(f);
        if (e == Event::mail) co_return co_await on_mail(st, f);
        co_return on_message(st, f);
    }

  private:
    VerifyState& state(const Facts& f) {
        for (auto& s : *f.state)
            if (auto* v = dynamic_cast<VerifyState*>(s.get())) return *v;
        throw std::logic_error("verify stage without its state");
    }

    boost::asio::awaitable<Verdict> on_mail(VerifyState& st, const Facts& f) {
        st.judged = false;
        st.mail.reset();
        if (f.relay_allowed() || !f.client_addr || cfg_.skip.contains(*f.client_addr))
            co_return Verdict::next();
        st.judged = true;
        trust::spf::Request req;
        req.ip = *f.client_addr;
        req.sender = f.envelope->sender;
        // The envelope's copy: Facts::helo is set only for chains that ask about HELO.
        req.helo = f.envelope->helo;
        req.receiver = cfg_.authserv_id;
        req.now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
        // The HELO identity once per HELO name; it is also the MAIL FROM identity of <>.
        if ((cfg_.spf_helo || req.sender.empty()) && (!st.helo || st.helo_checked != req.helo)) {
            st.helo = co_await spf_.check_helo(req);
            st.helo_checked = req.helo;
            log_result(f, *st.helo);
        }
        if (req.sender.empty()) {
            st.mail = *st.helo;
        } else {
            st.mail = co_await spf_.check_mail_from(req);
            log_result(f, *st.mail);
        }
        const Outcome& o = *st.mail;
        if (o.result == Result::fail && cfg_.spf_fail == config::SpfAction::reject) {
            // RFC 7208 8.4: the domain's explanation, if any, goes to the client (sanitized).
            std::string text =
                fmt::format("SPF: {} is not allowed to send mail from {}", f.client_ip, o.domain);
            if (!o.explanation.empty()) text += ": " + trust::comment_text(o.explanation, 200);
            co_return Verdict::refuse({550, "5.7.23", std::move(text)}, "spf_fail");
        }
        if (o.result == Result::temperror && cfg_.spf_temperror == config::TempAction::tempfail)
            co_return Verdict::refuse(
                {451, "4.7.24",
                 fmt::format("SPF: temporary DNS error for {}, try again later", o.domain)},
                "spf_temperror");
        co_return Verdict::next();
    }

    Verdict on_message(VerifyState& st, const Facts& f) {
        if (!st.judged) return Verdict::next();
        std::vector<trust::MethodResult> results;
        if (st.mail) results.push_back(method(*st.mail, f));
        if (cfg_.spf_helo && st.helo && !f.envelope->sender.empty())
            results.push_back(method(*st.helo, f));
        Verdict v;
        v.headers.push_back(trust::authentication_results(cfg_.authserv_id, results));
        if (cfg_.received_spf && st.mail) {
            const Outcome& o = *st.mail;
            v.headers.push_back(
                trust::received_spf({trust::spf::result_name(o.result), spf_comment(o, f.client_ip),
                                     f.client_ip, o.sender, f.envelope->helo, o.identity,
                                     cfg_.authserv_id, o.mechanism, o.problem}));
        }
        return v;
    }

    static trust::MethodResult method(const Outcome& o, const Facts& f) {
        trust::MethodResult m;
        m.method = "spf";
        m.result = std::string(trust::spf::result_name(o.result));
        m.comment = spf_comment(o, f.client_ip);
        if (o.identity == "helo")
            m.properties.emplace_back("smtp.helo", trust::property_value(o.domain));
        else
            m.properties.emplace_back("smtp.mailfrom", trust::property_value(o.sender));
        return m;
    }

    static void log_result(const Facts& f, const Outcome& o) {
        log::info("spf", {{"session", f.session},
                          {"ip", f.client_ip},
                          {"identity", o.identity},
                          {"domain", o.domain},
                          {"result", trust::spf::result_name(o.result)},
                          {"mechanism", o.mechanism},
                          {"problem", o.problem}});
    }

    const config::Verify& cfg_;
    trust::spf::Evaluator spf_;
};

}  // namespace

std::unique_ptr<Stage> verify_stage(const config::Verify& cfg, dns::Lookup& dns) {
    return std::make_unique<VerifyStage>(cfg, dns);
}

}  // namespace sluice::policy
