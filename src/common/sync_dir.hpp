// sync_dir.hpp: the syncs that make more than one file's writes durable: fsync of a directory
// (the names created, renamed or removed in it; a file's own fsync does not cover its directory
// entry on POSIX), and syncfs of a whole file system (group commit of many files at once).
#pragma once

#include <string>

namespace sluice {

// Returns 0 or an errno value. EINTR is retried.
int sync_directory(const std::string& dir);

// syncfs() of the file system holding `path`: every dirty data block, inode and directory block
// written once, then one device cache flush, so many files written without a sync become durable
// together. Returns 0 or an errno value. Blocking. Prefer FileSystemSync for repeated syncs.
int sync_filesystem(const std::string& path);

// syncfs() through a descriptor kept open. Linux (>= 5.8) reports a writeback error to each open
// file of the file system once, counted from when that file was opened: a descriptor opened just
// for the call would miss an error that background writeback of our own pages hit a moment
// earlier, and a descriptor shared by two threads reports an error to only one of them. So each
// thread that syncs keeps its own FileSystemSync, opened before it writes what it will sync.
class FileSystemSync {
  public:
    explicit FileSystemSync(const std::string& path);  // any file or directory on the file system
    ~FileSystemSync();
    FileSystemSync(const FileSystemSync&) = delete;
    FileSystemSync& operator=(const FileSystemSync&) = delete;

    // 0 or an errno value (also the open's error, if the path could not be opened).
    int sync();

  private:
    int fd_ = -1;
    int open_err_ = 0;
};

}  // namespace sluice
