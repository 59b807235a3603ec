/* Windows: the POSIX calls of the model store on paths (win32/posix_at.h
 * says why). Paths are UTF-8 and go through the OS layer (core/os.h). */
#include "core/os.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

/* The real functions, not the macros of posix_at.h (force-included). */
#undef open
#undef openat
#undef close
#undef dup
#undef stat
#undef lstat
#undef fstatat
#undef unlinkat
#undef renameat
#undef mkdir
#undef fdopendir
#undef flock
#undef fsync
#undef ftruncate
#undef pread
#undef rename
#undef unlink
#undef rmdir

#include "hub/win32/sys/statvfs.h"

enum { N_SLOTS = 256, SLOT_BASE = 0x40000000 };

static char *slots[N_SLOTS];  /* directory paths of the descriptors handed out */
static HANDLE locks[N_SLOTS]; /* the named mutex of a locked directory, or NULL */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

static int slot_new(const char *path)
{
    char *copy = strdup(path);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    pthread_mutex_lock(&slots_lock);
    for (int i = 0; i < N_SLOTS; i++) {
        if (!slots[i]) {
            slots[i] = copy;
            pthread_mutex_unlock(&slots_lock);
            return SLOT_BASE + i;
        }
    }
    pthread_mutex_unlock(&slots_lock);
    free(copy);
    errno = EMFILE;
    return -1;
}

/* The path of a directory descriptor (copied into out), or false. */
static bool slot_path(int fd, char *out, size_t size)
{
    if (fd == AT_FDCWD && size > 1) {
        memcpy(out, ".", 2);
        return true;
    }
    if (fd < SLOT_BASE || fd >= SLOT_BASE + N_SLOTS) return false;
    pthread_mutex_lock(&slots_lock);
    const char *p = slots[fd - SLOT_BASE];
    bool ok = p && strlen(p) < size;
    if (ok) memcpy(out, p, strlen(p) + 1);
    pthread_mutex_unlock(&slots_lock);
    return ok;
}

static bool join_at(int dfd, const char *name, char *out, size_t size)
{
    /* An absolute name ignores the descriptor (POSIX). */
    bool absolute = name[0] == '/' || name[0] == '\\' ||
                    (name[0] && name[1] == ':' && (name[2] == '/' || name[2] == '\\'));
    if (absolute) {
        if (strlen(name) >= size) {
            errno = ENAMETOOLONG;
            return false;
        }
        memcpy(out, name, strlen(name) + 1);
        return true;
    }
    char dir[4096];
    if (!slot_path(dfd, dir, sizeof dir)) {
        errno = EBADF;
        return false;
    }
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return false;
    }
    return true;
}

int hub_w32_open(const char *path, int flags, ...)
{
    if (flags & O_DIRECTORY) {
        os_stat_info si;
        if (!os_stat(path, &si)) return -1;
        if (!si.is_dir) {
            errno = ENOTDIR;
            return -1;
        }
        return slot_new(path);
    }
    /* CreateFileW rather than _wopen: the file may be renamed or removed
     * while it is open (FILE_SHARE_DELETE), as on POSIX systems, where a
     * download renames its finished file before closing it. */
    int acc = flags & (_O_RDONLY | _O_WRONLY | _O_RDWR);
    DWORD access = acc == _O_WRONLY ? GENERIC_WRITE
                   : acc == _O_RDWR ? GENERIC_READ | GENERIC_WRITE
                                    : GENERIC_READ;
    DWORD disp = (flags & O_CREAT) ? ((flags & O_EXCL)    ? CREATE_NEW
                                      : (flags & O_TRUNC) ? CREATE_ALWAYS
                                                          : OPEN_ALWAYS)
                                   : ((flags & O_TRUNC) ? TRUNCATE_EXISTING : OPEN_EXISTING);
    int wlen = MultiByteToWideChar(CP_UTF8, 0, path, -1, NULL, 0);
    wchar_t *wp = wlen > 0 ? malloc((size_t)wlen * sizeof *wp) : NULL;
    if (!wp) {
        errno = wlen > 0 ? ENOMEM : EINVAL;
        return -1;
    }
    MultiByteToWideChar(CP_UTF8, 0, path, -1, wp, wlen);
    HANDLE h = CreateFileW(wp, access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           disp, FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD e = GetLastError();
    free(wp);
    if (h == INVALID_HANDLE_VALUE) {
        errno = e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? ENOENT
                : e == ERROR_FILE_EXISTS                               ? EEXIST
                                                                       : EACCES;
        return -1;
    }
    int fd = _open_osfhandle((intptr_t)h,
                             (flags & (O_APPEND | _O_RDONLY | _O_WRONLY | _O_RDWR)) | _O_BINARY);
    if (fd < 0) CloseHandle(h);
    return fd;
}

int hub_w32_openat(int dfd, const char *name, int flags, ...)
{
    char path[4096];
    if (!join_at(dfd, name, path, sizeof path)) return -1;
    int mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    return hub_w32_open(path, flags, mode);
}

int hub_w32_close(int fd)
{
    if (fd >= SLOT_BASE && fd < SLOT_BASE + N_SLOTS) {
        pthread_mutex_lock(&slots_lock);
        char *p = slots[fd - SLOT_BASE];
        HANDLE lock = locks[fd - SLOT_BASE];
        slots[fd - SLOT_BASE] = NULL;
        locks[fd - SLOT_BASE] = NULL;
        pthread_mutex_unlock(&slots_lock);
        if (lock) {
            ReleaseMutex(lock);
            CloseHandle(lock);
        }
        if (!p) {
            errno = EBADF;
            return -1;
        }
        free(p);
        return 0;
    }
    return _close(fd);
}

int hub_w32_dup(int fd)
{
    char path[4096];
    if (slot_path(fd, path, sizeof path)) return slot_new(path);
    return _dup(fd);
}

int hub_w32_stat(const char *path, struct stat *st)
{
    os_stat_info si;
    if (!os_stat(path, &si)) return -1;
    memset(st, 0, sizeof *st);
    st->st_mode = si.is_dir ? _S_IFDIR : si.is_file ? _S_IFREG : 0;
    st->st_size = (off_t)si.size;
    st->st_mtime = (time_t)si.mtime;
    return 0;
}

int hub_w32_fstatat(int dfd, const char *name, struct stat *st, int flags)
{
    (void)flags;
    char path[4096];
    if (!join_at(dfd, name, path, sizeof path)) return -1;
    return hub_w32_stat(path, st);
}

int hub_w32_unlinkat(int dfd, const char *name, int flags)
{
    char path[4096];
    if (!join_at(dfd, name, path, sizeof path)) return -1;
    return flags & AT_REMOVEDIR ? os_rmdir(path) : os_remove(path);
}

int hub_w32_renameat(int dfd_from, const char *from, int dfd_to, const char *to)
{
    char a[4096], b[4096];
    if (!join_at(dfd_from, from, a, sizeof a) || !join_at(dfd_to, to, b, sizeof b)) return -1;
    return os_rename(a, b);
}

int hub_w32_mkdir(const char *path, int mode)
{
    (void)mode;
    return os_mkdir(path);
}

DIR *hub_w32_fdopendir(int fd)
{
    char path[4096];
    if (!slot_path(fd, path, sizeof path)) {
        errno = EBADF;
        return NULL;
    }
    DIR *d = opendir(path);
    /* The DIR owns the descriptor from here (POSIX): it is released now. */
    if (d) hub_w32_close(fd);
    return d;
}

int statvfs(const char *path, struct statvfs *out)
{
    int wlen = MultiByteToWideChar(CP_UTF8, 0, path, -1, NULL, 0);
    wchar_t *wp = wlen > 0 ? malloc((size_t)wlen * sizeof *wp) : NULL;
    if (!wp) {
        errno = EINVAL;
        return -1;
    }
    MultiByteToWideChar(CP_UTF8, 0, path, -1, wp, wlen);
    ULARGE_INTEGER avail;
    BOOL ok = GetDiskFreeSpaceExW(wp, &avail, NULL, NULL);
    free(wp);
    if (!ok) {
        errno = EIO;
        return -1;
    }
    out->f_bavail = avail.QuadPart;
    out->f_frsize = 1;
    return 0;
}

/* A directory's lock: a mutex named after its full path (case folded), so
 * every process of this session that locks the same directory meets it. */
static int lock_dir(int fd, int op)
{
    char path[4096];
    if (!slot_path(fd, path, sizeof path)) {
        errno = EBADF;
        return -1;
    }
    wchar_t wpath[4096], full[4096];
    if (!MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, 4096) ||
        !GetFullPathNameW(wpath, 4096, full, NULL)) {
        errno = EINVAL;
        return -1;
    }
    CharLowerW(full);
    /* FNV-1a of the path: mutex names cannot hold backslashes. */
    uint64_t h = 1469598103934665603ull;
    for (const wchar_t *p = full; *p; p++) {
        wchar_t c = *p == L'/' ? L'\\' : *p;
        h = (h ^ (uint64_t)c) * 1099511628211ull;
    }
    wchar_t name[64];
    swprintf(name, 64, L"Local\\tektra-dir-%016llx", (unsigned long long)h);
    HANDLE m = CreateMutexW(NULL, FALSE, name);
    if (!m) {
        errno = EIO;
        return -1;
    }
    DWORD w = WaitForSingleObject(m, op & LOCK_NB ? 0 : INFINITE);
    if (w != WAIT_OBJECT_0 && w != WAIT_ABANDONED) {
        CloseHandle(m);
        errno = EWOULDBLOCK;
        return -1;
    }
    pthread_mutex_lock(&slots_lock);
    locks[fd - SLOT_BASE] = m;
    pthread_mutex_unlock(&slots_lock);
    return 0;
}

int hub_w32_flock(int fd, int op)
{
    if (fd >= SLOT_BASE && fd < SLOT_BASE + N_SLOTS) {
        if (op & LOCK_UN) {
            pthread_mutex_lock(&slots_lock);
            HANDLE m = locks[fd - SLOT_BASE];
            locks[fd - SLOT_BASE] = NULL;
            pthread_mutex_unlock(&slots_lock);
            if (m) {
                ReleaseMutex(m);
                CloseHandle(m);
            }
            return 0;
        }
        return lock_dir(fd, op);
    }
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    if (op & LOCK_UN) return UnlockFileEx(h, 0, MAXDWORD, MAXDWORD, &ov) ? 0 : -1;
    DWORD flags = LOCKFILE_EXCLUSIVE_LOCK | (op & LOCK_NB ? LOCKFILE_FAIL_IMMEDIATELY : 0);
    if (LockFileEx(h, flags, 0, MAXDWORD, MAXDWORD, &ov)) return 0;
    errno = EWOULDBLOCK;
    return -1;
}

int hub_w32_fsync(int fd)
{
    if (fd >= SLOT_BASE && fd < SLOT_BASE + N_SLOTS) return 0; /* a directory: nothing to do */
    return _commit(fd);
}

int hub_w32_ftruncate(int fd, off_t size)
{
    return _chsize_s(fd, (long long)size) == 0 ? 0 : -1;
}

ssize_t hub_w32_pread(int fd, void *buf, size_t n, off_t off)
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.Offset = (DWORD)((uint64_t)off & 0xffffffffu);
    ov.OffsetHigh = (DWORD)((uint64_t)off >> 32);
    DWORD got = 0;
    if (!ReadFile(h, buf, n > 0x40000000u ? 0x40000000u : (DWORD)n, &got, &ov)) {
        if (GetLastError() == ERROR_HANDLE_EOF) return 0;
        errno = EIO;
        return -1;
    }
    return (ssize_t)got;
}

int hub_w32_rename(const char *from, const char *to)
{
    return os_rename(from, to);
}

int hub_w32_unlink(const char *path)
{
    return os_remove(path);
}

int hub_w32_rmdir(const char *path)
{
    return os_rmdir(path);
}
