// main.cpp: the `sluice` command line. Thin by design: parse arguments, load the configuration,
// hand over to the library (serve) or to the subcommand files beside this one.
//
//   sluice serve [--config FILE]         run the server (embedded default without --config)
//   sluice check-config FILE             validate a configuration file and what it needs on this
//   host sluice config show [--config FILE]   the effective configuration, defaults filled in
//   sluice queue list [filters] [--json] show queued messages with per-recipient status
//   sluice queue cat ID [--envelope]     print a queued message (or its envelope)
//   sluice queue flush|hold|release|delete [ID...|--all|filters]
//                                        act on the running server through its control socket
//   sluice passwd                        read a password on stdin, print its argon2id hash
//   sluice dkim keygen --domain D --selector S [--algo rsa|ed25519]
//                                        a signing key (0600) and the TXT record to publish
//   sluice --version
#include <sys/resource.h>
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "auth/password.hpp"
#include "cli.hpp"
#include "common/log.hpp"
#include "common/nearest.hpp"
#include "config/config.hpp"
#include "server/preflight.hpp"
#include "server/server.hpp"
#include "version.hpp"

namespace {

using namespace sluice;

// CLI11 reports a mistyped subcommand as "A subcommand is required" (or as an extra argument);
// walk the words first and name the one that is not a subcommand, with the nearest that is.
// Returns false after printing the error.
bool check_subcommands(const CLI::App& app, int argc, char** argv) {
    const CLI::App* at = &app;
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (word == "--") return true;
        if (!word.empty() && word[0] == '-') {
            if (word == "-c" || word == "--config") ++i;  // its value is not a subcommand
            continue;
        }
        const auto subs = at->get_subcommands([](const CLI::App*) { return true; });
        if (subs.empty()) return true;  // a positional argument of a leaf command
        std::vector<std::string> names;
        const CLI::App* next = nullptr;
        for (const auto* s : subs) {
            names.push_back(s->get_name());
            if (s->check_name(word)) next = s;
        }
        if (!next) {
            const std::string where = at == &app ? "" : at->get_name() + " ";
            const auto guess = nearest(word, names);
            fmt::print(stderr, "sluice: unknown command '{}{}'{}\n", where, word,
                       guess ? fmt::format("; did you mean '{}{}'?", where, *guess) : "");
            fmt::print(stderr, "Run 'sluice {}--help' for the list.\n", where);
            return false;
        }
        at = next;
    }
    return true;
}

void add_queue_options(CLI::App* c, app::QueueArgs& a, bool filters) {
    c->fallthrough();  // `queue list --config F` passes --config up to `queue`
    if (!filters) return;
    c->add_option("--sender", a.sender,
                  "Envelope sender matches this glob (\"<>\": the null sender)");
    c->add_option("--recipient", a.recipient, "A pending recipient matches this glob");
    c->add_option("--domain", a.domain, "A pending recipient is at this domain");
    c->add_option("--older-than", a.older_than, "Received at least this long ago (30m, 2h, 3d)");
    c->add_option("--newer-than", a.newer_than, "Received less than this long ago");
    c->add_flag("--held", a.held, "Held messages only");
    c->add_flag("--not-held", a.not_held, "Messages not held only");
    c->add_option("--error", a.error, "A pending recipient's last error contains this text");
}

int serve(const std::string& config_path) {
    auto cfg = config_path.empty() ? config::default_config() : config::load_file(config_path);
    // The checks `check-config` makes: fail here, before binding, with the key to change.
    if (const auto problems = server::preflight(cfg); !problems.empty()) {
        for (const auto& p : problems)
            fmt::print(stderr, "sluice: configuration error: {}: {}\n", p.key, p.message);
        return 2;
    }
    log::init(cfg.log.level, cfg.log.format, cfg.log.file);
    if (config_path.empty()) {
        // The embedded default: tell a first-time user where to point a client and where the
        // mail goes.
        fmt::print(stderr,
                   "sluice: no --config given, running the embedded default.\n"
                   "sluice: SMTP on {}:{}; mail to any address @localhost is delivered to\n"
                   "sluice:   {}/localhost/<user>/new/\n",
                   cfg.listeners.at(0).address, cfg.listeners.at(0).port,
                   cfg.delivery.maildir_root.string());
    }
    // One descriptor per connection: take the whole hard limit (10,000 idle clients must fit).
    if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    server::Server srv(std::move(cfg));
    srv.run();
    return 0;
}

int passwd() {
    std::string pw;
    if (!std::getline(std::cin, pw)) {
        fmt::print(stderr, "sluice: passwd: no password on standard input\n");
        return 2;
    }
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
    if (pw.empty()) {
        fmt::print(stderr, "sluice: passwd: empty password\n");
        return 2;
    }
    fmt::print("{}\n", auth::hash_password(pw));
    std::fill(pw.begin(), pw.end(), '\0');
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Sluice mail server", "sluice"};
    app.require_subcommand(1);
    app.set_version_flag("--version", fmt::format("sluice {} (git {}, {} build)", app::kVersion,
                                                  app::kGitRevision, app::kBuildType));

    std::string config_path;
    auto* serve_cmd = app.add_subcommand("serve", "Run the SMTP server");
    serve_cmd
        ->add_option("-c,--config", config_path, "Configuration file (TOML); default: embedded")
        ->check(CLI::ExistingFile);

    std::string check_path;
    auto* check = app.add_subcommand(
        "check-config", "Validate a configuration file and what it needs on this host");
    check->add_option("file", check_path, "Configuration file")->required();

    auto* config = app.add_subcommand("config", "Show the configuration");
    config->require_subcommand(1);
    std::string show_path;
    config->add_option("-c,--config", show_path,
                       "Configuration file (default: /etc/sluice/sluice.toml if present, else "
                       "the embedded default)");
    auto* show = config->add_subcommand(
        "show", "Print the effective configuration (defaults filled in, secrets masked)");
    show->fallthrough();

    app::QueueArgs qa;
    auto* queue = app.add_subcommand("queue", "Inspect and manage the queue");
    queue->require_subcommand(1);
    queue->add_option("-c,--config", qa.config,
                      "Configuration file (default: /etc/sluice/sluice.toml if present, else the "
                      "embedded default)");
    auto* qlist = queue->add_subcommand("list", "List queued messages (filters narrow the list)");
    add_queue_options(qlist, qa, true);
    qlist->add_flag("--json", qa.json, "One JSON object per message per line");
    std::string cat_id;
    bool cat_envelope = false;
    auto* qcat = queue->add_subcommand("cat", "Print a queued message");
    qcat->add_option("id", cat_id, "Queue ID")->required();
    qcat->add_flag("--envelope", cat_envelope, "Print the envelope instead of the message");
    add_queue_options(qcat, qa, false);
    using server::control::Verb;
    struct Act {
        const char* name;
        const char* help;
        Verb verb;
        CLI::App* cmd = nullptr;
    };
    Act acts[] = {
        {"flush", "Retry deferred messages now (every one without arguments)", Verb::flush},
        {"hold", "Stop delivery attempts (kept in the queue until released)", Verb::hold},
        {"release", "Resume delivery of held messages now", Verb::release},
        {"delete", "Remove messages from the queue, undelivered, without a bounce", Verb::remove},
    };
    for (auto& a : acts) {
        a.cmd = queue->add_subcommand(a.name, a.help);
        a.cmd->add_option("id", qa.ids, "Queue IDs (ALL: every message)");
        a.cmd->add_flag("--all", qa.all, "Every message in the queue");
        add_queue_options(a.cmd, qa, true);
    }

    auto* dkim_cmd = app.add_subcommand("dkim", "DKIM signing keys");
    dkim_cmd->require_subcommand(1);
    app::DkimKeygenArgs ka;
    auto* keygen = dkim_cmd->add_subcommand(
        "keygen", "Make a signing key (file mode 0600) and print the DNS TXT record to publish");
    keygen->add_option("--domain", ka.domain, "The signing domain (d=)")->required();
    keygen->add_option("--selector", ka.selector, "The selector (s=), e.g. s2026")->required();
    keygen->add_option("--algo", ka.algo, "rsa (default) or ed25519");
    keygen->add_option("--bits", ka.bits, "RSA key size (default 2048)");
    keygen->add_option("--out", ka.out, "Key file (default: <domain>.<selector>.key here)");

    auto* passwd_cmd = app.add_subcommand(
        "passwd", "Read a password from standard input (one line) and print its argon2id hash");

    if (argc == 1) {  // a first-time user: what can I do?
        fmt::print("{}", app.help());
        return 2;
    }
    if (!check_subcommands(app, argc, argv)) return 2;
    CLI11_PARSE(app, argc, argv);

    try {
        if (*passwd_cmd) return passwd();
        if (*keygen) return app::dkim_keygen(ka);
        if (*check) return app::check_config(check_path);
        if (*show) return app::config_show(show_path);
        if (*qlist) return app::queue_list(qa);
        if (*qcat) return app::queue_cat(qa, cat_id, cat_envelope);
        for (auto& a : acts)
            if (*a.cmd) return app::queue_act(qa, a.verb);
        if (*serve_cmd) return serve(config_path);
    } catch (const config::ConfigError& e) {
        fmt::print(stderr, "sluice: configuration error: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "sluice: {}\n", e.what());
        return 1;
    }
    return 2;
}
