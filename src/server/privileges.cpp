// privileges.cpp: see privileges.hpp.
#include "server/privileges.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "common/log.hpp"

namespace sluice::server {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(
        fmt::format("privilege drop: {}: {}", what, std::generic_category().message(errno)));
}

void chown_one(const fs::path& p, uid_t uid, gid_t gid) {
    if (::lchown(p.c_str(), uid, gid) != 0) fail("chown " + p.string());
}

// chown -R without following symbolic links.
void chown_tree(const fs::path& root, uid_t uid, gid_t gid) {
    chown_one(root, uid, gid);
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
    if (ec)
        throw std::runtime_error("privilege drop: cannot read " + root.string() + ": " +
                                 ec.message());
    for (; it != end; it.increment(ec)) {
        if (ec) throw std::runtime_error("privilege drop: " + ec.message());
        chown_one(it->path(), uid, gid);
    }
}

}  // namespace

DropResult drop_privileges(const std::string& user, const std::vector<fs::path>& dirs) {
    DropResult r;
    if (user.empty()) return r;
    if (::geteuid() != 0) {
        log::warn("privilege_drop_skipped", {{"user", user}, {"reason", "not running as root"}});
        return r;
    }
    errno = 0;
    // Once, at start-up, before any other thread looks up users.
    struct passwd* pw = ::getpwnam(user.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (pw == nullptr) {
        if (errno == 0) throw std::runtime_error("privilege drop: no such user: " + user);
        fail("getpwnam " + user);
    }
    if (pw->pw_uid == 0) throw std::runtime_error("privilege drop: user " + user + " is root");
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;

    for (const auto& d : dirs) {
        if (d.empty() || d == d.root_path())
            throw std::runtime_error("privilege drop: refusing to chown " + d.string());
        std::error_code ec;
        fs::create_directories(d, ec);
        if (ec)
            throw std::runtime_error("privilege drop: cannot create " + d.string() + ": " +
                                     ec.message());
        chown_tree(d, uid, gid);
    }
    // The log file was opened (and perhaps created) by root: it must stay the user's file, so
    // that a reopen after logrotate (SIGHUP) writes to the same kind of file.
    if (!log::chown_file(uid, gid)) fail("chown log file");

    // Order matters: groups and gid while we still may, uid last.
    if (::setgroups(1, &gid) != 0) fail("setgroups");
    if (::setgid(gid) != 0) fail("setgid");
    if (::setuid(uid) != 0) fail("setuid");
    // Paranoia: root must be gone for good (real, effective and saved ids).
    if (::setuid(0) == 0 || ::geteuid() == 0 || ::getuid() == 0 || ::getegid() != gid)
        throw std::runtime_error("privilege drop: still able to regain root");
    log::info(
        "privileges_dropped",
        {{"user", user}, {"uid", static_cast<unsigned>(uid)}, {"gid", static_cast<unsigned>(gid)}});
    r.dropped = true;
    r.uid = uid;
    r.gid = gid;
    return r;
}

}  // namespace sluice::server
