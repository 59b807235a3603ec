/* Opening a URL in the user's default browser: `xdg-open` on Linux and the
 * BSDs, `open` on macOS, ShellExecute on Windows. The URL is passed as one
 * argument, never through a shell, so no character in it is interpreted. */
#include "tektra/platform.h"

#include <string.h>

#if defined(_WIN32)
#include <windows.h>
#include <shellapi.h>
#else
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
    pid_t pid;
    if (posix_spawnp(&pid, tool, NULL, NULL, argv, environ) != 0)
        return TK_ERR_UNSUPPORTED;
    int st = 0;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return TK_ERR_UNSUPPORTED;
    return TK_OK;
#endif
}
