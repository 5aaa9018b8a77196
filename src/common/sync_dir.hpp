// sync_dir.hpp: the syncs that make more than one file's writes durable: fsync of a directory
// (the names created, renamed or removed in it; a file's own fsync does not cover its directory
// entry on POSIX), and syncfs of a whole file system (group commit of many files at once).
#pragma once

#include <string>
#include <string_view>

namespace sluice {

// Returns 0 or an errno value. EINTR is retried.
int sync_directory(const std::string& dir);

// syncfs() of the file system holding `path`: every dirty data block, inode and directory block
// written once, then one device cache flush, so many files written without a sync become durable
// together. Returns 0 or an errno value. Blocking. Prefer FileSystemSync for repeated syncs.
int sync_filesystem(const std::string& path);

// syncfs() through a descriptor kept open. Linux (>= 5.8) reports a writeback error to each open
// file of the file system once, counted from when that file was opened (an error no file has seen
// yet also reaches a new one): a descriptor opened just for the call could miss an error that
// another descriptor's sync had already reported, and a descriptor shared by two threads reports
// an error to only one of them. So each thread that syncs keeps its own FileSystemSync, opened
// before it writes what it will sync.
class FileSystemSync {
  public:
    explicit FileSystemSync(const std::string& path);  // any file or directory on the file system
    ~FileSystemSync();
    FileSystemSync(const FileSystemSync&) = delete;
    FileSystemSync& operator=(const FileSystemSync&) = delete;

    int open_error() const { return open_err_; }  // 0 once open
    // 0 or an errno value (also the open's error, if the path could not be opened).
    int sync();
    // True unless the file system is ext2/3/4, whose syncfs always ends with a device cache flush.
    // Elsewhere (XFS: the flush rides on a log force, which is a no-op when only file data
    // changed) the caller also fdatasyncs one of the files it wrote, which flushes in any case.
    bool needs_file_flush() const { return needs_file_flush_; }
    // True when rewriting a file's already allocated and synced blocks changes nothing but those
    // blocks, so writing them back (sync_file_range) and one device cache flush make the rewrite
    // durable: ext2/3/4 (blocks are overwritten where they are), unless file data goes through the
    // journal (data=journal, or the directory's journal-data flag). Copy-on-write file systems
    // (Btrfs, ZFS) write new blocks and need their metadata committed: false there, as elsewhere.
    bool overwrites_in_place() const { return overwrites_in_place_; }

  private:
    int fd_ = -1;
    int open_err_ = 0;
    bool needs_file_flush_ = true;
    bool overwrites_in_place_ = false;
};

// True when this kernel's syncfs() reports writeback errors (Linux >= 5.8). Before that it
// returned 0 even when data failed to reach the disk, so batching durability behind it would
// acknowledge lost messages: callers fall back to one fsync per file.
bool syncfs_reports_errors();

// True when ext4 mount options (/proc/fs/ext4/<device>/options: one per line; or comma-separated)
// include data=journal: file data is written through the journal, not in place.
bool journals_file_data(std::string_view options);

// True when a kernel release string ("6.1.0-28-amd64") is at least major.minor; false if it
// cannot be read.
bool kernel_at_least(const char* release, int major, int minor);

}  // namespace sluice
