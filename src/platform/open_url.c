/* Opening a URL in the user's default browser: `xdg-open` on Linux and the
 * BSDs, `open` on macOS, ShellExecute on Windows. The URL is passed as one
 * argument, never through a shell, so no character in it is interpreted.
 * The child starts with no signals blocked and default handlers, whatever
 * the caller's (a server blocks SIGINT to take it with sigwait; a browser
 * started from here must not inherit that). */
#include "tektra/platform.h"

#include <string.h>

#if defined(_WIN32)
#include <windows.h>
#include <shellapi.h>
#else
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
extern char **environ;
#endif

tk_status tk_platform_open_url(const char *url)
{
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return TK_ERR_INVALID_ARG;
#if defined(_WIN32)
    HINSTANCE h = ShellExecuteA(NULL, "open", url, NULL, NULL, SW_SHOWNORMAL);
    return (INT_PTR)h > 32 ? TK_OK : TK_ERR_UNSUPPORTED;
#else
#if defined(__APPLE__)
    const char *tool = "open";
#else
    const char *tool = "xdg-open";
#endif
    char *argv[] = {(char *)tool, (char *)url, NULL};
    posix_spawnattr_t attr;
    if (posix_spawnattr_init(&attr) != 0) return TK_ERR_NOMEM;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawnp(&pid, tool, NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return TK_ERR_UNSUPPORTED;
    int st = 0;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return TK_ERR_UNSUPPORTED;
    return TK_OK;
#endif
}
