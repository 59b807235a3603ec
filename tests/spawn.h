/* Starting a program from a test without a shell: argv as given, stdout and
 * stderr into files, its exit status back. fork/execv on POSIX systems,
 * CreateProcessW on Windows (the command line quoted the way the C
 * runtime's parser splits it back into argv). */
#ifndef TK_TEST_SPAWN_H
#define TK_TEST_SPAWN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

/* Appends arg to cmd (size bytes) quoted for CommandLineToArgvW and the C
 * runtime: backslashes doubled before a quote, quotes escaped. */
static inline bool spawn_quote(char *cmd, size_t size, const char *arg)
{
    size_t n = strlen(cmd);
    bool plain = arg[0] && !strpbrk(arg, " \t\n\v\"");
    if (n && n + 1 < size) cmd[n++] = ' ';
    if (plain) {
        if (n + strlen(arg) + 1 > size) return false;
        memcpy(cmd + n, arg, strlen(arg) + 1);
        return true;
    }
    if (n + 1 >= size) return false;
    cmd[n++] = '"';
    for (const char *p = arg;; p++) {
        size_t bs = 0;
        while (*p == '\\') {
            p++;
            bs++;
        }
        size_t times = !*p ? bs * 2 : *p == '"' ? bs * 2 + 1 : bs;
        if (n + times + 3 > size) return false;
        for (size_t i = 0; i < times; i++) cmd[n++] = '\\';
        if (!*p) break;
        cmd[n++] = *p;
    }
    cmd[n++] = '"';
    cmd[n] = '\0';
    return true;
}

static inline HANDLE spawn_open_out(const char *path)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE}; /* inherited by the child */
    wchar_t w[4096];
    if (!MultiByteToWideChar(CP_UTF8, 0, path, -1, w, 4096)) return INVALID_HANDLE_VALUE;
    return CreateFileW(w, GENERIC_WRITE, FILE_SHARE_READ, &sa, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL,
                       NULL);
}

/* Runs argv (argv[0] a path; ".exe" may be left off) with stdout and stderr
 * sent to the files; returns the exit status, -1 when it could not start. */
static inline int spawn_wait(char *const argv[], const char *out_path, const char *err_path)
{
    static char cmd[32768];
    cmd[0] = '\0';
    for (int i = 0; argv[i]; i++)
        if (!spawn_quote(cmd, sizeof cmd, argv[i])) return -1;
    static wchar_t wcmd[32768];
    if (!MultiByteToWideChar(CP_UTF8, 0, cmd, -1, wcmd, 32768)) return -1;
    HANDLE o = spawn_open_out(out_path), e = spawn_open_out(err_path);
    int rc = -1;
    if (o != INVALID_HANDLE_VALUE && e != INVALID_HANDLE_VALUE) {
        STARTUPINFOW si;
        memset(&si, 0, sizeof si);
        si.cb = sizeof si;
        si.dwFlags = STARTF_USESTDHANDLES;
        si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
        si.hStdOutput = o;
        si.hStdError = e;
        PROCESS_INFORMATION pi;
        if (CreateProcessW(NULL, wcmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
            DWORD code = 0;
            WaitForSingleObject(pi.hProcess, INFINITE);
            if (GetExitCodeProcess(pi.hProcess, &code)) rc = (int)code;
            CloseHandle(pi.hThread);
            CloseHandle(pi.hProcess);
        }
    }
    if (o != INVALID_HANDLE_VALUE) CloseHandle(o);
    if (e != INVALID_HANDLE_VALUE) CloseHandle(e);
    return rc;
}

#else
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs argv (argv[0] a path) with stdout and stderr sent to the files;
 * returns the exit status, -1 when it could not start or did not exit. */
static inline int spawn_wait(char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0) _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
#endif

#endif
