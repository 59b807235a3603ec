/* Read-only file mapping for the GGUF reader: POSIX mmap, or
 * CreateFileMapping/MapViewOfFile on Windows. The reader never writes to the
 * mapping; weights are used in place from it. */
#include "gguf/gguf.h"

#include <errno.h>
#include <string.h>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

tk_status gguf_map_file(const char *path, gguf_map *m)
{
    memset(m, 0, sizeof *m);
    HANDLE f = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (f == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND)
            return core_error(TK_ERR_NOT_FOUND, "%s: no such file", path);
        return core_error(TK_ERR_IO, "%s: cannot open (error %lu)", path, (unsigned long)e);
    }
    LARGE_INTEGER sz;
    if (!GetFileSizeEx(f, &sz)) {
        CloseHandle(f);
        return core_error(TK_ERR_IO, "%s: cannot get the file size", path);
    }
    if (sz.QuadPart <= 0) {
        CloseHandle(f);
        return core_error(TK_ERR_FORMAT, "%s: empty file", path);
    }
    if ((uint64_t)sz.QuadPart > (uint64_t)SIZE_MAX) {
        CloseHandle(f);
        return core_error(TK_ERR_LIMIT, "%s: too large to map on this system", path);
    }
    HANDLE h = CreateFileMappingA(f, NULL, PAGE_READONLY, 0, 0, NULL);
    CloseHandle(f);
    if (!h) return core_error(TK_ERR_IO, "%s: cannot map the file", path);
    void *p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
    if (!p) {
        CloseHandle(h);
        return core_error(TK_ERR_IO, "%s: cannot map the file", path);
    }
    m->data = p;
    m->size = (uint64_t)sz.QuadPart;
    m->handle = h;
    return TK_OK;
}

void gguf_unmap(gguf_map *m)
{
    if (m->handle) {
        UnmapViewOfFile(m->data);
        CloseHandle((HANDLE)m->handle);
    }
    memset(m, 0, sizeof *m);
}

#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

tk_status gguf_map_file(const char *path, gguf_map *m)
{
    memset(m, 0, sizeof *m);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return core_error(e == ENOENT ? TK_ERR_NOT_FOUND : TK_ERR_IO, "%s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return core_error(TK_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return core_error(TK_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size <= 0) {
        close(fd);
        return core_error(TK_ERR_FORMAT, "%s: empty file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return core_error(TK_ERR_LIMIT, "%s: too large to map on this system", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file open */
    if (p == MAP_FAILED) return core_error(TK_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    m->data = p;
    m->size = (uint64_t)st.st_size;
    m->handle = p;
    return TK_OK;
}

void gguf_unmap(gguf_map *m)
{
    if (m->handle) munmap(m->handle, (size_t)m->size);
    memset(m, 0, sizeof *m);
}
#endif
