// queue_command.cpp: `sluice queue list|cat|flush|hold|release|delete`.
//
// list and cat read the spool directly (read-only: Spool::Options::inspect_only), beside a running
// server or none. The other commands ask the running server through its control socket, which owns
// the queue's schedule; with a filter or --all the matching IDs come from a spool read first and
// go to the server in requests of at most kMaxIdsPerRequest IDs.
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli.hpp"
#include "common/queue_id.hpp"
#include "spool/spool.hpp"

namespace sluice::app {
namespace {

using server::control::Verb;

std::string_view state_name(spool::RecipientState s) {
    switch (s) {
        case spool::RecipientState::pending:
            return "pending";
        case spool::RecipientState::delivered:
            return "delivered";
        case spool::RecipientState::failed:
            return "failed";
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

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A usage error: the message, exit status 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::chrono::seconds age(const std::string& flag, const std::string& text) {
    const auto d = config::parse_duration(text);
    if (!d)
        throw UsageError(fmt::format("{}: not a duration: \"{}\" (e.g. 30m, 2h, 3d)", flag, text));
    return std::chrono::duration_cast<std::chrono::seconds>(*d);
}

queue::QueueFilter make_filter(const QueueArgs& a) {
    queue::QueueFilter f;
    if (!a.sender.empty()) f.sender = a.sender;
    if (!a.recipient.empty()) f.recipient = a.recipient;
    if (!a.domain.empty()) f.domain = a.domain;
    if (!a.error.empty()) f.error = a.error;
    if (!a.older_than.empty()) f.older_than = age("--older-than", a.older_than);
    if (!a.newer_than.empty()) f.newer_than = age("--newer-than", a.newer_than);
    if (a.held && a.not_held) throw UsageError("--held and --not-held exclude each other");
    if (a.held) f.held = true;
    if (a.not_held) f.held = false;
    return f;
}

// Every matching entry, read without changing the spool; throws naming the path it cannot read.
std::vector<spool::QueueEntry> matching(const config::Config& cfg, const queue::QueueFilter& f,
                                        std::size_t* total = nullptr) {
    spool::Spool sp(spool::Spool::Options{cfg.spool.dir, 1, nullptr, 1, true});
    auto all = sp.scan();
    if (total) *total = all.size();
    const std::int64_t now = now_us();
    std::vector<spool::QueueEntry> out;
    for (auto& e : all)
        if (matches(f, e, now)) out.push_back(std::move(e));
    return out;
}

nlohmann::json to_json(const spool::QueueEntry& e) {
    const auto& env = e.envelope;
    nlohmann::json rcpts = nlohmann::json::array();
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
        const auto& st = i < e.recipients.size() ? e.recipients[i] : spool::RecipientStatus{};
        rcpts.push_back({{"address", env.recipients[i].address},
                         {"state", state_name(st.state)},
                         {"attempts", st.attempts},
                         {"next_attempt", format_time_us(st.next_attempt_us)},
                         {"last_error", st.last_error}});
    }
    return {{"queue_id", env.queue_id},
            {"sender", env.sender},
            {"arrival_time", format_time_us(env.received_at_us)},
            {"arrival_time_us", env.received_at_us},
            {"message_size", e.message_size},
            {"held", e.held},
            {"client_ip", env.client_ip},
            {"helo", env.helo},
            {"listener", env.listener},
            {"recipients", std::move(rcpts)}};
}

// Sends one request to the running server's control socket. nullopt (after saying why on stderr)
// when the server cannot be reached or does not answer.
std::optional<server::control::Response> control(const config::Config& cfg,
                                                 const server::control::Request& req) {
    const std::string path = cfg.control_socket.string();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        fmt::print(stderr, "sluice: control socket path too long: {}\n", path);
        return std::nullopt;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fmt::print(stderr, "sluice: socket: {}\n", std::strerror(errno));
        return std::nullopt;
    }
    timeval tv{60, 0};  // a flush or delete touches the disk; never wait forever
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        ::close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            fmt::print(
                stderr,
                "sluice: the server is not running (no control socket answering at {}: {});\n"
                "sluice: queue flush/hold/release/delete act on a running server only\n",
                path, std::strerror(e));
        else
            fmt::print(stderr, "sluice: cannot connect to the control socket {}: {}{}\n", path,
                       std::strerror(e),
                       e == EACCES ? " (run this as the user the server runs as)" : "");
        return std::nullopt;
    }
    const std::string line = server::control::format_request(req);
    for (std::size_t off = 0; off < line.size();) {
        ssize_t n = ::write(fd, line.data() + off, line.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fmt::print(stderr, "sluice: control socket {}: write: {}\n", path,
                       std::strerror(errno));
            ::close(fd);
            return std::nullopt;
        }
        off += static_cast<std::size_t>(n);
    }
    std::string answer;
    char buf[4096];
    while (answer.find('\n') == std::string::npos && answer.size() < 16384) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        answer.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto resp = server::control::parse_response(answer.substr(0, answer.find('\n')));
    if (!resp) fmt::print(stderr, "sluice: no valid answer from the server on {}\n", path);
    return resp;
}

std::string_view past_tense(Verb v) {
    switch (v) {
        case Verb::flush:
            return "scheduled for delivery now";
        case Verb::hold:
            return "held";
        case Verb::release:
            return "released";
        case Verb::remove:
            return "deleted";
    }
    return "?";
}

std::string_view verb_name(Verb v) {
    switch (v) {
        case Verb::flush:
            return "flush";
        case Verb::hold:
            return "hold";
        case Verb::release:
            return "release";
        case Verb::remove:
            return "delete";
    }
    return "?";
}

int run_list(const QueueArgs& a) {
    const auto cfg = load_for_admin(a.config);
    const auto filter = make_filter(a);
    std::size_t total = 0;
    const auto entries = matching(cfg, filter, &total);
    if (a.json) {
        // One object per line, as `postqueue -j`: streams into jq and grep alike.
        for (const auto& e : entries) fmt::print("{}\n", to_json(e).dump());
        return 0;
    }
    for (const auto& e : entries) {
        const auto& env = e.envelope;
        fmt::print("{}  {:>8}  {}  <{}>{}\n", env.queue_id, e.message_size,
                   format_time_us(env.received_at_us), env.sender, e.held ? "  HELD" : "");
        for (std::size_t i = 0; i < env.recipients.size(); ++i) {
            const auto& st = i < e.recipients.size() ? e.recipients[i] : spool::RecipientStatus{};
            fmt::print("    {:<40} {:<9} attempts={} next={}{}{}\n", env.recipients[i].address,
                       state_name(st.state), st.attempts, format_time_us(st.next_attempt_us),
                       st.last_error.empty() ? "" : "  last_error=", st.last_error);
        }
    }
    if (filter.empty())
        fmt::print("{} message{} in queue\n", total, total == 1 ? "" : "s");
    else
        fmt::print("{} of {} message{} in queue match\n", entries.size(), total,
                   total == 1 ? "" : "s");
    return 0;
}

int run_act(const QueueArgs& a, Verb verb) {
    const auto cfg = load_for_admin(a.config);
    std::vector<std::string> ids = a.ids;
    bool all = a.all;
    // `postsuper -d ALL` habit.
    if (ids.size() == 1 && ids.front() == "ALL") {
        ids.clear();
        all = true;
    }
    for (const auto& id : ids)
        if (!is_valid_queue_id(id)) throw UsageError("not a queue ID: " + id);
    auto filter = make_filter(a);
    const bool selecting = all || !filter.empty();
    if (!ids.empty() && selecting)
        throw UsageError("give queue IDs, or a filter or --all, not both");
    if (ids.empty() && !selecting) {
        if (verb == Verb::flush) {  // every deferred message, as before
            auto r = control(cfg, {Verb::flush, {}});
            if (!r) return 1;
            fmt::print(r->ok ? stdout : stderr, "{}{}\n", r->ok ? "" : "sluice: ", r->text);
            return r->ok ? 0 : 1;
        }
        throw UsageError(
            fmt::format("{} needs queue IDs, a filter (see --help) or --all", verb_name(verb)));
    }
    if (selecting) {
        // What can be acted on: release takes held messages, hold the others (unless a --held /
        // --not-held says otherwise).
        if (!filter.held && verb == Verb::release) filter.held = true;
        if (!filter.held && verb == Verb::hold) filter.held = false;
        for (auto& e : matching(cfg, filter)) ids.push_back(std::move(e.envelope.queue_id));
        if (ids.empty()) {
            fmt::print("0 messages matched; nothing {}\n", past_tense(verb));
            return 0;
        }
    }
    std::size_t touched = 0, missed = 0;
    std::string detail;
    for (std::size_t off = 0; off < ids.size(); off += server::control::kMaxIdsPerRequest) {
        const auto end = std::min(ids.size(), off + server::control::kMaxIdsPerRequest);
        server::control::Request req{verb,
                                     {ids.begin() + static_cast<std::ptrdiff_t>(off),
                                      ids.begin() + static_cast<std::ptrdiff_t>(end)}};
        auto r = control(cfg, req);
        if (!r) return 1;
        if (req.ids.size() == 1) {  // one ID: the server's own words
            if (r->ok)
                ++touched;
            else {
                ++missed;
                detail += req.ids.front() + ": " + r->text + "; ";
            }
            if (ids.size() == 1 && !selecting) {
                fmt::print(r->ok ? stdout : stderr, "{}{}\n", r->ok ? "" : "sluice: ", r->text);
                return r->ok ? 0 : 1;
            }
            continue;
        }
        auto counts = r->ok ? server::control::parse_bulk(r->text) : std::nullopt;
        if (!counts) {
            fmt::print(stderr, "sluice: {}\n", r->text);
            return 1;
        }
        touched += counts->touched;
        missed += counts->missed;
        detail += counts->detail;
    }
    fmt::print("{} message{} {}\n", touched, touched == 1 ? "" : "s", past_tense(verb));
    if (missed > 0) fmt::print(stderr, "sluice: {} not {}: {}\n", missed, past_tense(verb), detail);
    // Named IDs are a request for each; a filter means whatever still matches (a message
    // delivered since the spool was read is no failure).
    return missed > 0 && !selecting ? 1 : 0;
}

template <typename F>
int guarded(F&& f) {
    try {
        return f();
    } catch (const UsageError& e) {
        fmt::print(stderr, "sluice: {}\n", e.what());
        return 2;
    }
}

}  // namespace

int queue_list(const QueueArgs& a) {
    return guarded([&] { return run_list(a); });
}

int queue_act(const QueueArgs& a, Verb verb) {
    return guarded([&] { return run_act(a, verb); });
}

int queue_cat(const QueueArgs& a, const std::string& id, bool envelope) {
    if (!is_valid_queue_id(id)) {
        fmt::print(stderr, "sluice: not a queue ID: {}\n", id);
        return 2;
    }
    const auto cfg = load_for_admin(a.config);
    spool::Spool sp(spool::Spool::Options{cfg.spool.dir, 1, nullptr, 1, true});
    auto m = sp.load_message(id);
    if (!m) {
        fmt::print(stderr, "sluice: no message {} in {}\n", id, cfg.spool.dir.string());
        return 1;
    }
    if (envelope) {
        const auto& e = m->envelope;
        fmt::print(
            "queue_id: {}\nsender: <{}>\nhelo: {}\nclient_ip: {}\nlistener: {}\n"
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

}  // namespace sluice::app
