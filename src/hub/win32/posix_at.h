/* Windows: the POSIX calls the model store (src/hub/store.c) is written
 * with - directory descriptors and the *at() family, which keep its tree
 * walks from following links on POSIX systems - mapped onto paths. A
 * directory descriptor here is a number naming a directory's path (Windows
 * has no such descriptors; the store's directories are tektra's own, and
 * links are rare there). flock() is LockFileEx on a file and a named mutex
 * for a directory (released when the descriptor is closed). Force-included into the hub's files on
 * Windows only (CMakeLists.txt); implemented in src/hub/posix_at_win32.c. */
#ifndef TK_HUB_POSIX_AT_WIN32_H
#define TK_HUB_POSIX_AT_WIN32_H

#include <direct.h>
#include <dirent.h>
#include <fcntl.h>
#include <io.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define O_DIRECTORY         0x01000000
#define O_NOFOLLOW          0
#define O_CLOEXEC           _O_NOINHERIT
#define AT_FDCWD            (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR        0x200
#ifndef S_ISLNK
#define S_ISLNK(m) 0
#endif

#define LOCK_EX 2
#define LOCK_NB 4
#define LOCK_UN 8

int hub_w32_open(const char *path, int flags, ...);
int hub_w32_openat(int dfd, const char *name, int flags, ...);
int hub_w32_close(int fd);
int hub_w32_dup(int fd);
int hub_w32_stat(const char *path, struct stat *st);
int hub_w32_fstatat(int dfd, const char *name, struct stat *st, int flags);
int hub_w32_unlinkat(int dfd, const char *name, int flags);
int hub_w32_renameat(int dfd_from, const char *from, int dfd_to, const char *to);
int hub_w32_mkdir(const char *path, int mode);
DIR *hub_w32_fdopendir(int fd);
int hub_w32_flock(int fd, int op);
int hub_w32_fsync(int fd);
int hub_w32_ftruncate(int fd, off_t size);
ssize_t hub_w32_pread(int fd, void *buf, size_t n, off_t off);
int hub_w32_rename(const char *from, const char *to);
int hub_w32_unlink(const char *path);
int hub_w32_rmdir(const char *path);

#define open        hub_w32_open
#define openat      hub_w32_openat
#define close       hub_w32_close
#define dup         hub_w32_dup
#define stat(p, s)  hub_w32_stat(p, s)
#define lstat(p, s) hub_w32_stat(p, s)
#define fstatat     hub_w32_fstatat
#define unlinkat    hub_w32_unlinkat
#define renameat    hub_w32_renameat
#define mkdir       hub_w32_mkdir
#define fdopendir   hub_w32_fdopendir
#define flock       hub_w32_flock
#define fsync       hub_w32_fsync
#define ftruncate   hub_w32_ftruncate
#define pread       hub_w32_pread
#define rename      hub_w32_rename
#define unlink      hub_w32_unlink
#define rmdir       hub_w32_rmdir

#endif
