// file_ops.hpp: the file-system calls the spool makes, behind an interface, so tests can make fsync
// fail or the disk fill up (ENOSPC) at a chosen call and check that nothing acknowledged is lost.
#pragma once

#include <cstddef>
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
    virtual int overwrite_file(const std::string& path, std::string_view data, bool sync) = 0;
    virtual int read_file(const std::string& path, std::string& out) = 0;
    virtual int rename_file(const std::string& from, const std::string& to) = 0;
    virtual int remove_file(const std::string& path) = 0;
    virtual int sync_dir(const std::string& dir) = 0;
    // Makes every write on the file system of `fs` durable (syncfs).
    virtual int sync_fs(FileSystemSync& fs) = 0;
    // fdatasync of an existing file (its data may already be written back: this flushes the
    // device cache on every file system).
    virtual int sync_file(const std::string& path) = 0;
};

// The real thing (POSIX open/write/fsync/rename; EINTR and short writes handled).
//
// overwrite_file keeps up to kCachedFds files open: slot files are rewritten again and again, and
// an open()/close() pair per commit and per removal is measurable at thousands of messages a
// second. remove_file and rename_file drop a cached descriptor, so a write never lands in a file
// that has left its name; they must not run while another thread writes the same path (the spool
// owns each slot: one commit or one removal at a time).
class PosixFileOps : public FileOps {
  public:
    static constexpr std::size_t kCachedFds = 256;
    PosixFileOps() = default;
    ~PosixFileOps() override;
    PosixFileOps(const PosixFileOps&) = delete;
    PosixFileOps& operator=(const PosixFileOps&) = delete;

    int write_file(const std::string& path, std::string_view data, bool sync) override;
    int append_file(const std::string& path, std::string_view data, bool sync) override;
    int overwrite_file(const std::string& path, std::string_view data, bool sync) override;
    int read_file(const std::string& path, std::string& out) override;
    int rename_file(const std::string& from, const std::string& to) override;
    int remove_file(const std::string& path) override;
    int sync_dir(const std::string& dir) override;
    int sync_fs(FileSystemSync& fs) override;
    int sync_file(const std::string& path) override;

  private:
    void forget(const std::string& path);
    std::mutex mu_;
    std::unordered_map<std::string, int> fds_;  // path -> descriptor opened O_WRONLY
};

}  // namespace sluice::spool
