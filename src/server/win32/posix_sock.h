/* Windows: the POSIX socket calls of the server (src/server/server.c) on
 * Winsock. Sockets are kept in the server's int descriptors (Winsock's
 * handles are small numbers; INVALID_SOCKET becomes -1); the wake-up pipe
 * of a job is a connected pair of loopback sockets, so one WSAPoll waits
 * on it and on the client. Force-included into the server on Windows only
 * (CMakeLists.txt); implemented in src/server/sock_win32.c. */
#ifndef TK_SERVER_POSIX_SOCK_WIN32_H
#define TK_SERVER_POSIX_SOCK_WIN32_H

#include <winsock2.h>
#include <ws2tcpip.h>

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <unistd.h>

#define F_GETFL    3
#define F_SETFL    4
#define F_SETFD    2
#define FD_CLOEXEC 1
#ifndef O_NONBLOCK
#define O_NONBLOCK 0x4000
#endif
#define MSG_DONTWAIT 0 /* the sockets polled are non-blocking already */
typedef ULONG nfds_t;

/* A connected pair of loopback TCP sockets (pipe()'s stand-in); 0 or -1. */
int server_w32_sockpair(int fds[2]);
/* send/recv/closesocket/ioctlsocket for the int descriptors. */
int server_w32_write(int fd, const void *p, size_t n);
int server_w32_read(int fd, void *p, size_t n);
int server_w32_close(int fd);
int server_w32_fcntl(int fd, int cmd, ...);
int server_w32_poll(struct pollfd *p, nfds_t n, int timeout);
int server_w32_socket(int family, int type, int proto);

#define pipe(fds)                 server_w32_sockpair(fds)
#define write(fd, p, n)           server_w32_write(fd, p, n)
#define read(fd, p, n)            server_w32_read(fd, p, n)
#define close(fd)                 server_w32_close(fd)
#define fcntl                     server_w32_fcntl
#define poll                      server_w32_poll
#define socket(f, t, p)           server_w32_socket(f, t, p)
#define setsockopt(s, l, o, v, n) setsockopt((SOCKET)(s), l, o, (const char *)(v), n)
#define bind(s, a, n)             bind((SOCKET)(s), a, (int)(n))
#define listen(s, n)              listen((SOCKET)(s), n)
#define getsockname(s, a, n)      getsockname((SOCKET)(s), a, n)
#define recv(s, b, n, f)          recv((SOCKET)(s), (char *)(b), (int)(n), f)

#endif
