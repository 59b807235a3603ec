/* Windows: the server's POSIX socket calls on Winsock (see
 * win32/posix_sock.h). */
#include "core/os.h"

#include <winsock2.h>
#include <ws2tcpip.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#undef pipe
#undef write
#undef read
#undef close
#undef fcntl
#undef poll
#undef socket
#undef setsockopt
#undef bind
#undef listen
#undef getsockname
#undef recv

#include "server/win32/posix_sock.h"

#undef pipe
#undef write
#undef read
#undef close
#undef fcntl
#undef poll
#undef socket
#undef setsockopt
#undef bind
#undef listen
#undef getsockname
#undef recv

static void startup(void)
{
    static volatile LONG done;
    if (InterlockedCompareExchange(&done, 1, 0) == 0) {
        WSADATA d;
        WSAStartup(MAKEWORD(2, 2), &d);
    }
}

static int to_errno(int e)
{
    switch (e) {
    case WSAEWOULDBLOCK:
        return EWOULDBLOCK;
    case WSAEINTR:
        return EINTR;
    case WSAEADDRINUSE:
        return EADDRINUSE;
    case WSAEACCES:
        return EACCES;
    case WSAEADDRNOTAVAIL:
        return EADDRNOTAVAIL;
    case WSAEAFNOSUPPORT:
        return EAFNOSUPPORT;
    default:
        return EIO;
    }
}

int server_w32_socket(int family, int type, int proto)
{
    startup();
    SOCKET s = WSASocketW(family, type, proto, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) {
        errno = to_errno(WSAGetLastError());
        return -1;
    }
    return (int)s;
}

int server_w32_sockpair(int fds[2])
{
    startup();
    SOCKET l = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
    SOCKET a = INVALID_SOCKET, b = INVALID_SOCKET;
    struct sockaddr_in sa;
    int len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l == INVALID_SOCKET || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(l, 1) != 0 || getsockname(l, (struct sockaddr *)&sa, &len) != 0)
        goto fail;
    a = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
    if (a == INVALID_SOCKET || connect(a, (struct sockaddr *)&sa, sizeof sa) != 0) goto fail;
    b = accept(l, NULL, NULL);
    if (b == INVALID_SOCKET) goto fail;
    closesocket(l);
    /* fds[0] is read, fds[1] written: as pipe(). */
    fds[0] = (int)b;
    fds[1] = (int)a;
    return 0;
fail:
    errno = to_errno(WSAGetLastError());
    if (l != INVALID_SOCKET) closesocket(l);
    if (a != INVALID_SOCKET) closesocket(a);
    return -1;
}

int server_w32_write(int fd, const void *p, size_t n)
{
    int r = send((SOCKET)fd, p, (int)n, 0);
    if (r < 0) errno = to_errno(WSAGetLastError());
    return r;
}

int server_w32_read(int fd, void *p, size_t n)
{
    int r = recv((SOCKET)fd, p, (int)n, 0);
    if (r < 0) errno = to_errno(WSAGetLastError());
    return r;
}

int server_w32_close(int fd)
{
    return closesocket((SOCKET)fd) == 0 ? 0 : -1;
}

int server_w32_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int arg = cmd == F_GETFL ? 0 : va_arg(ap, int);
    va_end(ap);
    if (cmd == F_GETFL) return 0;
    if (cmd == F_SETFL) {
        u_long on = (arg & O_NONBLOCK) != 0;
        return ioctlsocket((SOCKET)fd, FIONBIO, &on) == 0 ? 0 : -1;
    }
    /* F_SETFD FD_CLOEXEC: the sockets are made not inheritable already. */
    return 0;
}

int server_w32_poll(struct pollfd *p, nfds_t n, int timeout)
{
    int r = WSAPoll(p, n, timeout);
    if (r < 0) errno = to_errno(WSAGetLastError());
    return r;
}
