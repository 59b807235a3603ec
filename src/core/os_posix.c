/* The OS layer on POSIX systems (Linux, macOS): see os.h. */
#include "core/os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *os_fopen(const char *path, const char *mode)
{
#ifdef __linux__
    /* "e": O_CLOEXEC. */
    char m[16];
    size_t n = strlen(mode);
    if (n + 2 > sizeof m) {
        errno = EINVAL;
        return NULL;
    }
    memcpy(m, mode, n);
    m[n] = 'e';
    m[n + 1] = '\0';
    return fopen(path, m);
#else
    return fopen(path, mode);
#endif
}

bool os_stat(const char *path, os_stat_info *out)
{
    struct stat st;
    if (stat(path, &st) != 0) return false;
    out->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    out->mtime = (int64_t)st.st_mtime;
    out->is_dir = S_ISDIR(st.st_mode);
    out->is_file = S_ISREG(st.st_mode);
    return true;
}

int os_mkdir(const char *path)
{
    return mkdir(path, 0755);
}

int os_remove(const char *path)
{
    return unlink(path);
}

int os_rmdir(const char *path)
{
    return rmdir(path);
}

int os_rename(const char *from, const char *to)
{
    return rename(from, to);
}

bool os_sync_file(FILE *f)
{
    if (fflush(f) != 0) return false;
    return fsync(fileno(f)) == 0;
}

void os_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

bool os_map_file(const char *path, os_map *m)
{
    memset(m, 0, sizeof *m);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return false;
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) != 0)
        e = errno;
    else if (!S_ISREG(st.st_mode))
        e = EINVAL;
    else if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX)
        e = EFBIG;
    if (e || st.st_size <= 0) {
        close(fd);
        errno = e;
        return e == 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    e = errno;
    close(fd); /* the mapping keeps the file open */
    if (p == MAP_FAILED) {
        errno = e;
        return false;
    }
    m->data = p;
    m->size = (uint64_t)st.st_size;
    m->handle = p;
    return true;
}

void os_unmap(os_map *m)
{
    if (m->handle) munmap(m->handle, (size_t)m->size);
    memset(m, 0, sizeof *m);
}

struct os_dir {
    DIR *d;
};

os_dir *os_dir_open(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return NULL;
    os_dir *od = malloc(sizeof *od);
    if (!od) {
        closedir(d);
        errno = ENOMEM;
        return NULL;
    }
    od->d = d;
    return od;
}

const char *os_dir_next(os_dir *d)
{
    struct dirent *de;
    while ((de = readdir(d->d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) return de->d_name;
    return NULL;
}

void os_dir_close(os_dir *d)
{
    if (!d) return;
    closedir(d->d);
    free(d);
}

void *os_aligned_alloc(size_t align, size_t size)
{
    void *p = NULL;
    if (size == 0) size = align;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

void os_aligned_free(void *p)
{
    free(p);
}

uint64_t os_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
#ifdef __APPLE__
    return (uint64_t)ru.ru_maxrss;
#else
    return (uint64_t)ru.ru_maxrss * 1024u;
#endif
}

size_t os_page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

int os_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

long os_pid(void)
{
    return (long)getpid();
}

double os_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool os_localtime(time_t t, struct tm *out)
{
    return localtime_r(&t, out) != NULL;
}

bool os_random(void *buf, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            close(fd);
            return false;
        }
        p += got;
        n -= (size_t)got;
    }
    close(fd);
    return true;
}

bool os_isatty(FILE *f)
{
    return isatty(fileno(f)) == 1;
}

int os_term_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 0;
}

void os_init_program(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
}

static void (*interrupt_fn)(void);

static void on_signal(int sig)
{
    (void)sig;
    if (interrupt_fn) interrupt_fn();
}

void os_on_interrupt(void (*fn)(void))
{
    interrupt_fn = fn;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn ? on_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

static sigset_t stop_sigs;
static pthread_t stop_thread;

void os_stop_prepare(void)
{
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    stop_thread = pthread_self();
}

int os_stop_wait(void)
{
    int sig = 0;
    if (sigwait(&stop_sigs, &sig) != 0) return 1;
    return sig == SIGUSR1 ? 0 : sig == SIGINT ? 1 : 2;
}

void os_stop_wake(void)
{
    pthread_kill(stop_thread, SIGUSR1);
}
