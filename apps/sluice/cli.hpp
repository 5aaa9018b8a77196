// cli.hpp: the subcommands of the `sluice` binary beyond `serve`, each a function returning the
// process exit status (0 done, 1 failed, 2 bad usage or configuration).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "queue/queue_filter.hpp"
#include "server/control_protocol.hpp"

namespace sluice::app {

// --config, else /etc/sluice/sluice.toml when it exists, else the embedded default (for the
// commands that read what a server uses: queue, config show).
config::Config load_for_admin(const std::string& path);

int check_config(const std::string& path);
int config_show(const std::string& path);

// Options shared by the queue subcommands.
struct QueueArgs {
    std::string config;
    bool json = false;
    bool all = false;
    std::vector<std::string> ids;
    std::string sender, recipient, domain, older_than, newer_than, error;
    bool held = false, not_held = false;
};

int queue_list(const QueueArgs& a);
int queue_cat(const QueueArgs& a, const std::string& id, bool envelope);
// flush, hold, release, delete: on the IDs given, or on what a filter (or --all) matches.
int queue_act(const QueueArgs& a, server::control::Verb verb);

struct DkimKeygenArgs {
    std::string domain, selector, algo = "rsa", out;
    int bits = 2048;
};
// Writes a new private key (mode 0600, never over an existing file) and prints its TXT record.
int dkim_keygen(const DkimKeygenArgs& a);

}  // namespace sluice::app
