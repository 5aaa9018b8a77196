// fuzz_config.cpp: the configuration loader (config::load_string) on arbitrary text.
// Invariant: any bad input ends in ConfigError (never another exception, a crash or a hang); a
// config that loads has the properties the rest of the server relies on.
#include <string_view>

#include "config/config.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    try {
        sluice::config::Config c = sluice::config::load_string(in, "fuzz.toml");
        FUZZ_CHECK(!c.listeners.empty());
        FUZZ_CHECK(c.limits.command_line >= 512);
        FUZZ_CHECK(c.limits.text_line >= 1000);
        FUZZ_CHECK(!c.spool.dir.empty());
        FUZZ_CHECK(!c.delivery.maildir_root.empty());
        for (const auto& d : c.domains)
            for (const auto& mb : d.mailboxes) FUZZ_CHECK(sluice::config::is_safe_local_part(mb));
    } catch (const sluice::config::ConfigError&) {
    }
    (void)sluice::config::parse_duration(in);
    (void)sluice::config::parse_size(in);
    return 0;
}
