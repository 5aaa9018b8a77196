// load_domains.cpp: [[domain]]: mailboxes, aliases and catch-alls, resolved once every domain is
// known (see loader.hpp).
#include "config/loader.hpp"

namespace sluice::config::detail {

void Loader::load_domains(const toml::node& n, std::vector<Domain>& out) const {
    if (!n.is_array_of_tables()) wrong_type("domain", n, "array of tables ([[domain]])");
    std::map<std::string, std::string> names;  // domain name -> key of first use
    std::vector<PendingTarget> pending;
    std::size_t i = 0;
    for (const toml::node& e : *n.as_array()) {
        const std::string prefix = "domain[" + std::to_string(i) + "]";
        const toml::table& t = *e.as_table();
        check_keys(t, prefix, {"name", "mailboxes", "aliases", "catch_all", "any_user"});
        Domain d;

        const auto name = string(t, prefix, "name");
        if (!name) fail(prefix + ".name", e, "required key is missing");
        if (!is_valid_domain_name(*name)) {
            fail(prefix + ".name", *t.get("name"), "\"" + *name + "\" is not a valid domain name");
        }
        d.name = lower(*name);
        if (const auto [it, fresh] = names.emplace(d.name, prefix); !fresh) {
            fail(prefix + ".name", *t.get("name"),
                 "duplicate domain \"" + d.name + "\" (also " + it->second + ")");
        }

        if (const toml::node* mn = t.get("mailboxes")) {
            const std::string key = prefix + ".mailboxes";
            for (const toml::node* m : string_array(*mn, key)) {
                const std::string local = lower(m->as_string()->get());
                if (!is_safe_local_part(local)) {
                    fail(key, *m,
                         "\"" + m->as_string()->get() +
                             "\" is not a valid mailbox name (1-64 characters from a-z 0-9 . _ -, "
                             "not starting with '.')");
                }
                if (std::find(d.mailboxes.begin(), d.mailboxes.end(), local) != d.mailboxes.end()) {
                    fail(key, *m, "duplicate mailbox \"" + local + "\"");
                }
                d.mailboxes.push_back(local);
            }
        }

        if (const toml::table* at = table(t, prefix, "aliases")) {
            for (auto&& [k, v] : *at) {
                const std::string key = prefix + ".aliases." + std::string(k.str());
                const std::string alias = lower(k.str());
                if (!is_safe_local_part(alias)) {
                    fail(key, k.source(),
                         "\"" + std::string(k.str()) +
                             "\" is not a valid alias name (1-64 characters from a-z 0-9 . _ -, "
                             "not starting with '.')");
                }
                if (std::find(d.mailboxes.begin(), d.mailboxes.end(), alias) != d.mailboxes.end()) {
                    fail(key, k.source(), "\"" + alias + "\" is both a mailbox and an alias");
                }
                if (d.aliases.count(alias) != 0) {
                    fail(key, k.source(), "duplicate alias \"" + alias + "\"");
                }
                const auto targets = string_array(v, key);
                if (targets.empty()) fail(key, v, "an alias needs at least one target");
                d.aliases[alias];  // filled once every domain is known
                for (const toml::node* target : targets) {
                    pending.push_back(PendingTarget{i, key, target, alias});
                }
            }
        }

        if (const toml::node* cn = t.get("catch_all")) {
            if (!cn->is_string()) wrong_type(prefix + ".catch_all", *cn, "string");
            pending.push_back(PendingTarget{i, prefix + ".catch_all", cn, {}});
        }
        if (const auto any = boolean(t, prefix, "any_user")) d.any_user = *any;

        out.push_back(std::move(d));
        ++i;
    }

    for (const PendingTarget& p : pending) {
        std::string address = resolve_target(p, out);
        Domain& d = out[p.domain];
        if (p.alias.empty()) {
            d.catch_all = std::move(address);
        } else {
            auto& targets = d.aliases[p.alias];
            if (std::find(targets.begin(), targets.end(), address) == targets.end()) {
                targets.push_back(std::move(address));
            }
        }
    }
}

// "alice" -> "alice@<declaring domain>"; "bob@example.net" -> itself. The result must be a mailbox.
std::string Loader::resolve_target(const PendingTarget& p,
                                   const std::vector<Domain>& domains) const {
    const std::string& text = p.node->as_string()->get();
    const std::string target = lower(text);
    std::string local = target;
    std::string domain = domains[p.domain].name;
    if (const auto at = target.rfind('@'); at != std::string::npos) {
        local = target.substr(0, at);
        domain = target.substr(at + 1);
    }
    const auto it = std::find_if(domains.begin(), domains.end(),
                                 [&](const Domain& d) { return d.name == domain; });
    if (it == domains.end()) {
        fail(p.key, *p.node,
             "target \"" + text + "\": domain \"" + domain + "\" is not a configured [[domain]]");
    }
    const bool mailbox =
        std::find(it->mailboxes.begin(), it->mailboxes.end(), local) != it->mailboxes.end() ||
        (it->any_user && is_safe_local_part(local));
    if (!mailbox) {
        if (it->aliases.count(local) != 0) {
            fail(
                p.key, *p.node,
                "target \"" + text + "\" is an alias; targets must be mailboxes (no alias chains)");
        }
        fail(p.key, *p.node,
             "target \"" + text + "\" is not a mailbox of domain \"" + domain + "\"");
    }
    return local + "@" + domain;
}

}  // namespace sluice::config::detail
