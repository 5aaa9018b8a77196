// preflight.cpp: host checks before start (see preflight.hpp).
#include "server/preflight.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <vector>

#include "auth/user_store.hpp"
#include "tls/context.hpp"

namespace sluice::server {
namespace fs = std::filesystem;
namespace {

class Checker {
  public:
    explicit Checker(std::vector<Problem>& out) : out_(out) {}

    void fail(std::string key, std::string message) {
        out_.push_back({std::move(key), std::move(message)});
    }

    // A file the server opens for reading.
    bool readable_file(const std::string& key, const fs::path& p) {
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) {
            fail(key, fmt::format("{}: {}", p.string(), std::strerror(errno)));
            return false;
        }
        if (!S_ISREG(st.st_mode)) {
            fail(key, fmt::format("{}: not a regular file", p.string()));
            return false;
        }
        if (::access(p.c_str(), R_OK) != 0) {
            fail(key, fmt::format("{}: cannot read: {}", p.string(), std::strerror(errno)));
            return false;
        }
        return true;
    }

    // A directory the server writes in: it exists and is writable, or its nearest existing
    // ancestor is a directory it can create entries in. Started as root with `user` set, the
    // server creates and chowns these directories before it drops root, so root's view counts.
    void writable_dir(const std::string& key, const fs::path& dir) {
        fs::path p = dir;
        while (true) {
            struct stat st {};
            if (::stat(p.c_str(), &st) == 0) {
                if (!S_ISDIR(st.st_mode)) {
                    fail(key, fmt::format("{}: cannot create {}: {} is not a directory",
                                          dir.string(), dir.string(), p.string()));
                } else if (::access(p.c_str(), W_OK | X_OK) != 0) {
                    fail(key, fmt::format("{}: {} {}: {}", dir.string(),
                                          p == dir ? "cannot write in" : "cannot create it in",
                                          p.string(), std::strerror(errno)));
                }
                return;
            }
            if (errno != ENOENT) {
                fail(key,
                     fmt::format("{}: {}: {}", dir.string(), p.string(), std::strerror(errno)));
                return;
            }
            if (!p.has_parent_path() || p.parent_path() == p) return;
            p = p.parent_path();
        }
    }

    // Started as root with `user` set, the server chowns its directories to that user but not
    // their parents: each existing parent must let the user through (search permission), or
    // the server fails later on its first file (as a chroot whose / is 0700 showed).
    // `owned`: the directories the drop chowns (with everything below them), skipped here.
    void reachable_by(const std::string& key, const fs::path& dir, const passwd& pw,
                      const std::vector<fs::path>& owned) {
        auto chowned = [&owned](const fs::path& p) {
            for (const auto& o : owned) {
                auto [oi, pi] = std::mismatch(o.begin(), o.end(), p.begin(), p.end());
                if (oi == o.end()) return true;  // p is o or below it
            }
            return false;
        };
        for (fs::path p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
            struct stat st {};
            if (!chowned(p) && ::stat(p.c_str(), &st) == 0) {
                const mode_t bit = st.st_uid == pw.pw_uid   ? S_IXUSR
                                   : st.st_gid == pw.pw_gid ? S_IXGRP
                                                            : S_IXOTH;
                if ((st.st_mode & bit) == 0)
                    fail(key, fmt::format("{}: user {} cannot reach it: {} is not searchable by "
                                          "that user (mode {:04o}, owner uid {})",
                                          dir.string(), pw.pw_name, p.string(), st.st_mode & 07777,
                                          st.st_uid));
            }
            if (p == p.root_path()) break;
        }
    }

  private:
    std::vector<Problem>& out_;
};

}  // namespace

std::vector<Problem> preflight(const config::Config& cfg) {
    std::vector<Problem> problems;
    Checker c(problems);

    if (!cfg.user.empty()) {
        errno = 0;
        // Single-threaded here (the CLI, or serve before any thread starts).
        const passwd* pw = ::getpwnam(cfg.user.c_str());  // NOLINT(concurrency-mt-unsafe)
        if (pw == nullptr)
            c.fail("user", errno == 0
                               ? fmt::format("no such user: {}", cfg.user)
                               : fmt::format("getpwnam {}: {}", cfg.user, std::strerror(errno)));
        else if (pw->pw_uid == 0)
            c.fail("user", fmt::format("{} is root: name an unprivileged user", cfg.user));
        else if (::geteuid() == 0) {
            const std::vector<fs::path> owned{cfg.data_dir, cfg.spool.dir,
                                              cfg.delivery.maildir_root};
            c.reachable_by("data_dir", cfg.data_dir, *pw, owned);
            c.reachable_by("spool.dir", cfg.spool.dir, *pw, owned);
            c.reachable_by("delivery.maildir_root", cfg.delivery.maildir_root, *pw, owned);
        }
    }

    c.writable_dir("data_dir", cfg.data_dir);
    c.writable_dir("spool.dir", cfg.spool.dir);
    c.writable_dir("delivery.maildir_root", cfg.delivery.maildir_root);
    c.writable_dir("control_socket", cfg.control_socket.parent_path());
    if (!cfg.log.file.empty()) {
        const fs::path log = cfg.log.file;
        if (::access(log.c_str(), F_OK) == 0) {
            if (::access(log.c_str(), W_OK) != 0)
                c.fail("log.file",
                       fmt::format("{}: cannot write: {}", log.string(), std::strerror(errno)));
        } else {
            c.writable_dir("log.file", log.parent_path());
        }
    }

    if (cfg.tls.enabled) {
        // tls::ensure_self_signed makes both unless both exist.
        const bool generated =
            cfg.tls.self_signed && (::access(cfg.tls.cert_file.c_str(), F_OK) != 0 ||
                                    ::access(cfg.tls.key_file.c_str(), F_OK) != 0);
        if (generated) {
            // Made on first start, beside the data.
            c.writable_dir("tls.cert_file", cfg.tls.cert_file.parent_path());
        } else {
            const bool cert_ok = c.readable_file("tls.cert_file", cfg.tls.cert_file);
            const bool key_ok = c.readable_file("tls.key_file", cfg.tls.key_file);
            if (cert_ok && key_ok) {
                try {
                    (void)tls::make_server_context(
                        cfg.tls.cert_file, cfg.tls.key_file,
                        cfg.tls.min_tls13 ? tls::MinVersion::tls1_3 : tls::MinVersion::tls1_2);
                } catch (const tls::LoadError& e) {
                    c.fail(e.part == tls::LoadError::Part::certificate ? "tls.cert_file"
                                                                       : "tls.key_file",
                           e.what());
                } catch (const std::exception& e) {
                    c.fail("tls.key_file", e.what());
                }
            }
        }
    }

    if (!cfg.auth.sqlite_file.empty() &&
        c.readable_file("auth.sqlite_file", cfg.auth.sqlite_file)) {
        try {
            (void)auth::open_sqlite_user_store(cfg.auth.sqlite_file.string());
        } catch (const std::exception& e) {
            c.fail("auth.sqlite_file", e.what());
        }
    }
    if (!cfg.dns.trust_anchor_file.empty())
        (void)c.readable_file("dns.trust_anchor_file", cfg.dns.trust_anchor_file);
    return problems;
}

std::string describe(const std::vector<Problem>& problems) {
    std::string out;
    for (const auto& p : problems) {
        if (!out.empty()) out += '\n';
        out += p.key + ": " + p.message;
    }
    return out;
}

}  // namespace sluice::server
