// dmarc.cpp: see dmarc.hpp.
#include "trust/dmarc.hpp"

#include <libpsl.h>

#include "common/ascii.hpp"

namespace sluice::trust::dmarc {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::optional<Policy> policy_of(std::string_view v) {
    if (ascii_iequals(v, "none")) return Policy::none;
    if (ascii_iequals(v, "quarantine")) return Policy::quarantine;
    if (ascii_iequals(v, "reject")) return Policy::reject;
    return std::nullopt;
}

std::vector<std::string> uris(std::string_view v) {
    std::vector<std::string> out;
    while (!v.empty()) {
        const auto comma = v.find(',');
        const std::string_view u = trim(v.substr(0, comma));
        if (!u.empty()) out.emplace_back(u);
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    return out;
}

const psl_ctx_t* psl() {
    // The newest of libpsl's built-in list and the installed one (Debian's publicsuffix);
    // loaded once, read-only afterwards (libpsl contexts are safe to share for lookups).
    static const psl_ctx_t* const ctx = [] {
        const psl_ctx_t* c = psl_latest(nullptr);
        return c ? c : psl_builtin();
    }();
    return ctx;
}

}  // namespace

std::string_view policy_name(Policy p) {
    switch (p) {
        case Policy::none:
            return "none";
        case Policy::quarantine:
            return "quarantine";
        case Policy::reject:
            return "reject";
    }
    return "?";
}

bool is_dmarc_record(std::string_view txt) {
    txt = trim(txt);
    constexpr std::string_view v = "v=DMARC1";
    if (txt.size() < v.size() || txt.substr(0, v.size()) != v) return false;
    const std::string_view rest = trim(txt.substr(v.size()));
    return rest.empty() || rest.front() == ';';
}

std::optional<Record> parse_record(std::string_view txt) {
    if (!is_dmarc_record(txt)) return std::nullopt;
    Record r;
    bool have_p = false;
    bool first = true;
    while (!txt.empty()) {
        const auto semi = txt.find(';');
        const std::string_view part = trim(txt.substr(0, semi));
        txt = semi == std::string_view::npos ? std::string_view{} : txt.substr(semi + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        const std::string tag = ascii_lower(trim(part.substr(0, eq)));
        const std::string_view value = trim(part.substr(eq + 1));
        if (first) {  // v=DMARC1 (checked above) must be first
            first = false;
            continue;
        }
        if (tag == "p") {
            auto p = policy_of(value);
            if (!p) return std::nullopt;
            r.p = *p;
            have_p = true;
        } else if (tag == "sp") {
            r.sp = policy_of(value);  // invalid: as if absent (p applies)
        } else if (tag == "np") {
            r.np = policy_of(value);
        } else if (tag == "adkim") {
            r.strict_dkim = ascii_iequals(value, "s");
        } else if (tag == "aspf") {
            r.strict_spf = ascii_iequals(value, "s");
        } else if (tag == "pct") {
            int n = 0;
            bool ok = !value.empty() && value.size() <= 3;
            for (char c : value) {
                ok = ok && c >= '0' && c <= '9';
                if (ok) n = n * 10 + (c - '0');
            }
            r.pct = ok && n <= 100 ? n : 100;
        } else if (tag == "rua") {
            r.rua = uris(value);
        } else if (tag == "ruf") {
            r.ruf = uris(value);
        }
    }
    // 6.6.3: no valid p= but a valid rua=: treat as p=none (reports wanted), else no record.
    if (!have_p && r.rua.empty()) return std::nullopt;
    return r;
}

std::string organizational_domain(std::string_view domain) {
    std::string d = ascii_lower(domain);
    if (!d.empty() && d.back() == '.') d.pop_back();
    if (d.empty()) return d;
    if (const char* reg = psl_registrable_domain(psl(), d.c_str())) return reg;  // points into d
    return d;
}

bool aligned(std::string_view a, std::string_view b, bool strict) {
    if (a.empty() || b.empty()) return false;
    if (ascii_iequals(a, b)) return true;
    if (strict) return false;
    return organizational_domain(a) == organizational_domain(b);
}

Evaluation evaluate(const Record& r, const Inputs& in) {
    Evaluation e;
    e.spf_aligned = in.spf_pass && aligned(in.spf_domain, in.from_domain, r.strict_spf);
    for (const auto& d : in.dkim_domains)
        if (aligned(d, in.from_domain, r.strict_dkim)) e.dkim_aligned = true;
    e.pass = e.spf_aligned || e.dkim_aligned;
    // 6.6.3: sp= for a record found at the organizational domain on behalf of a subdomain;
    // np= (RFC 9091) when that subdomain does not exist.
    e.policy = r.p;
    if (in.record_at_org) {
        e.policy = r.sp.value_or(r.p);
        if (!in.from_domain_exists) e.policy = r.np.value_or(e.policy);
    }
    e.applied = Policy::none;
    if (!e.pass) {
        e.applied = e.policy;
        // 6.6.4: outside the pct sample a policy is applied one step softer.
        if (in.sample >= r.pct) {
            if (e.applied == Policy::reject)
                e.applied = Policy::quarantine;
            else if (e.applied == Policy::quarantine)
                e.applied = Policy::none;
        }
    }
    return e;
}

}  // namespace sluice::trust::dmarc
