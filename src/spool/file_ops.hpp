// file_ops.hpp: the file-system calls the spool makes, behind an interface, so tests can make fsync
// fail or the disk fill up (ENOSPC) at a chosen call and check that nothing acknowledged is lost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/sync_dir.hpp"

namespace sluice::spool {

// Each call returns 0 on success or an errno value. Paths are absolute or relative to the cwd.
class FileOps {
  public:
    virtual ~FileOps() = default;
    virtual int write_file(const std::string& path, std::string_view data,
                           bool sync) = 0;  // O_EXCL
    virtual int append_file(const std::string& path, std::string_view data, bool sync) = 0;
    // Writes data at offset 0 of an existing file (which keeps any longer old tail).
    virtual int overwrite_file(const std::string& path, std::string_view data, bool sync) {
        return write_at(path, 0, data, sync);
    }
    // Writes data at `offset` of an existing file (a message body streamed into its slot).
    virtual int write_at(const std::string& path, std::uint64_t offset, std::string_view data,
                         bool sync) = 0;
    virtual int read_file(const std::string& path, std::string& out) = 0;
    virtual int rename_file(const std::string& from, const std::string& to) = 0;
    virtual int remove_file(const std::string& path) = 0;
    virtual int sync_dir(const std::string& dir) = 0;
    // Makes every write on the file system of `fs` durable (syncfs).
    virtual int sync_fs(FileSystemSync& fs) = 0;
    // fdatasync of an existing file (its data may already be written back: this flushes the
    // device cache on every file system).
    virtual int sync_file(const std::string& path) = 0;
    // Writes a file's dirty pages to the disk (sync_file_range): wait = false starts the writes,
    // wait = true waits for them and reports their errors. No metadata is written and the device
    // cache is not flushed, so this makes a rewrite durable only together with a later flush, and
    // only where the rewrite changed nothing but allocated blocks (overwrites_in_place). Only for a
    // file last written through overwrite_file, whose descriptor reports the write's errors:
    // EBADF when that descriptor is not at hand (the caller syncs another way).
    virtual int write_back(const std::string& path, bool wait) = 0;
    // Whether rewrites on the file system of `fs` may be made durable that way.
    virtual bool overwrites_in_place(const FileSystemSync& fs) { return fs.overwrites_in_place(); }
};

// The real thing (POSIX open/write/fsync/rename; EINTR and short writes handled).
//
// overwrite_file keeps the files it rewrote most recently open: slot files are rewritten again
// and again, an open()/close() pair per commit and per removal is measurable at thousands of
// messages a second, and write_back needs the descriptor that wrote. A queue backlog fills slots
// that stay put for hours, so the least recently used descriptor makes room; one in use by another
// thread is closed when that thread is done with it. remove_file and rename_file drop a cached
// descriptor, so a write never lands in a file that has left its name; they must not run while
// another thread writes the same path (the spool owns each slot: one commit or one removal at a
// time).
class PosixFileOps : public FileOps {
  public:
    // At most this many, and a quarter of the process's descriptor limit (connections need the
    // rest).
    static constexpr std::size_t kCachedFds = 1024;
    PosixFileOps();
    std::size_t cache_limit() const { return limit_; }
    ~PosixFileOps() override;
    PosixFileOps(const PosixFileOps&) = delete;
    PosixFileOps& operator=(const PosixFileOps&) = delete;

    int write_file(const std::string& path, std::string_view data, bool sync) override;
    int append_file(const std::string& path, std::string_view data, bool sync) override;
    int write_at(const std::string& path, std::uint64_t offset, std::string_view data,
                 bool sync) override;
    int read_file(const std::string& path, std::string& out) override;
    int rename_file(const std::string& from, const std::string& to) override;
    int remove_file(const std::string& path) override;
    int sync_dir(const std::string& dir) override;
    int sync_fs(FileSystemSync& fs) override;
    int sync_file(const std::string& path) override;
    int write_back(const std::string& path, bool wait) override;

  private:
    struct Fd {  // closed when neither the cache nor a call holds it
        int fd;
        explicit Fd(int f) : fd(f) {}
        ~Fd();
        Fd(const Fd&) = delete;
        Fd& operator=(const Fd&) = delete;
    };
    using Lru = std::list<std::pair<std::string, std::shared_ptr<Fd>>>;  // most recent first
    std::shared_ptr<Fd> cached(const std::string& path);                 // null if not cached
    void forget(const std::string& path);
    std::size_t limit_;
    std::mutex mu_;
    Lru lru_;
    std::unordered_map<std::string, Lru::iterator> fds_;  // path -> its entry (opened O_WRONLY)
};

}  // namespace sluice::spool
