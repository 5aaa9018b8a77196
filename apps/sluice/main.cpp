// main.cpp: the `sluice` command line. Thin by design: parse arguments, load the configuration,
// hand over to the library.
//
//   sluice serve [--config FILE]         run the server (embedded default without --config)
//   sluice check-config FILE             validate a configuration file
//   sluice queue list [--config FILE]    show queued messages with per-recipient status
//   sluice queue cat ID [--config FILE]  print a queued message (--envelope for its envelope)
//   sluice queue flush [ID] | hold ID | release ID | delete ID [--config FILE]
//                                        act on the running server through its control socket
//   sluice passwd                        read a password on stdin, print its argon2id hash
#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>

#include "auth/password.hpp"
#include "common/log.hpp"
#include "common/queue_id.hpp"
#include "config/config.hpp"
#include "server/control_protocol.hpp"
#include "server/server.hpp"
#include "spool/spool.hpp"

namespace {

using namespace sluice;

config::Config load(const std::string& path) {
    return path.empty() ? config::default_config() : config::load_file(path);
}

std::string_view state_name(spool::RecipientState s) {
    switch (s) {
        case spool::RecipientState::pending: return "pending";
        case spool::RecipientState::delivered: return "delivered";
        case spool::RecipientState::failed: return "failed";
    }
    return "?";
}

std::string format_time_us(std::int64_t us) {
    if (us <= 0) return "now";
    std::time_t t = static_cast<std::time_t>(us / 1000000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "?";
    return buf;
}

int queue_list(const config::Config& cfg) {
    spool::Spool sp(spool::Spool::Options{cfg.spool.dir, 1, nullptr});
    std::size_t n = 0;
    for (auto& entry : sp.scan()) {
        auto* e = &entry;
        const std::string& id = e->envelope.queue_id;
        ++n;
        const auto& env = e->envelope;
        fmt::print("{}  {:>8}  {}  <{}>{}\n", id, e->message_size,
                   format_time_us(env.received_at_us), env.sender, e->held ? "  HELD" : "");
        for (std::size_t i = 0; i < env.recipients.size(); ++i) {
            const auto& st = i < e->recipients.size() ? e->recipients[i] : spool::RecipientStatus{};
            fmt::print("    {:<40} {:<9} attempts={} next={}{}{}\n", env.recipients[i].address,
                       state_name(st.state), st.attempts, format_time_us(st.next_attempt_us),
                       st.last_error.empty() ? "" : "  last_error=", st.last_error);
        }
    }
    fmt::print("{} message{} in queue\n", n, n == 1 ? "" : "s");
    return 0;
}

int queue_cat(const config::Config& cfg, const std::string& id, bool envelope) {
    if (!is_valid_queue_id(id)) {
        fmt::print(stderr, "sluice: not a queue ID: {}\n", id);
        return 2;
    }
    spool::Spool sp(spool::Spool::Options{cfg.spool.dir, 1, nullptr});
    auto m = sp.load_message(id);
    if (!m) {
        fmt::print(stderr, "sluice: no message {} in {}\n", id, cfg.spool.dir.string());
        return 1;
    }
    if (envelope) {
        const auto& e = m->envelope;
        fmt::print("queue_id: {}\nsender: <{}>\nhelo: {}\nclient_ip: {}\nlistener: {}\n"
                   "protocol: {}\nreceived_at: {}\n",
                   e.queue_id, e.sender, e.helo, e.client_ip, e.listener, e.protocol,
                   format_time_us(e.received_at_us));
        for (const auto& r : e.recipients) fmt::print("recipient: <{}>\n", r.address);
        return 0;
    }
    if (std::fwrite(m->message.data(), 1, m->message.size(), stdout) != m->message.size() ||
        std::fflush(stdout) != 0) {
        fmt::print(stderr, "sluice: cannot write message {} to standard output\n", id);
        return 1;
    }
    return 0;
}

// Sends one request to the running server's control socket and prints the answer: 0 on OK, 1 on
// ERR or when the server cannot be reached.
int queue_control(const config::Config& cfg, const server::control::Request& req) {
    if (!req.id.empty() && !is_valid_queue_id(req.id)) {
        fmt::print(stderr, "sluice: not a queue ID: {}\n", req.id);
        return 1;
    }
    const std::string path = cfg.control_socket.string();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        fmt::print(stderr, "sluice: control socket path too long: {}\n", path);
        return 1;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fmt::print(stderr, "sluice: socket: {}\n", std::strerror(errno));
        return 1;
    }
    timeval tv{60, 0};  // a flush or delete touches the disk; never wait forever
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        ::close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            fmt::print(stderr,
                       "sluice: the server is not running (no control socket answering at {}: {});\n"
                       "sluice: queue flush/hold/release/delete act on a running server only\n",
                       path, std::strerror(e));
        else
            fmt::print(stderr, "sluice: cannot connect to the control socket {}: {}{}\n", path,
                       std::strerror(e),
                       e == EACCES ? " (run this as the user the server runs as)" : "");
        return 1;
    }
    const std::string line = server::control::format_request(req);
    for (std::size_t off = 0; off < line.size();) {
        ssize_t n = ::write(fd, line.data() + off, line.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fmt::print(stderr, "sluice: control socket {}: write: {}\n", path, std::strerror(errno));
            ::close(fd);
            return 1;
        }
        off += static_cast<std::size_t>(n);
    }
    std::string answer;
    char buf[512];
    while (answer.find('\n') == std::string::npos && answer.size() < 4096) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        answer.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto resp = server::control::parse_response(answer.substr(0, answer.find('\n')));
    if (!resp) {
        fmt::print(stderr, "sluice: no valid answer from the server on {}\n", path);
        return 1;
    }
    if (!resp->ok) {
        fmt::print(stderr, "sluice: {}\n", resp->text);
        return 1;
    }
    fmt::print("{}\n", resp->text);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Sluice mail server"};
    app.require_subcommand(1);

    std::string config_path;
    auto* serve = app.add_subcommand("serve", "Run the SMTP server");
    serve->add_option("-c,--config", config_path, "Configuration file (TOML); default: embedded")
        ->check(CLI::ExistingFile);

    std::string check_path;
    auto* check = app.add_subcommand("check-config", "Validate a configuration file");
    check->add_option("file", check_path, "Configuration file")->required();

    auto* queue = app.add_subcommand("queue", "Inspect the queue");
    queue->require_subcommand(1);
    std::string queue_config;
    queue->add_option("-c,--config", queue_config, "Configuration file (TOML)");
    auto* qlist = queue->add_subcommand("list", "List queued messages");
    qlist->fallthrough();  // `queue list --config F` passes --config up to `queue`
    std::string cat_id;
    bool cat_envelope = false;
    auto* qcat = queue->add_subcommand("cat", "Print a queued message");
    qcat->add_option("id", cat_id, "Queue ID")->required();
    qcat->add_flag("--envelope", cat_envelope, "Print the envelope instead of the message");
    qcat->fallthrough();
    using server::control::Request;
    using server::control::Verb;
    std::string admin_id;
    auto* qflush = queue->add_subcommand("flush", "Retry deferred messages now (all, or one ID)");
    qflush->add_option("id", admin_id, "Queue ID (default: every deferred message)");
    auto* qhold = queue->add_subcommand("hold", "Stop delivery attempts for a message");
    qhold->add_option("id", admin_id, "Queue ID")->required();
    auto* qrelease = queue->add_subcommand("release", "Resume delivery of a held message now");
    qrelease->add_option("id", admin_id, "Queue ID")->required();
    auto* qdelete = queue->add_subcommand("delete", "Remove a message from the queue, undelivered");
    qdelete->add_option("id", admin_id, "Queue ID")->required();
    for (auto* c : {qflush, qhold, qrelease, qdelete}) c->fallthrough();

    auto* passwd = app.add_subcommand(
        "passwd", "Read a password from standard input (one line) and print its argon2id hash");

    CLI11_PARSE(app, argc, argv);

    try {
        if (*passwd) {
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
        if (*check) {
            auto cfg = config::load_file(check_path);
            fmt::print("{}: ok ({} listener{}, {} domain{})\n", check_path, cfg.listeners.size(),
                       cfg.listeners.size() == 1 ? "" : "s", cfg.domains.size(),
                       cfg.domains.size() == 1 ? "" : "s");
            return 0;
        }
        if (*queue) {
            auto cfg = load(queue_config);
            if (*qlist) return queue_list(cfg);
            if (*qcat) return queue_cat(cfg, cat_id, cat_envelope);
            if (*qflush) return queue_control(cfg, Request{Verb::flush, admin_id});
            if (*qhold) return queue_control(cfg, Request{Verb::hold, admin_id});
            if (*qrelease) return queue_control(cfg, Request{Verb::release, admin_id});
            if (*qdelete) return queue_control(cfg, Request{Verb::remove, admin_id});
            return 2;
        }
        if (*serve) {
            auto cfg = load(config_path);
            log::init(cfg.log.level, cfg.log.format, cfg.log.file);
            if (config_path.empty()) {
                // The embedded default: tell a first-time user where to point a client and where
                // the mail goes.
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
    } catch (const config::ConfigError& e) {
        fmt::print(stderr, "sluice: configuration error: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "sluice: {}\n", e.what());
        return 1;
    }
    return 0;
}
