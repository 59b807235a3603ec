/* Windows: the socket API is Winsock's (see posix_sock.h). */
#include <winsock2.h>
#include <ws2tcpip.h>
