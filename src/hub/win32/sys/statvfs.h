/* Windows: the part of statvfs() the model store uses (free space for this
 * user, from GetDiskFreeSpaceExW); src/hub/posix_at_win32.c. */
#ifndef TK_HUB_STATVFS_WIN32_H
#define TK_HUB_STATVFS_WIN32_H

struct statvfs {
    unsigned long long f_bavail; /* blocks free for this user */
    unsigned long long f_frsize; /* bytes a block (1 here) */
};

int statvfs(const char *path, struct statvfs *out);

#endif
