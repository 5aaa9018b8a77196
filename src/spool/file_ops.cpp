// file_ops.cpp: the POSIX implementation of FileOps: open/write/fsync/rename/unlink with EINTR and
// short writes handled, returning errno values instead of throwing.
//
// SECURITY: paths come from the spool, which builds them from validated queue IDs. Files are
// created 0600 with O_EXCL (never through an existing file or symlink) and O_CLOEXEC.
#include "spool/file_ops.hpp"

#include "common/sync_dir.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sluice::spool {
namespace {

// open() retried on EINTR; -1 with errno set on failure.
int open_file(const std::string& path, int flags) {
    int fd;
    do {
        fd = ::open(path.c_str(), flags, 0600);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

// fdatasync (data_only) or fsync, retried on EINTR; 0 or an errno value.
int sync_fd(int fd, bool data_only) {
    int rc;
    do {
        rc = data_only ? ::fdatasync(fd) : ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : errno;
}

int write_all(int fd, std::string_view data) {
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;  // cannot happen for regular files; do not spin
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    return 0;
}

// close() is checked: on NFS and some FUSE file systems it is where write errors appear.
int close_checked(int fd, int err) {
    if (::close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
    return err;
}

// Writes `data` at offset 0 of an open file, then (with sync) fdatasyncs it.
int pwrite_all(int fd, std::string_view data, off_t off, bool sync) {
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::pwrite(fd, p, left, off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        p += n;
        off += n;
        left -= static_cast<std::size_t>(n);
    }
    return sync ? sync_fd(fd, true) : 0;
}

int write_to(const std::string& path, int flags, std::string_view data, bool sync, bool data_only) {
    const int fd = open_file(path, flags);
    if (fd < 0) return errno;
    int err = write_all(fd, data);
    if (err == 0 && sync) err = sync_fd(fd, data_only);
    return close_checked(fd, err);
}

}  // namespace

int PosixFileOps::write_file(const std::string& path, std::string_view data, bool sync) {
    return write_to(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, data, sync, false);
}

PosixFileOps::Fd::~Fd() {
    ::close(fd);
}

PosixFileOps::PosixFileOps() : limit_(kCachedFds) {
    if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        limit_ = std::clamp<std::size_t>(rl.rlim_cur / 4, 16, kCachedFds);
}

PosixFileOps::~PosixFileOps() = default;

std::shared_ptr<PosixFileOps::Fd> PosixFileOps::cached(const std::string& path) {
    std::lock_guard lk(mu_);
    auto it = fds_.find(path);
    if (it == fds_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
}

void PosixFileOps::forget(const std::string& path) {
    std::lock_guard lk(mu_);
    auto it = fds_.find(path);
    if (it == fds_.end()) return;
    lru_.erase(it->second);  // closed now, or when a call still using it returns
    fds_.erase(it);
}

int PosixFileOps::write_at(const std::string& path, std::uint64_t offset, std::string_view data,
                           bool sync) {
    // An existing slot: no directory change, so fdatasync of the file alone makes it durable
    // (it also flushes a size change when the new content is longer than the old).
    std::shared_ptr<Fd> f = cached(path);
    if (!f) {
        const int fd = open_file(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) return errno;
        f = std::make_shared<Fd>(fd);
        std::lock_guard lk(mu_);
        if (fds_.find(path) == fds_.end()) {  // (another thread's open of it: keep that one)
            lru_.emplace_front(path, f);
            fds_.emplace(path, lru_.begin());
            if (lru_.size() > limit_) {
                fds_.erase(lru_.back().first);
                lru_.pop_back();
            }
        }
    }
    // Callers never write one slot from two threads at once; pwrite needs no shared offset.
    // (An evicted descriptor is closed unchecked: a local file system reports write errors at the
    // sync, which goes through the cached descriptor, a new one, or syncfs.)
    return pwrite_all(f->fd, data, static_cast<off_t>(offset), sync);
}

int PosixFileOps::append_file(const std::string& path, std::string_view data, bool sync) {
    // fdatasync is enough: it also flushes the size change an append makes.
    return write_to(path, O_CREAT | O_APPEND | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, data, sync, true);
}

int PosixFileOps::read_file(const std::string& path, std::string& out) {
    out.clear();
    const int fd = open_file(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return close_checked(fd, errno);
    if (!S_ISREG(st.st_mode)) return close_checked(fd, EINVAL);
    // Read to EOF; the size is only a hint (a status file may grow while we read it).
    std::size_t have = 0;
    out.resize(static_cast<std::size_t>(st.st_size) + 1);
    while (true) {
        if (have == out.size()) out.resize(out.size() * 2);
        ssize_t n = ::read(fd, out.data() + have, out.size() - have);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            out.clear();
            return close_checked(fd, err);
        }
        if (n == 0) break;
        have += static_cast<std::size_t>(n);
    }
    out.resize(have);
    ::close(fd);
    return 0;
}

int PosixFileOps::rename_file(const std::string& from, const std::string& to) {
    forget(from);
    forget(to);
    return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

int PosixFileOps::remove_file(const std::string& path) {
    forget(path);
    return ::unlink(path.c_str()) == 0 ? 0 : errno;
}

int PosixFileOps::sync_dir(const std::string& dir) {
    return sync_directory(dir);
}

int PosixFileOps::sync_fs(FileSystemSync& fs) {
    return fs.sync();
}

int PosixFileOps::sync_file(const std::string& path) {
    // A slot just written is normally in the cache: no open/close for it. Not synced under the
    // lock (other threads look up their slots meanwhile); the caller owns this slot, so nothing
    // closes the descriptor while it syncs (the single-writer rule above).
    if (const auto f = cached(path)) return sync_fd(f->fd, true);
    const int fd = open_file(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno;
    return close_checked(fd, sync_fd(fd, true));
}

int PosixFileOps::write_back(const std::string& path, bool wait) {
    // The descriptor that wrote: a write-back error is reported to each open file once, counted
    // from its open, so a descriptor opened now could miss an error from before. Like sync_file,
    // used outside the lock by the slot's only writer.
    const auto f = cached(path);
    if (!f) return EBADF;
    const unsigned flags =
        wait ? SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER
             : SYNC_FILE_RANGE_WRITE;
    int rc;
    do {
        rc = ::sync_file_range(f->fd, 0, 0, flags);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : errno;
}

}  // namespace sluice::spool
