// config_command.cpp: `sluice check-config FILE` and `sluice config show`.
#include <unistd.h>

#include <fmt/format.h>

#include "cli.hpp"
#include "config/show.hpp"
#include "server/preflight.hpp"

namespace sluice::app {

namespace {
constexpr const char* kSystemConfig = "/etc/sluice/sluice.toml";
}

config::Config load_for_admin(const std::string& path) {
    if (!path.empty()) return config::load_file(path);
    if (::access(kSystemConfig, F_OK) == 0) return config::load_file(kSystemConfig);
    return config::default_config();
}

int check_config(const std::string& path) {
    auto cfg = config::load_file(path);
    // What serve needs from the host: a configuration that passes here starts.
    const auto problems = server::preflight(cfg);
    for (const auto& p : problems)
        fmt::print(stderr, "sluice: {}: {}: {}\n", path, p.key, p.message);
    if (!problems.empty()) return 2;
    fmt::print("{}: ok ({} listener{}, {} domain{})\n", path, cfg.listeners.size(),
               cfg.listeners.size() == 1 ? "" : "s", cfg.domains.size(),
               cfg.domains.size() == 1 ? "" : "s");
    return 0;
}

int config_show(const std::string& path) {
    const std::string source = !path.empty()                        ? path
                               : ::access(kSystemConfig, F_OK) == 0 ? kSystemConfig
                                                                    : "the embedded default";
    const auto cfg = load_for_admin(path);
    fmt::print(
        "# Effective configuration of {}: every key, defaults filled in, secrets masked.\n"
        "{}",
        source, config::show(cfg));
    return 0;
}

}  // namespace sluice::app
