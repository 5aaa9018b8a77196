// privileges.hpp: dropping root after the listeners are bound.
//
// Started as root with `user` set, the server binds its ports (which may be < 1024), hands the
// data directory, spool, Maildir root and the open log file to that user, and then becomes it for
// good: supplementary groups, gid and uid all change, and regaining root is checked to fail. If any
// step fails, the server refuses to run rather than serve as root.
//
// SECURITY: the user name comes from the trusted configuration. Ownership is changed only below
// the configured directories, without following symbolic links (lchown), so a link planted in the
// spool cannot redirect the chown. Not root and `user` set: nothing changes (a warning is logged),
// so tests and unprivileged deployments run the same config.
#pragma once

#include <sys/types.h>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::server {

struct DropResult {
    bool dropped = false;  // false: not root, or no user configured
    uid_t uid = 0;
    gid_t gid = 0;
};

// Resolves `user` (getpwnam), creates and chowns `dirs` (recursively) to it, then changes
// groups, gid and uid. Empty user: does nothing. Throws std::runtime_error on any failure while
// running as root.
DropResult drop_privileges(const std::string& user, const std::vector<std::filesystem::path>& dirs);

}  // namespace sluice::server
