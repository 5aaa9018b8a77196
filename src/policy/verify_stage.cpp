// verify_stage.cpp: inbound message authentication on a listener that verifies (see stages.hpp).
//
// SPF is checked at MAIL FROM, where it is known (the client address, HELO name and envelope
// sender). DKIM signatures are read from the header section when the body starts, and their body
// hashes computed as the body arrives (Stage::body: a streamed body is never read back); their
// keys are looked up at the end of data. Everything is reported then in one
// Authentication-Results field, which DMARC results will join. Clients allowed to relay
// (authenticated users, trusted networks) are our own senders: they are not judged.
#include <fmt/format.h>

#include <chrono>
#include <random>

#include "common/ascii.hpp"
#include "common/log.hpp"
#include "policy/stages.hpp"
#include "smtp/header_scan.hpp"
#include "trust/auth_results.hpp"
#include "trust/author.hpp"
#include "trust/dkim_verify.hpp"
#include "trust/dmarc.hpp"
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
    std::optional<trust::dkim::Verifier> dkim;  // this transaction's message, from its body on
    std::vector<std::string> dkim_pass;         // d= of the signatures that passed
};

// A number in [0, 100) for DMARC's pct=. One generator per thread: a stage is shared by every
// session of its listener, and sessions run on several threads.
int pct_sample() {
    thread_local std::minstd_rand gen{std::random_device{}()};
    return static_cast<int>(gen() % 100);
}

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
    VerifyStage(const config::Verify& cfg, dns::Lookup& dns) : cfg_(cfg), dns_(dns), spf_(dns) {}

    std::string_view name() const override { return "verify"; }
    EventMask events() const override { return mask(Event::mail, Event::message); }

    std::unique_ptr<StageState> open(const Facts&) override {
        return std::make_unique<VerifyState>();
    }

    boost::asio::awaitable<Verdict> check(Event e, const Facts& f) override {
        auto& st = state(f);
        if (e == Event::mail) co_return co_await on_mail(st, f);
        co_return co_await on_message(st, f);
    }

    bool reads_body() const override { return cfg_.dkim; }

    void body(const Facts& f, std::string_view chunk) override {
        auto& st = state(f);
        if (!st.judged) return;
        if (!st.dkim) st.dkim.emplace(f.message);  // the complete header section
        st.dkim->body(chunk);
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
        st.dkim.reset();
        st.dkim_pass.clear();
        if (f.relay_allowed() || !f.client_addr || cfg_.skip.contains(*f.client_addr))
            co_return Verdict::next();
        st.judged = true;
        if (!cfg_.spf) co_return Verdict::next();
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
            std::string text = fmt::format("SPF: {} is not allowed to send mail from {}",
                                           f.client_ip, trust::printable(o.domain));
            if (!o.explanation.empty()) text += ": " + trust::printable(o.explanation, 200);
            co_return Verdict::refuse({550, "5.7.23", std::move(text)}, "spf_fail");
        }
        if (o.result == Result::temperror && cfg_.spf_temperror == config::TempAction::tempfail)
            co_return Verdict::refuse(
                {451, "4.7.24",
                 fmt::format("SPF: temporary DNS error for {}, try again later",
                             trust::printable(o.domain))},
                "spf_temperror");
        co_return Verdict::next();
    }

    boost::asio::awaitable<Verdict> on_message(VerifyState& st, const Facts& f) {
        if (!st.judged) co_return Verdict::next();
        std::vector<trust::MethodResult> results;
        if (st.mail) results.push_back(method(*st.mail, f));
        if (cfg_.spf_helo && st.helo && !f.envelope->sender.empty())
            results.push_back(method(*st.helo, f));
        if (cfg_.dkim) {
            for (auto& r : co_await verify_dkim(st, f)) results.push_back(std::move(r));
        }
        std::optional<Verdict> refusal;
        if (cfg_.dmarc) {
            Dmarc d = co_await check_dmarc(st, f);
            results.push_back(std::move(d.result));
            refusal = std::move(d.refusal);
        }
        if (refusal) co_return std::move(*refusal);
        Verdict v;
        v.headers.push_back(trust::authentication_results(cfg_.authserv_id, results));
        if (cfg_.received_spf && st.mail) {
            const Outcome& o = *st.mail;
            v.headers.push_back(
                trust::received_spf({trust::spf::result_name(o.result), spf_comment(o, f.client_ip),
                                     f.client_ip, o.sender, f.envelope->helo, o.identity,
                                     cfg_.authserv_id, o.mechanism, o.problem}));
        }
        co_return v;
    }

    // The signatures' results, their keys looked up now (each once; libunbound caches them).
    boost::asio::awaitable<std::vector<trust::MethodResult>> verify_dkim(VerifyState& st,
                                                                         const Facts& f) {
        using trust::dkim::Verifier;
        // No body chunk came (an empty body): the header section is all there is.
        if (!st.dkim) st.dkim.emplace(f.message.substr(0, smtp::header_section_end(f.message)));
        Verifier& v = *st.dkim;
        v.finish_body();
        const auto queries = v.key_queries();  // copied: answers may not touch the list
        for (std::size_t i = 0; i < queries.size(); ++i) {
            dns::TextAnswer a = co_await dns_.txt(queries[i].name);
            Verifier::KeyAnswer k;
            switch (a.status) {
                case dns::Status::ok:
                    k.status = Verifier::KeyAnswer::Status::ok;
                    break;
                case dns::Status::nodata:
                    k.status = Verifier::KeyAnswer::Status::nodata;
                    break;
                case dns::Status::nxdomain:
                    k.status = Verifier::KeyAnswer::Status::nxdomain;
                    break;
                case dns::Status::temp_fail:
                    k.status = Verifier::KeyAnswer::Status::temp_fail;
                    break;
            }
            k.txt = std::move(a.records);
            v.key_answer(i, std::move(k));
        }
        std::vector<trust::MethodResult> out;
        for (const auto& r : v.results()) {
            trust::MethodResult m;
            m.method = "dkim";
            m.result = std::string(trust::dkim::result_name(r.result));
            m.comment = r.reason;
            if (r.testing)
                m.comment += m.comment.empty() ? "key in test mode" : "; key in test mode";
            if (r.body_truncated)
                m.comment +=
                    m.comment.empty() ? "body partly signed (l=)" : "; body partly signed (l=)";
            if (!r.domain.empty())
                m.properties.emplace_back("header.d", trust::property_value(r.domain));
            if (!r.identity.empty())
                m.properties.emplace_back("header.i", trust::property_value(r.identity));
            if (!r.selector.empty() && trust::property_value(r.selector) == r.selector)
                m.properties.emplace_back("header.s", r.selector);
            if (!r.algorithm.empty() && trust::property_value(r.algorithm) == r.algorithm)
                m.properties.emplace_back("header.a", r.algorithm);
            if (!r.header_b.empty())
                m.properties.emplace_back("header.b", trust::quoted(r.header_b));
            log::info("dkim", {{"session", f.session},
                               {"domain", r.domain},
                               {"selector", r.selector},
                               {"result", m.result},
                               {"reason", r.reason}});
            // A signature over part of the body (l=) does not vouch for what was appended: it
            // counts for nothing in DMARC.
            if (r.result == trust::dkim::Result::pass && !r.body_truncated)
                st.dkim_pass.push_back(r.domain);
            out.push_back(std::move(m));
        }
        if (out.empty()) out.push_back({"dkim", "none", "", {}});
        st.dkim.reset();
        co_return out;
    }

    struct Dmarc {
        trust::MethodResult result;
        std::optional<Verdict> refusal;
    };

    // The author domain of the message (6.6.1) into `domain`; false when the result is decided
    // already (`out`: refused, or none). Not a coroutine: GCC 12 misjudges larger frames.
    static bool author_of(std::string_view message, Dmarc& out, std::string& domain) {
        const std::string_view headers = message.substr(0, smtp::header_section_end(message));
        const trust::Authors authors = trust::author_domains(headers);
        // One author domain, or which policy would apply? Refused, as RFC 7489 allows (and a
        // From we cannot read must not opt its sender out of DMARC).
        const char* refuse = authors.fields > 1           ? "more than one From header field"
                             : authors.malformed          ? "the From header field is not readable"
                             : authors.domains.size() > 1 ? "From addresses of several domains"
                                                          : nullptr;
        if (refuse) {
            out.result.result = "permerror";
            out.result.comment = refuse;
            out.refusal = Verdict::refuse(
                {550, "5.7.1", fmt::format("Message refused: {} (RFC 7489 6.6.1)", refuse)},
                "dmarc_from");
            return false;
        }
        if (authors.domains.empty()) {
            out.result.result = "none";
            out.result.comment = "no From header field";
            return false;
        }
        domain = authors.domains.front();
        out.result.properties.emplace_back("header.from", domain);
        return true;
    }

    // RFC 7489 6.6: the From domain's policy (or its organizational domain's), alignment of the
    // SPF and DKIM passes found above, and the disposition for a failing message.
    boost::asio::awaitable<Dmarc> check_dmarc(VerifyState& st, const Facts& f) {
        namespace dm = trust::dmarc;
        Dmarc out;
        out.result.method = "dmarc";
        std::string from_domain;
        if (!author_of(f.message, out, from_domain)) co_return out;

        // Discovery (6.6.3): the From domain, then its organizational domain.
        bool at_org = false;
        std::optional<dm::Record> record;
        bool temp = false;
        bool any = false;  // a v=DMARC1 record was there, usable or not: discovery ends
        auto lookup = [&](std::string name) -> boost::asio::awaitable<std::optional<dm::Record>> {
            dns::TextAnswer a = co_await dns_.txt("_dmarc." + name);
            if (a.status == dns::Status::temp_fail) temp = true;
            std::optional<dm::Record> found;
            std::size_t n = 0;
            for (const auto& t : a.records)
                if (dm::is_dmarc_record(t) && ++n == 1) found = dm::parse_record(t);
            any = n > 0;
            if (n > 1) found.reset();  // several records: none (6.6.3)
            co_return found;
        };
        record = co_await lookup(from_domain);
        const std::string org = dm::organizational_domain(from_domain);
        if (!record && !any && !temp && org != from_domain) {
            record = co_await lookup(org);
            at_org = true;
        }
        if (!record) {
            out.result.result = temp ? "temperror" : "none";
            co_return out;
        }
        dm::Inputs in;
        in.from_domain = from_domain;
        if (st.mail && st.mail->result == Result::pass) {
            in.spf_domain = st.mail->domain;
            in.spf_pass = true;
        }
        in.dkim_domains = st.dkim_pass;
        in.record_at_org = at_org;
        if (at_org && record->np) {
            dns::AddressAnswer a = co_await dns_.a(from_domain);
            in.from_domain_exists = a.status != dns::Status::nxdomain;
        }
        in.sample = pct_sample();
        const dm::Evaluation e = dm::evaluate(*record, in);
        out.result.result = e.pass ? "pass" : "fail";
        out.result.comment = fmt::format("p={} sp={} dis={}", dm::policy_name(record->p),
                                         dm::policy_name(record->sp.value_or(record->p)),
                                         dm::policy_name(e.applied));
        out.result.properties.emplace_back("policy.dmarc", std::string(dm::policy_name(e.policy)));
        log::info("dmarc", {{"session", f.session},
                            {"from_domain", from_domain},
                            {"result", out.result.result},
                            {"policy", dm::policy_name(e.policy)},
                            {"disposition", dm::policy_name(e.applied)},
                            {"spf_aligned", e.spf_aligned},
                            {"dkim_aligned", e.dkim_aligned}});
        if (e.applied == dm::Policy::reject && cfg_.dmarc_reject == config::DmarcAction::reject &&
            !(f.client_addr && cfg_.trusted_forwarders.contains(*f.client_addr))) {
            out.refusal = Verdict::refuse(
                {550, "5.7.1",
                 fmt::format("Message rejected by the DMARC policy of {}", from_domain)},
                "dmarc_reject");
        }
        co_return out;
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
    dns::Lookup& dns_;
    trust::spf::Evaluator spf_;
};

}  // namespace

std::unique_ptr<Stage> verify_stage(const config::Verify& cfg, dns::Lookup& dns) {
    return std::make_unique<VerifyStage>(cfg, dns);
}

}  // namespace sluice::policy
