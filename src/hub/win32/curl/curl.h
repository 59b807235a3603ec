/* Windows: the part of libcurl's easy interface that the downloads
 * (src/hub/download.c) use, implemented on WinHTTP, the HTTP client of
 * Windows itself (src/hub/http_winhttp_win32.c), so `tektra pull` needs no
 * libcurl there. This is not libcurl: only these calls and options exist,
 * with the meanings download.c relies on:
 *
 *   - redirects are followed (http and https only, at most MAXREDIRS), and
 *     an Authorization header is not sent on to another host;
 *   - HEADERFUNCTION gets the final response's status line, each header
 *     line and the empty line; WRITEFUNCTION its body; XFERINFOFUNCTION is
 *     called between reads and stops the transfer when it returns non-zero;
 *   - CONNECTTIMEOUT bounds connecting; LOW_SPEED_TIME bounds the wait for
 *     the next data (WinHTTP measures no rate: a stall is no data at all
 *     for that long);
 *   - a body shorter than its Content-Length is CURLE_PARTIAL_FILE.
 *
 * Used only where libcurl is not found (CMakeLists.txt). */
#ifndef TK_HUB_WINHTTP_CURL_H
#define TK_HUB_WINHTTP_CURL_H

#include <stddef.h>

#define LIBCURL_VERSION_NUM 0x075500 /* the *_PROTOCOLS_STR options exist */
#define CURL_ERROR_SIZE     256
#define CURL_GLOBAL_DEFAULT 3L
#define CURLPROTO_HTTP      1L
#define CURLPROTO_HTTPS     2L

typedef struct tk_winhttp_easy CURL;
typedef long long curl_off_t;

typedef enum {
    CURLE_OK = 0,
    CURLE_UNSUPPORTED_PROTOCOL = 1,
    CURLE_FAILED_INIT = 2,
    CURLE_URL_MALFORMAT = 3,
    CURLE_COULDNT_RESOLVE_HOST = 6,
    CURLE_COULDNT_CONNECT = 7,
    CURLE_HTTP2 = 16,
    CURLE_PARTIAL_FILE = 18,
    CURLE_WRITE_ERROR = 23,
    CURLE_OUT_OF_MEMORY = 27,
    CURLE_OPERATION_TIMEDOUT = 28,
    CURLE_ABORTED_BY_CALLBACK = 42,
    CURLE_TOO_MANY_REDIRECTS = 47,
    CURLE_GOT_NOTHING = 52,
    CURLE_SEND_ERROR = 55,
    CURLE_RECV_ERROR = 56,
    CURLE_PEER_FAILED_VERIFICATION = 60,
    CURLE_HTTP2_STREAM = 92,
} CURLcode;

typedef enum {
    CURLOPT_URL,
    CURLOPT_FOLLOWLOCATION,
    CURLOPT_MAXREDIRS,
    CURLOPT_PROTOCOLS_STR,
    CURLOPT_REDIR_PROTOCOLS_STR,
    CURLOPT_PROTOCOLS,
    CURLOPT_REDIR_PROTOCOLS,
    CURLOPT_CONNECTTIMEOUT,
    CURLOPT_LOW_SPEED_LIMIT,
    CURLOPT_LOW_SPEED_TIME,
    CURLOPT_NOSIGNAL,
    CURLOPT_USERAGENT,
    CURLOPT_ERRORBUFFER,
    CURLOPT_HTTPHEADER,
    CURLOPT_HEADERFUNCTION,
    CURLOPT_HEADERDATA,
    CURLOPT_WRITEFUNCTION,
    CURLOPT_WRITEDATA,
    CURLOPT_XFERINFOFUNCTION,
    CURLOPT_XFERINFODATA,
    CURLOPT_NOPROGRESS,
    CURLOPT_RANGE,
} CURLoption;

typedef enum {
    CURLINFO_RESPONSE_CODE, /* long * */
    CURLINFO_EFFECTIVE_URL, /* char ** (valid until cleanup) */
} CURLINFO;

struct curl_slist {
    char *data;
    struct curl_slist *next;
};

typedef size_t (*curl_write_callback)(char *data, size_t size, size_t n, void *user);
typedef int (*curl_xferinfo_callback)(void *user, curl_off_t dltotal, curl_off_t dlnow,
                                      curl_off_t ultotal, curl_off_t ulnow);

CURLcode curl_global_init(long flags);
CURL *curl_easy_init(void);
void curl_easy_cleanup(CURL *c);
CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...);
CURLcode curl_easy_perform(CURL *c);
CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...);
const char *curl_easy_strerror(CURLcode code);
struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s);
void curl_slist_free_all(struct curl_slist *list);

#endif
