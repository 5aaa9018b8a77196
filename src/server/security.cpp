// security.cpp: TLS, AUTH and rate-limit services of a running server (see security.hpp).
#include "server/security.hpp"

#include <boost/asio/post.hpp>
#include <chrono>

#include "common/log.hpp"

namespace sluice::server {
namespace asio = boost::asio;

namespace {

constexpr auto kSaveInterval = std::chrono::seconds(10);

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

policy::Rule to_rule(const config::RateLimit& r) {
    policy::Rule out;
    out.scope = r.scope == config::RateScope::ip     ? policy::Scope::ip
                : r.scope == config::RateScope::user ? policy::Scope::user
                                                     : policy::Scope::sender;
    out.metric = r.metric == config::RateMetric::connections ? policy::Metric::connections
                 : r.metric == config::RateMetric::messages  ? policy::Metric::messages
                                                             : policy::Metric::recipients;
    out.limit = r.limit;
    out.window = r.window;
    return out;
}

}  // namespace

Security::Security(const config::Config& cfg, asio::io_context& io)
    : cfg_(cfg), io_(io), save_timer_(io) {
    if (cfg.tls.enabled) {
        if (cfg.tls.self_signed &&
            tls::ensure_self_signed(cfg.tls.cert_file, cfg.tls.key_file, cfg.hostname))
            log::info("tls_self_signed",
                      {{"cert", cfg.tls.cert_file.string()}, {"key", cfg.tls.key_file.string()}});
        tls_ = std::make_unique<tls::ContextHolder>(
            cfg.tls.cert_file, cfg.tls.key_file,
            cfg.tls.min_tls13 ? tls::MinVersion::tls1_3 : tls::MinVersion::tls1_2);
    }
    if (cfg.auth.enabled()) {
        std::vector<std::unique_ptr<auth::UserStore>> stores;
        std::vector<auth::User> users;
        for (const auto& u : cfg.auth.users)
            users.push_back({u.name, u.password_hash, u.addresses, u.message_size});
        stores.push_back(std::make_unique<auth::TomlUserStore>(std::move(users)));
        if (!cfg.auth.sqlite_file.empty())
            stores.push_back(auth::open_sqlite_user_store(cfg.auth.sqlite_file.string()));
        users_ = std::make_unique<auth::ChainUserStore>(std::move(stores));
        auth::LockoutPolicy p;
        p.max_failures = cfg.auth.lockout_failures;
        p.window = cfg.auth.lockout_window;
        p.lockout = cfg.auth.lockout_duration;
        p.delay = cfg.auth.failure_delay;
        p.max_delay = cfg.auth.max_failure_delay;
        p.account_free = cfg.auth.account_throttle_after;
        p.account_max_delay = cfg.auth.account_max_delay;
        guard_ = std::make_unique<auth::LoginGuard>(p);
    }
    if (cfg.auth.enabled() || !cfg.rate_limits.empty())
        pool_ = std::make_unique<asio::thread_pool>(cfg.auth.threads);
    if (!cfg.rate_limits.empty()) {
        counters_ = std::make_unique<policy::MemoryCounterStore>();
        counters_path_ = (cfg.data_dir / "rate_limits.state").string();
        counters_->restore(policy::load_counters(counters_path_), now_ms());
        std::vector<policy::Rule> rules;
        for (const auto& r : cfg.rate_limits) rules.push_back(to_rule(r));
        limiter_ = std::make_unique<policy::RateLimiter>(std::move(rules), *counters_);
    }
}

Security::~Security() {
    if (pool_) pool_->join();
}

void Security::attach(Context& ctx) {
    ctx.tls = tls_.get();
    ctx.users = users_.get();
    ctx.login_guard = guard_.get();
    ctx.auth_pool = pool_.get();
    ctx.rate_limiter = limiter_.get();
}

void Security::reload() {
    if (!tls_) {
        log::info("tls_reload", {{"result", "tls disabled"}});
        return;
    }
    std::string err = tls_->reload();
    if (err.empty())
        log::info("tls_reload", {{"result", "ok"}, {"cert", cfg_.tls.cert_file.string()}});
    else
        log::error("tls_reload", {{"result", "failed"}, {"error", err}});
}

void Security::start() {
    if (counters_) schedule_save();
}

void Security::schedule_save() {
    save_timer_.expires_after(kSaveInterval);
    save_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopped_) return;
        asio::post(*pool_, [this] { save_counters_now(); });
        schedule_save();
    });
}

void Security::save_counters_now() {
    std::lock_guard lock(save_mu_);
    try {
        policy::save_counters(counters_path_, counters_->snapshot(now_ms()));
    } catch (const std::exception& e) {
        log::error("rate_limit_save", {{"error", e.what()}});
    }
}

void Security::stop() {
    stopped_ = true;
    boost::system::error_code ec;
    save_timer_.cancel();
    if (counters_) save_counters_now();
}

}  // namespace sluice::server
