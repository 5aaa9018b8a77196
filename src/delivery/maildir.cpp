// maildir.cpp: delivers one copy of a message into a Maildir: write tmp/<name> (0600, O_EXCL),
// fsync, rename into new/, fsync new/. Missing tmp/ new/ cur/ (and parents) are created 0700 on
// demand.
//
// SECURITY: the maildir path comes from the router (trusted configuration); the file name is built
// from our own queue ID, recipient index and the host name (escaped), never from message content.
// Files are opened with O_EXCL, so an existing file or symlink in tmp/ is never followed.
// STANDARDS: https://cr.yp.to/proto/maildir.html (tmp/new/cur, unique names, "\057" and "\072"
// escapes); Dovecot's ",S=<size>" field and ":2,<flags>" suffix in cur/.
#include "delivery/maildir.hpp"

#include "common/sync_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

namespace sluice::delivery {
namespace {

// Errors that retrying cannot fix: the path itself is wrong.
bool is_permanent(int err) {
    return err == ENOTDIR || err == ENAMETOOLONG || err == ELOOP || err == EISDIR;
}

MaildirResult fail(int err, const std::string& what) {
    MaildirResult r;
    r.ok = false;
    r.err_no = err;
    r.permanent = is_permanent(err);
    r.error = "maildir: " + what + ": " + std::generic_category().message(err);
    return r;
}

// mkdir -p with mode 0700. Each directory we create is made durable by fsyncing its parent.
int make_dirs(const std::string& path) {
    if (path.empty()) return ENOENT;
    if (::mkdir(path.c_str(), 0700) == 0) {
        std::string parent = path;
        while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
        auto slash = parent.rfind('/');
        parent = slash == std::string::npos ? "." : slash == 0 ? "/" : parent.substr(0, slash);
        return sync_directory(parent);
    }
    int err = errno;
    if (err == EEXIST) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) return errno;
        return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    }
    if (err != ENOENT) return err;
    // A parent is missing: create it, then this one.
    std::string trimmed = path;
    while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
    auto slash = trimmed.rfind('/');
    if (slash == std::string::npos || slash == 0) return ENOENT;
    if (int perr = make_dirs(trimmed.substr(0, slash)); perr != 0) return perr;
    return make_dirs(path);
}

int ensure_maildir(const std::string& root) {
    for (const char* sub : {"/tmp", "/new", "/cur"}) {
        if (int err = make_dirs(root + sub); err != 0) return err;
    }
    return 0;
}

std::string escape_host(std::string_view host) {
    std::string out;
    if (host.empty()) host = "localhost";
    for (char c : host) {
        if (c == '/') {
            out += "\\057";
        } else if (c == ':') {
            out += "\\072";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

// Appends `in` with every CRLF turned into LF (a lone CR or LF is kept as it is).
void append_lf(std::string& out, std::string_view in) {
    std::size_t pos = 0;
    while (pos < in.size()) {
        const void* hit = std::memchr(in.data() + pos, '\r', in.size() - pos);
        if (!hit) break;
        std::size_t cr = static_cast<std::size_t>(static_cast<const char*>(hit) - in.data());
        out.append(in.data() + pos, cr - pos);
        if (cr + 1 < in.size() && in[cr + 1] == '\n') {
            pos = cr + 1;  // drop the CR, keep the LF
        } else {
            out.push_back('\r');
            pos = cr + 1;
        }
    }
    out.append(in.data() + pos, in.size() - pos);
}

int write_all(int fd, const iovec* iov, int iovcnt) {
    iovec v[2];
    int n = 0;
    for (int i = 0; i < iovcnt; ++i) {
        if (iov[i].iov_len > 0) v[n++] = iov[i];
    }
    int first = 0;
    while (first < n) {
        ssize_t w = ::writev(fd, v + first, n - first);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (w == 0) return EIO;
        auto done = static_cast<std::size_t>(w);
        while (first < n && done >= v[first].iov_len) {
            done -= v[first].iov_len;
            ++first;
        }
        if (first < n) {
            v[first].iov_base = static_cast<char*>(v[first].iov_base) + done;
            v[first].iov_len -= done;
        }
    }
    return 0;
}

// 1 when a file named "<unique>." + anything exists in dir (its name in *found_name), 0 when not,
// -errno on failure.
int find_unique(const std::string& dir, const std::string& prefix, std::string* found_name) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return errno == ENOENT ? 0 : -errno;
    int found = 0;
    while (true) {
        errno = 0;
        const dirent* ent = ::readdir(d);
        if (!ent) {
            if (errno != 0) found = -errno;
            break;
        }
        if (std::strncmp(ent->d_name, prefix.data(), prefix.size()) == 0) {
            found = 1;
            *found_name = ent->d_name;
            break;
        }
    }
    ::closedir(d);
    return found;
}

// True when the file at `path` holds exactly the bytes of iov[0..1]. Copies written without their
// own fsync (batched durability) can survive a power loss as a name with missing data; such a copy
// must not count as delivered.
bool holds_exactly(const std::string& path, const iovec* iov) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    bool same = true;
    char buf[16384];
    for (int i = 0; i < 2 && same; ++i) {
        const char* want = static_cast<const char*>(iov[i].iov_base);
        std::size_t left = iov[i].iov_len;
        while (left > 0) {
            ssize_t n = ::read(fd, buf, std::min(left, sizeof buf));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || std::memcmp(buf, want, static_cast<std::size_t>(n)) != 0) {
                same = false;
                break;
            }
            want += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    if (same) {
        ssize_t n;
        do {
            n = ::read(fd, buf, 1);
        } while (n < 0 && errno == EINTR);
        same = n == 0;  // nothing after the expected bytes
    }
    ::close(fd);
    return same;
}

}  // namespace

std::string maildir_unique_name(std::int64_t received_at_us, std::string_view queue_id,
                                std::size_t rcpt_index) {
    std::string out = std::to_string(received_at_us / 1000000);
    out += ".Q";
    out.append(queue_id);
    out += 'R';
    out += std::to_string(rcpt_index);
    return out;
}

MaildirResult deliver_maildir(const MaildirCopy& copy) {
    const std::string root = copy.maildir.string();
    if (root.empty() || copy.unique.empty() || copy.unique.find('/') != std::string::npos) {
        return fail(EINVAL, "empty maildir path or bad unique name");
    }

    // The content as it will be stored; S= is its exact size.
    std::string converted;
    iovec iov[2];
    std::size_t size;
    if (copy.crlf_to_lf) {
        converted.reserve(copy.prepend.size() + copy.message.size());
        append_lf(converted, copy.prepend);
        append_lf(converted, copy.message);
        iov[0] = {converted.data(), converted.size()};
        iov[1] = {nullptr, 0};
        size = converted.size();
    } else {
        iov[0] = {const_cast<char*>(copy.prepend.data()), copy.prepend.size()};
        iov[1] = {const_cast<char*>(copy.message.data()), copy.message.size()};
        size = copy.prepend.size() + copy.message.size();
    }

    // A maildir path that is not a directory surfaces as ENOTDIR from opendir/open below.
    if (copy.check_existing) {
        const std::string prefix = copy.unique + ".";
        for (const char* sub : {"/new", "/cur"}) {
            std::string found_name;
            const std::string dir = root + sub;
            int found = find_unique(dir, prefix, &found_name);
            if (found < 0) return fail(-found, "scan " + dir);
            if (found == 0) continue;
            const std::string path = dir + "/" + found_name;
            if (holds_exactly(path, iov)) {
                MaildirResult r;
                r.ok = true;
                r.already_present = true;
                return r;
            }
            // A damaged copy (data lost in a crash): replace it in new/; in cur/ the reader has
            // seen it already, so a good copy goes to new/ beside it.
            if (std::string_view(sub) == "/new") ::unlink(path.c_str());
        }
    }

    const std::string name =
        copy.unique + "." + escape_host(copy.hostname) + ",S=" + std::to_string(size);
    const std::string tmp = root + "/tmp/" + name;
    const std::string dst = root + "/new/" + name;

    auto open_tmp = [&] {
        return ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    };
    int fd = open_tmp();
    if (fd < 0 && errno == ENOENT) {
        if (int err = ensure_maildir(root); err != 0) return fail(err, "create " + root);
        fd = open_tmp();
    }
    if (fd < 0 && errno == EEXIST) {
        // Our own deterministic name, left by an attempt that crashed before its rename.
        ::unlink(tmp.c_str());
        fd = open_tmp();
    }
    if (fd < 0) return fail(errno, "create " + tmp);

    int err = write_all(fd, iov, 2);
    struct stat st {};
    if (err == 0 && !copy.sync && ::fstat(fd, &st) != 0) err = errno;
    if (err == 0 && copy.sync) {
        int rc;
        do {
            rc = ::fsync(fd);
        } while (rc != 0 && errno == EINTR);
        if (rc != 0) err = errno;
    }
    if (::close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
    if (err != 0) {
        ::unlink(tmp.c_str());
        return fail(err, "write " + tmp);
    }

    if (::rename(tmp.c_str(), dst.c_str()) != 0) {
        err = errno;
        if (err == ENOENT && ensure_maildir(root) == 0 && ::rename(tmp.c_str(), dst.c_str()) == 0) {
            err = 0;  // new/ was missing (tmp/ existed alone); created now
        }
        if (err != 0) {
            ::unlink(tmp.c_str());
            return fail(err, "rename into " + root + "/new");
        }
    }
    MaildirResult r;
    r.ok = true;
    if (!copy.sync) {
        // The caller makes this durable (sync_filesystem) before it counts the copy as delivered.
        r.path = dst;
        r.device = st.st_dev;
        return r;
    }
    if (err = sync_directory(root + "/new"); err != 0) {
        // Not durable: take it back so a retry does not leave two copies.
        ::unlink(dst.c_str());
        return fail(err, "fsync " + root + "/new");
    }
    return r;
}

}  // namespace sluice::delivery
