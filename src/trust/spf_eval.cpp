// spf_eval.cpp: see spf_eval.hpp.
#include "trust/spf_eval.hpp"

#include <fmt/format.h>

#include "common/ascii.hpp"
#include "trust/spf_macro.hpp"

namespace sluice::trust::spf {
namespace asio = boost::asio;

namespace {

constexpr int kNoMatch = 0;
constexpr int kMatch = 1;
constexpr int kError = 2;  // the Partial passed in carries the result (temperror/permerror)

Result qualified(Qualifier q) {
    switch (q) {
        case Qualifier::pass:
            return Result::pass;
        case Qualifier::fail:
            return Result::fail;
        case Qualifier::softfail:
            return Result::softfail;
        case Qualifier::neutral:
            return Result::neutral;
    }
    return Result::neutral;
}

bool ends_with_domain(std::string_view name, std::string_view domain) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    if (ascii_iequals(name, domain)) return true;
    return name.size() > domain.size() && name[name.size() - domain.size() - 1] == '.' &&
           ascii_iequals(name.substr(name.size() - domain.size()), domain);
}

bool is_void(dns::Status s) {
    return s == dns::Status::nxdomain || s == dns::Status::nodata;
}

}  // namespace

bool checkable_domain(std::string_view d) {
    if (!d.empty() && d.back() == '.') d.remove_suffix(1);
    if (d.empty() || d.size() > 253 || d.front() == '[') return false;
    std::size_t labels = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= d.size(); ++i) {
        if (i == d.size() || d[i] == '.') {
            const std::size_t len = i - start;
            if (len == 0 || len > 63) return false;
            ++labels;
            start = i + 1;
        }
    }
    return labels >= 2;
}

struct Evaluator::State {
    const Request& req;
    std::string sender;  // as checked: "postmaster@domain" when there was no local part
    std::string local_part;
    std::string sender_domain;
    std::size_t terms = 0;
    std::size_t voids = 0;
    std::optional<std::vector<std::string>> validated;  // ptr, %{p}: looked up at most once
    std::string ptr;                                    // %{p} for the current expansion

    MacroContext macros(const std::string& domain) {
        // %{p} (7.3): a validated name equal to or under <domain>, else any, else "unknown".
        ptr = "unknown";
        if (validated) {
            for (const auto& n : *validated)
                if (ends_with_domain(n, domain)) {
                    ptr = n;
                    break;
                }
            if (ptr == "unknown" && !validated->empty()) ptr = validated->front();
        }
        MacroContext c;
        c.sender = sender;
        c.local_part = local_part;
        c.sender_domain = sender_domain;
        c.domain = domain;
        c.ip = req.ip;
        c.helo = req.helo;
        c.ptr_name = ptr;
        c.receiver = req.receiver;
        c.now = req.now;
        return c;
    }
};

struct Evaluator::Partial {
    Result result = Result::none;
    std::string mechanism;
    std::string explanation;
    std::string problem;

    static Partial error(Result r, std::string why) { return {r, "", "", std::move(why)}; }
};

asio::awaitable<Outcome> Evaluator::check_mail_from(const Request& r) {
    if (r.sender.empty()) co_return co_await check(r, "mailfrom", "postmaster@" + r.helo);
    co_return co_await check(r, "mailfrom", r.sender);
}

asio::awaitable<Outcome> Evaluator::check_helo(const Request& r) {
    co_return co_await check(r, "helo", "postmaster@" + r.helo);
}

asio::awaitable<Outcome> Evaluator::check(const Request& r, std::string identity,
                                          std::string sender) {
    State st{r, {}, {}, {}, 0, 0, std::nullopt, {}};
    const auto at = sender.rfind('@');
    if (at == std::string::npos) {
        st.sender_domain = sender;
    } else {
        st.local_part = sender.substr(0, at);
        st.sender_domain = sender.substr(at + 1);
    }
    if (st.local_part.empty()) st.local_part = "postmaster";  // 4.3
    st.sender = st.local_part + "@" + st.sender_domain;

    Outcome out;
    out.identity = std::move(identity);
    out.domain = st.sender_domain;
    out.sender = st.sender;
    if (!checkable_domain(out.domain)) {
        out.result = Result::none;
        out.problem = "not a checkable domain name";
        co_return out;
    }
    Partial p = co_await check_host(st, out.domain, 0);
    out.result = p.result;
    out.mechanism = std::move(p.mechanism);
    out.explanation = std::move(p.explanation);
    out.problem = std::move(p.problem);
    co_return out;
}

asio::awaitable<Evaluator::Partial> Evaluator::check_host(State& st, std::string domain,
                                                          int depth) {
    if (!checkable_domain(domain)) co_return Partial{Result::none, "", "", "invalid domain"};
    dns::TextAnswer txt = co_await dns_.txt(domain);
    if (txt.status == dns::Status::temp_fail)
        co_return Partial::error(Result::temperror, fmt::format("{}: {}", domain, txt.error));
    if (txt.status != dns::Status::ok)
        co_return Partial{Result::none, "", "", fmt::format("{}: no SPF record", domain)};
    const std::string* found = nullptr;
    for (const auto& t : txt.records) {
        if (!is_spf_record(t)) continue;
        if (found)
            co_return Partial::error(Result::permerror,
                                     fmt::format("{}: more than one SPF record", domain));
        found = &t;
    }
    if (!found) co_return Partial{Result::none, "", "", fmt::format("{}: no SPF record", domain)};
    // RFC 7208 3.4 asks records to fit one 512-octet UDP answer; 4096 leaves room for real ones
    // and bounds what a hostile zone makes every check parse.
    if (found->size() > 4096)
        co_return Partial::error(Result::permerror, fmt::format("{}: SPF record too long", domain));
    auto parsed = parse_record(*found);
    if (auto* e = std::get_if<ParseError>(&parsed))
        co_return Partial::error(Result::permerror, fmt::format("{}: {}", domain, e->reason));
    co_return co_await evaluate(st, std::get<Record>(parsed), domain, depth);
}

asio::awaitable<Evaluator::Partial> Evaluator::evaluate(State& st, const Record& rec,
                                                        const std::string& domain, int depth) {
    for (const auto& m : rec.mechanisms) {
        Partial err;
        const int r = co_await match(st, m, domain, depth, err);
        if (r == kError) co_return err;
        if (r == kNoMatch) continue;
        Partial p{qualified(m.qualifier), m.text, "", ""};
        if (p.result == Result::fail && rec.exp)
            p.explanation = co_await explain(st, *rec.exp, domain);
        co_return p;
    }
    if (rec.redirect) {
        if (++st.terms > limits_.dns_terms)
            co_return Partial::error(Result::permerror, "too many DNS lookups");
        auto target = expand(*rec.redirect, st.macros(domain));
        if (!target) co_return Partial::error(Result::permerror, "bad redirect macro");
        std::string name = truncate_domain(std::move(*target));
        Partial p = co_await check_host(st, name, depth + 1);
        if (p.result == Result::none)  // 6.1: a redirect to nowhere is an error of the record
            co_return Partial::error(Result::permerror,
                                     fmt::format("redirect to {}: no SPF record", name));
        co_return p;
    }
    co_return Partial{Result::neutral, "default", "", ""};
}

asio::awaitable<int> Evaluator::match(State& st, const Mechanism& m, const std::string& domain,
                                      int depth, Partial& err) {
    using K = Mechanism::Kind;
    const bool v4 = st.req.ip.is_v4();
    switch (m.kind) {
        case K::all:
            co_return kMatch;
        case K::ip4:
        case K::ip6:
            if (v4 != (m.kind == K::ip4)) co_return kNoMatch;
            co_return m.network.contains(st.req.ip) ? kMatch : kNoMatch;
        default:
            break;
    }
    if (++st.terms > limits_.dns_terms) {
        err = Partial::error(Result::permerror, "too many DNS lookups");
        co_return kError;
    }
    std::string target = domain;
    if (!m.domain_spec.empty()) {
        if (uses_ptr_macro(m.domain_spec)) co_await validate_ptr(st);
        auto e = expand(m.domain_spec, st.macros(domain));
        if (!e) {
            err = Partial::error(Result::permerror, "bad macro in " + m.text);
            co_return kError;
        }
        target = truncate_domain(std::move(*e));
    }
    auto void_lookup = [&]() -> bool {
        if (++st.voids <= limits_.void_lookups) return false;
        err = Partial::error(Result::permerror, "too many void DNS lookups");
        return true;
    };
    auto temp = [&](const std::string& why) {
        err = Partial::error(Result::temperror, why);
        return kError;
    };
    switch (m.kind) {
        case K::include: {
            Partial p = co_await check_host(st, target, depth + 1);
            switch (p.result) {
                case Result::pass:
                    co_return kMatch;
                case Result::fail:
                case Result::softfail:
                case Result::neutral:
                    co_return kNoMatch;
                case Result::temperror:
                    err = std::move(p);
                    co_return kError;
                case Result::permerror:
                    err = std::move(p);
                    co_return kError;
                case Result::none:
                    err = Partial::error(Result::permerror,
                                         fmt::format("include:{}: no SPF record", target));
                    co_return kError;
            }
            co_return kNoMatch;
        }
        case K::a: {
            if (!checkable_domain(target)) co_return kNoMatch;
            dns::Status status{};
            const bool hit = co_await host_has_ip(st, target, m.cidr4, m.cidr6, &status);
            if (status == dns::Status::temp_fail) co_return temp(target + ": DNS lookup failed");
            if (hit) co_return kMatch;
            if (is_void(status) && void_lookup()) co_return kError;
            co_return kNoMatch;
        }
        case K::mx: {
            if (!checkable_domain(target)) co_return kNoMatch;
            dns::MxAnswer mx = co_await dns_.mx(target);
            if (mx.status == dns::Status::temp_fail) co_return temp(target + ": " + mx.error);
            if (is_void(mx.status)) co_return void_lookup() ? kError : kNoMatch;
            if (mx.records.size() > 10) {
                err = Partial::error(Result::permerror, target + ": more than 10 MX records");
                co_return kError;
            }
            for (const auto& r : mx.records) {
                if (r.host.empty()) continue;  // null MX (RFC 7505)
                dns::Status status{};
                // Address lookups of MX hosts are not void lookups of the record (4.6.4 counts
                // the mechanism's own query).
                if (co_await host_has_ip(st, r.host, m.cidr4, m.cidr6, &status)) co_return kMatch;
                if (status == dns::Status::temp_fail)
                    co_return temp(r.host + ": DNS lookup failed");
            }
            co_return kNoMatch;
        }
        case K::ptr: {
            if (co_await validate_ptr(st)) co_return void_lookup() ? kError : kNoMatch;
            for (const auto& n : *st.validated)
                if (ends_with_domain(n, target)) co_return kMatch;
            co_return kNoMatch;
        }
        case K::exists: {
            if (!checkable_domain(target)) co_return kNoMatch;
            dns::AddressAnswer a = co_await dns_.a(target);  // always A, even for IPv6 (5.7)
            if (a.status == dns::Status::temp_fail) co_return temp(target + ": " + a.error);
            if (a.status != dns::Status::ok || a.records.empty())
                co_return void_lookup() ? kError : kNoMatch;
            co_return kMatch;
        }
        default:
            co_return kNoMatch;
    }
}

// Whether `host` has an address (A for an IPv4 client, AAAA for IPv6) in the client's network of
// the given lengths; *status: how the lookup went.
asio::awaitable<bool> Evaluator::host_has_ip(State& st, const std::string& host, int cidr4,
                                             int cidr6, dns::Status* status) {
    const bool v4 = st.req.ip.is_v4();
    // Two statements, not a conditional expression: GCC 12 miscompiles co_await inside ?:.
    dns::AddressAnswer a;
    if (v4)
        a = co_await dns_.a(host);
    else
        a = co_await dns_.aaaa(host);
    *status = a.status;
    if (a.status != dns::Status::ok) co_return false;
    Cidr net{st.req.ip, v4 ? 96 + cidr4 : cidr6};
    net.clear_host_bits();
    for (const auto& text : a.records) {
        auto ip = IpAddress::parse(text);
        if (ip && ip->is_v4() == v4 && net.contains(*ip)) co_return true;
    }
    co_return false;
}

// The client's validated host names (5.5): PTR names (at most 10) whose own address lookup
// gives the client's address back; names whose lookup fails are skipped. Looked up once per check.
// True when the PTR lookup itself was void (the ptr mechanism counts it).
asio::awaitable<bool> Evaluator::validate_ptr(State& st) {
    if (st.validated) co_return false;
    st.validated.emplace();
    dns::TextAnswer names = co_await dns_.ptr(reverse_name(st.req.ip));
    if (names.status != dns::Status::ok) co_return is_void(names.status);
    std::size_t n = 0;
    for (const auto& name : names.records) {
        if (++n > 10) break;
        dns::Status status{};
        if (co_await host_has_ip(st, name, 32, 128, &status)) st.validated->push_back(name);
    }
    co_return false;
}

// 6.2: the explanation TXT, macro-expanded; any problem means no explanation (not an error).
asio::awaitable<std::string> Evaluator::explain(State& st, const std::string& spec,
                                                const std::string& domain) {
    if (uses_ptr_macro(spec)) co_await validate_ptr(st);
    auto expanded_name = expand(spec, st.macros(domain));
    if (!expanded_name) co_return "";
    const std::string name = truncate_domain(std::move(*expanded_name));
    if (!checkable_domain(name)) co_return "";
    dns::TextAnswer txt = co_await dns_.txt(name);
    if (txt.status != dns::Status::ok || txt.records.size() != 1) co_return "";
    const std::string& text = txt.records.front();
    for (char c : text)
        if (static_cast<unsigned char>(c) > 0x7e || static_cast<unsigned char>(c) < 0x20)
            co_return "";
    if (uses_ptr_macro(text)) co_await validate_ptr(st);
    auto expanded = expand(text, st.macros(domain), true);
    co_return expanded ? *expanded : "";
}

}  // namespace sluice::trust::spf
