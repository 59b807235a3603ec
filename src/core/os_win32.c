/* The OS layer on Windows: see os.h. UTF-8 paths become UTF-16 here and go
 * to the wide-character API; errors from GetLastError() become errno. */
#include "core/os.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <bcrypt.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <psapi.h>
#include <shellapi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* UTF-8 -> UTF-16, malloc'ed (caller frees); NULL with errno set. */
static wchar_t *widen(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0) {
        errno = EINVAL;
        return NULL;
    }
    wchar_t *w = malloc((size_t)n * sizeof *w);
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
    return w;
}

/* UTF-16 -> UTF-8 into out (size bytes); false when it does not fit. */
static bool narrow(const wchar_t *w, char *out, int size)
{
    return WideCharToMultiByte(CP_UTF8, 0, w, -1, out, size, NULL, NULL) > 0;
}

static int errno_of(DWORD e)
{
    switch (e) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
        return ENOENT;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS:
        return EEXIST;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION:
        return EACCES;
    case ERROR_DIR_NOT_EMPTY:
        return ENOTEMPTY;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
        return ENOSPC;
    default:
        return EIO;
    }
}

FILE *os_fopen(const char *path, const char *mode)
{
    wchar_t *wp = widen(path);
    if (!wp) return NULL;
    /* "N": not inherited by child processes (O_NOINHERIT). */
    wchar_t wm[16];
    size_t n = strlen(mode);
    if (n + 2 > sizeof wm / sizeof wm[0]) {
        free(wp);
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) wm[i] = (wchar_t)(unsigned char)mode[i];
    wm[n] = L'N';
    wm[n + 1] = 0;
    FILE *f = _wfopen(wp, wm);
    free(wp);
    return f;
}

bool os_stat(const char *path, os_stat_info *out)
{
    wchar_t *wp = widen(path);
    if (!wp) return false;
    struct _stat64 st;
    int rc = _wstat64(wp, &st);
    free(wp);
    if (rc != 0) return false;
    out->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    out->mtime = (int64_t)st.st_mtime;
    out->is_dir = (st.st_mode & _S_IFMT) == _S_IFDIR;
    out->is_file = (st.st_mode & _S_IFMT) == _S_IFREG;
    return true;
}

int os_mkdir(const char *path)
{
    wchar_t *wp = widen(path);
    if (!wp) return -1;
    BOOL ok = CreateDirectoryW(wp, NULL);
    DWORD e = GetLastError();
    free(wp);
    if (ok) return 0;
    errno = errno_of(e);
    return -1;
}

int os_remove(const char *path)
{
    wchar_t *wp = widen(path);
    if (!wp) return -1;
    BOOL ok = DeleteFileW(wp);
    DWORD e = GetLastError();
    free(wp);
    if (ok) return 0;
    errno = errno_of(e);
    return -1;
}

int os_rmdir(const char *path)
{
    wchar_t *wp = widen(path);
    if (!wp) return -1;
    BOOL ok = RemoveDirectoryW(wp);
    DWORD e = GetLastError();
    free(wp);
    if (ok) return 0;
    errno = errno_of(e);
    return -1;
}

int os_rename(const char *from, const char *to)
{
    wchar_t *wf = widen(from), *wt = widen(to);
    BOOL ok = wf && wt && MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
    DWORD e = GetLastError();
    int bad_name = !wf || !wt;
    free(wf);
    free(wt);
    if (ok) return 0;
    if (!bad_name) errno = errno_of(e);
    return -1;
}

bool os_sync_file(FILE *f)
{
    if (fflush(f) != 0) return false;
    return _commit(_fileno(f)) == 0;
}

void os_sync_dir(const char *dir)
{
    /* MoveFileEx with MOVEFILE_WRITE_THROUGH made the rename durable. */
    (void)dir;
}

bool os_map_file(const char *path, os_map *m)
{
    memset(m, 0, sizeof *m);
    wchar_t *wp = widen(path);
    if (!wp) return false;
    HANDLE f = CreateFileW(wp, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD err = GetLastError();
    free(wp);
    if (f == INVALID_HANDLE_VALUE) {
        errno = errno_of(err);
        return false;
    }
    LARGE_INTEGER sz;
    int e = 0;
    if (GetFileType(f) != FILE_TYPE_DISK)
        e = EINVAL;
    else if (!GetFileSizeEx(f, &sz))
        e = EIO;
    else if ((uint64_t)sz.QuadPart > (uint64_t)SIZE_MAX)
        e = EFBIG;
    if (e || sz.QuadPart <= 0) {
        CloseHandle(f);
        errno = e;
        return e == 0;
    }
    HANDLE h = CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0, NULL);
    CloseHandle(f); /* the mapping keeps the file open */
    void *p = h ? MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0) : NULL;
    if (!p) {
        if (h) CloseHandle(h);
        errno = EIO;
        return false;
    }
    m->data = p;
    m->size = (uint64_t)sz.QuadPart;
    m->handle = h;
    return true;
}

void os_unmap(os_map *m)
{
    if (m->handle) {
        UnmapViewOfFile(m->data);
        CloseHandle((HANDLE)m->handle);
    }
    memset(m, 0, sizeof *m);
}

struct os_dir {
    HANDLE h;
    bool first; /* the entry in `fd` is still to be returned */
    WIN32_FIND_DATAW fd;
    char name[MAX_PATH * 4];
};

os_dir *os_dir_open(const char *path)
{
    size_t n = strlen(path);
    char *pattern = malloc(n + 3);
    if (!pattern) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(pattern, path, n);
    memcpy(pattern + n, n && (path[n - 1] == '/' || path[n - 1] == '\\') ? "*" : "/*", 3);
    wchar_t *wp = widen(pattern);
    free(pattern);
    if (!wp) return NULL;
    os_dir *d = calloc(1, sizeof *d);
    if (!d) {
        free(wp);
        errno = ENOMEM;
        return NULL;
    }
    d->h = FindFirstFileExW(wp, FindExInfoBasic, &d->fd, FindExSearchNameMatch, NULL, 0);
    DWORD e = GetLastError();
    free(wp);
    if (d->h == INVALID_HANDLE_VALUE) {
        free(d);
        errno = errno_of(e);
        return NULL;
    }
    d->first = true;
    return d;
}

const char *os_dir_next(os_dir *d)
{
    for (;;) {
        if (!d->first && !FindNextFileW(d->h, &d->fd)) return NULL;
        d->first = false;
        const wchar_t *w = d->fd.cFileName;
        if (wcscmp(w, L".") == 0 || wcscmp(w, L"..") == 0) continue;
        if (narrow(w, d->name, (int)sizeof d->name)) return d->name;
    }
}

void os_dir_close(os_dir *d)
{
    if (!d) return;
    FindClose(d->h);
    free(d);
}

void *os_aligned_alloc(size_t align, size_t size)
{
    return _aligned_malloc(size ? size : align, align);
}

void os_aligned_free(void *p)
{
    _aligned_free(p);
}

uint64_t os_peak_rss(void)
{
    PROCESS_MEMORY_COUNTERS pmc;
    if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) return 0;
    return (uint64_t)pmc.PeakWorkingSetSize;
}

size_t os_page_size(void)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize ? si.dwPageSize : 4096;
}

int os_cpu_count(void)
{
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    return n > 0 ? (int)n : 1;
}

long os_pid(void)
{
    return (long)GetCurrentProcessId();
}

double os_now(void)
{
    static LARGE_INTEGER freq;
    if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
    LARGE_INTEGER t;
    QueryPerformanceCounter(&t);
    return (double)t.QuadPart / (double)freq.QuadPart;
}

bool os_localtime(time_t t, struct tm *out)
{
    return localtime_s(out, &t) == 0;
}

bool os_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ULONG chunk = n > 0x40000000u ? 0x40000000u : (ULONG)n;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, p, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return false;
        p += chunk;
        n -= chunk;
    }
    return true;
}

bool os_isatty(FILE *f)
{
    return _isatty(_fileno(f)) != 0;
}

int os_term_width(FILE *f)
{
    HANDLE h = (HANDLE)_get_osfhandle(_fileno(f));
    CONSOLE_SCREEN_BUFFER_INFO info;
    if (h == INVALID_HANDLE_VALUE || !GetConsoleScreenBufferInfo(h, &info)) return 0;
    int w = info.srWindow.Right - info.srWindow.Left + 1;
    return w > 0 ? w : 0;
}

void os_init_program(int *argc, char ***argv)
{
    /* Output is bytes, as on POSIX systems: no "\r\n" for "\n" (tektra
     * logits writes raw floats to stdout; the console needs no "\r"). */
    _setmode(_fileno(stdin), _O_BINARY);
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);
    /* The console reads and writes UTF-8, and prints ANSI colour codes. */
    SetConsoleOutputCP(CP_UTF8);
    SetConsoleCP(CP_UTF8);
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    DWORD mode;
    if (out != INVALID_HANDLE_VALUE && GetConsoleMode(out, &mode))
        SetConsoleMode(out, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING);

    /* main's argv is in the ANSI code page; the UTF-16 command line has every
     * character. The strings live until the program ends. */
    int wargc = 0;
    wchar_t **wargv = CommandLineToArgvW(GetCommandLineW(), &wargc);
    if (!wargv) return;
    char **args = calloc((size_t)wargc + 1, sizeof *args);
    if (!args) {
        LocalFree(wargv);
        return;
    }
    for (int i = 0; i < wargc; i++) {
        int n = WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, NULL, 0, NULL, NULL);
        args[i] = n > 0 ? malloc((size_t)n) : NULL;
        if (!args[i]) {
            LocalFree(wargv);
            return; /* keep the ANSI arguments */
        }
        WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, args[i], n, NULL, NULL);
    }
    LocalFree(wargv);
    *argc = wargc;
    *argv = args;
}

static void (*volatile interrupt_fn)(void);

static BOOL WINAPI on_console_event(DWORD type)
{
    void (*fn)(void) = interrupt_fn;
    if (!fn) return FALSE;
    switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
        fn();
        return TRUE;
    default:
        return FALSE;
    }
}

void os_on_interrupt(void (*fn)(void))
{
    static bool installed;
    interrupt_fn = fn;
    if (!installed) installed = SetConsoleCtrlHandler(on_console_event, TRUE) != 0;
}

static HANDLE stop_event, wake_event;
static volatile LONG stop_reason;

static BOOL WINAPI on_stop_event(DWORD type)
{
    switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
        InterlockedExchange(&stop_reason, 1);
        break;
    case CTRL_CLOSE_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        InterlockedExchange(&stop_reason, 2);
        break;
    default:
        return FALSE;
    }
    SetEvent(stop_event);
    return TRUE;
}

void os_stop_prepare(void)
{
    stop_event = CreateEventW(NULL, FALSE, FALSE, NULL);
    wake_event = CreateEventW(NULL, FALSE, FALSE, NULL);
    SetConsoleCtrlHandler(on_stop_event, TRUE);
}

int os_stop_wait(void)
{
    HANDLE h[2] = {stop_event, wake_event};
    DWORD w = WaitForMultipleObjects(2, h, FALSE, INFINITE);
    if (w == WAIT_OBJECT_0 + 1) return 0;
    LONG r = InterlockedCompareExchange(&stop_reason, 0, 0);
    return r ? (int)r : 1;
}

void os_stop_wake(void)
{
    SetEvent(wake_event);
}
