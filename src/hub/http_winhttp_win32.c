/* Windows: downloads through WinHTTP, behind the part of libcurl's easy
 * interface that src/hub/download.c uses (win32/curl/curl.h says which,
 * and what each call means here). Built only where libcurl is not found. */
#include "curl/curl.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <winhttp.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* The macros of win32/posix_at.h (force-included into the hub) are not
 * wanted here. */
#undef open
#undef close
#undef rename

struct tk_winhttp_easy {
    char *url;                        /* as set (CURLOPT_URL) */
    char *eff_url;                    /* the URL last requested (after redirects) */
    char *agent;                      /* CURLOPT_USERAGENT */
    char *range;                      /* CURLOPT_RANGE: "START-" */
    char *errbuf;                     /* CURLOPT_ERRORBUFFER, CURL_ERROR_SIZE bytes; borrowed */
    const struct curl_slist *headers; /* borrowed */
    bool follow;
    long max_redirs, connect_timeout, low_speed_time;
    curl_write_callback header_fn, write_fn;
    void *header_data, *write_data;
    curl_xferinfo_callback xfer_fn;
    void *xfer_data;
    bool progress;
    long code; /* HTTP status of the last response */
};

CURLcode curl_global_init(long flags)
{
    (void)flags;
    return CURLE_OK;
}

CURL *curl_easy_init(void)
{
    CURL *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->follow = false;
    c->max_redirs = 10;
    c->connect_timeout = 30;
    c->low_speed_time = 60;
    return c;
}

void curl_easy_cleanup(CURL *c)
{
    if (!c) return;
    free(c->url);
    free(c->eff_url);
    free(c->agent);
    free(c->range);
    free(c);
}

static bool set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? strdup(s) : NULL;
    return !s || *dst;
}

CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
    va_list ap;
    va_start(ap, opt);
    CURLcode rc = CURLE_OK;
    switch (opt) {
    case CURLOPT_URL:
        if (!set_str(&c->url, va_arg(ap, const char *))) rc = CURLE_OUT_OF_MEMORY;
        break;
    case CURLOPT_USERAGENT:
        if (!set_str(&c->agent, va_arg(ap, const char *))) rc = CURLE_OUT_OF_MEMORY;
        break;
    case CURLOPT_RANGE:
        if (!set_str(&c->range, va_arg(ap, const char *))) rc = CURLE_OUT_OF_MEMORY;
        break;
    case CURLOPT_FOLLOWLOCATION:
        c->follow = va_arg(ap, long) != 0;
        break;
    case CURLOPT_MAXREDIRS:
        c->max_redirs = va_arg(ap, long);
        break;
    case CURLOPT_CONNECTTIMEOUT:
        c->connect_timeout = va_arg(ap, long);
        break;
    case CURLOPT_LOW_SPEED_TIME:
        c->low_speed_time = va_arg(ap, long);
        break;
    case CURLOPT_NOPROGRESS:
        c->progress = va_arg(ap, long) == 0;
        break;
    case CURLOPT_ERRORBUFFER:
        c->errbuf = va_arg(ap, char *);
        break;
    case CURLOPT_HTTPHEADER:
        c->headers = va_arg(ap, const struct curl_slist *);
        break;
    case CURLOPT_HEADERFUNCTION:
        c->header_fn = va_arg(ap, curl_write_callback);
        break;
    case CURLOPT_HEADERDATA:
        c->header_data = va_arg(ap, void *);
        break;
    case CURLOPT_WRITEFUNCTION:
        c->write_fn = va_arg(ap, curl_write_callback);
        break;
    case CURLOPT_WRITEDATA:
        c->write_data = va_arg(ap, void *);
        break;
    case CURLOPT_XFERINFOFUNCTION:
        c->xfer_fn = va_arg(ap, curl_xferinfo_callback);
        break;
    case CURLOPT_XFERINFODATA:
        c->xfer_data = va_arg(ap, void *);
        break;
    /* http and https are all WinHTTP speaks; no signals are used; the rate
     * is not measured (a stall is no data for LOW_SPEED_TIME). */
    case CURLOPT_PROTOCOLS_STR:
    case CURLOPT_REDIR_PROTOCOLS_STR:
        (void)va_arg(ap, const char *);
        break;
    case CURLOPT_PROTOCOLS:
    case CURLOPT_REDIR_PROTOCOLS:
    case CURLOPT_LOW_SPEED_LIMIT:
    case CURLOPT_NOSIGNAL:
        (void)va_arg(ap, long);
        break;
    }
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
    va_list ap;
    va_start(ap, info);
    if (info == CURLINFO_RESPONSE_CODE)
        *va_arg(ap, long *) = c->code;
    else if (info == CURLINFO_EFFECTIVE_URL)
        *va_arg(ap, char **) = c->eff_url ? c->eff_url : c->url;
    va_end(ap);
    return CURLE_OK;
}

const char *curl_easy_strerror(CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return "no error";
    case CURLE_UNSUPPORTED_PROTOCOL:
        return "unsupported protocol (http and https only)";
    case CURLE_URL_MALFORMAT:
        return "malformed URL";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "could not resolve the host name";
    case CURLE_COULDNT_CONNECT:
        return "could not connect to the server";
    case CURLE_PARTIAL_FILE:
        return "the transfer ended before the end of the file";
    case CURLE_WRITE_ERROR:
        return "the received data could not be written";
    case CURLE_OUT_OF_MEMORY:
        return "out of memory";
    case CURLE_OPERATION_TIMEDOUT:
        return "timed out";
    case CURLE_ABORTED_BY_CALLBACK:
        return "stopped";
    case CURLE_TOO_MANY_REDIRECTS:
        return "too many redirects";
    case CURLE_GOT_NOTHING:
        return "the server sent nothing";
    case CURLE_SEND_ERROR:
        return "failed sending data to the server";
    case CURLE_RECV_ERROR:
        return "failed receiving data from the server";
    case CURLE_PEER_FAILED_VERIFICATION:
        return "the server's certificate was not accepted";
    default:
        return "download failed";
    }
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
    struct curl_slist *item = malloc(sizeof *item);
    if (!item) return NULL;
    item->data = strdup(s);
    item->next = NULL;
    if (!item->data) {
        free(item);
        return NULL;
    }
    if (!list) return item;
    struct curl_slist *last = list;
    while (last->next) last = last->next;
    last->next = item;
    return list;
}

void curl_slist_free_all(struct curl_slist *list)
{
    while (list) {
        struct curl_slist *next = list->next;
        free(list->data);
        free(list);
        list = next;
    }
}

/* ---- the transfer ------------------------------------------------------ */

static wchar_t *widen(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    wchar_t *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
    if (w) MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    return w;
}

static char *narrow(const wchar_t *w)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = n > 0 ? malloc((size_t)n) : NULL;
    if (s) WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    return s;
}

/* Records WinHTTP's error in the error buffer and returns its CURLcode. */
static CURLcode fail(CURL *c, DWORD e, const char *what)
{
    CURLcode rc;
    switch (e) {
    case ERROR_WINHTTP_NAME_NOT_RESOLVED:
        rc = CURLE_COULDNT_RESOLVE_HOST;
        break;
    case ERROR_WINHTTP_CANNOT_CONNECT:
    case ERROR_WINHTTP_CONNECTION_ERROR:
        rc = CURLE_COULDNT_CONNECT;
        break;
    case ERROR_WINHTTP_TIMEOUT:
        rc = CURLE_OPERATION_TIMEDOUT;
        break;
    case ERROR_WINHTTP_UNRECOGNIZED_SCHEME:
        rc = CURLE_UNSUPPORTED_PROTOCOL;
        break;
    case ERROR_WINHTTP_INVALID_URL:
        rc = CURLE_URL_MALFORMAT;
        break;
    case ERROR_WINHTTP_SECURE_FAILURE:
        rc = CURLE_PEER_FAILED_VERIFICATION;
        break;
    case ERROR_WINHTTP_INVALID_SERVER_RESPONSE:
        rc = CURLE_GOT_NOTHING;
        break;
    case ERROR_NOT_ENOUGH_MEMORY:
        rc = CURLE_OUT_OF_MEMORY;
        break;
    default:
        rc = CURLE_RECV_ERROR;
        break;
    }
    if (c->errbuf) {
        char msg[160] = "";
        HMODULE mod = GetModuleHandleW(L"winhttp.dll");
        DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_FROM_SYSTEM |
                                     FORMAT_MESSAGE_IGNORE_INSERTS,
                                 mod, e, 0, msg, sizeof msg, NULL);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == '.'))
            msg[--n] = '\0';
        snprintf(c->errbuf, CURL_ERROR_SIZE, "%s: %s (WinHTTP error %lu)", what,
                 n ? msg : curl_easy_strerror(rc), (unsigned long)e);
    }
    return rc;
}

/* The scheme, host and port of url ("http://host:port"), lower case. */
static void origin(const char *url, char *out, size_t size)
{
    const char *h = strstr(url, "://");
    size_t n = h ? (size_t)(h + 3 - url) + strcspn(h + 3, "/?#") : strlen(url);
    if (n >= size) n = size - 1;
    for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)url[i]);
    out[n] = '\0';
}

/* Location resolved against the URL it came from; malloc'ed. */
static char *resolve(const char *base, const char *loc)
{
    if (strstr(loc, "://")) return strdup(loc);
    char o[1024];
    origin(base, o, sizeof o);
    size_t ol = strlen(o);
    const char *path = base + ol;
    size_t keep;
    if (loc[0] == '/' && loc[1] == '/') { /* scheme-relative */
        const char *colon = strchr(o, ':');
        keep = colon ? (size_t)(colon + 1 - o) : 0;
        char *r = malloc(keep + strlen(loc) + 1);
        if (r) {
            memcpy(r, o, keep);
            strcpy(r + keep, loc);
        }
        return r;
    }
    if (loc[0] == '/') {
        keep = ol;
    } else {
        size_t pl = strcspn(path, "?#");
        const char *slash = NULL;
        for (size_t i = 0; i < pl; i++)
            if (path[i] == '/') slash = path + i;
        keep = slash ? (size_t)(slash + 1 - base) : ol;
    }
    char *r = malloc(keep + strlen(loc) + 2);
    if (!r) return NULL;
    memcpy(r, base, keep);
    r[keep] = '\0';
    if (loc[0] != '/' && (keep == ol)) strcat(r, "/");
    strcat(r, loc);
    return r;
}

/* Hands the response's header lines to the header callback. */
static CURLcode give_headers(CURL *c, HINTERNET req)
{
    if (!c->header_fn) return CURLE_OK;
    DWORD bytes = 0;
    WinHttpQueryHeaders(req, WINHTTP_QUERY_RAW_HEADERS_CRLF, WINHTTP_HEADER_NAME_BY_INDEX, NULL,
                        &bytes, WINHTTP_NO_HEADER_INDEX);
    if (GetLastError() != ERROR_INSUFFICIENT_BUFFER || bytes == 0) return CURLE_OK;
    wchar_t *w = malloc(bytes + sizeof(wchar_t));
    if (!w) return CURLE_OUT_OF_MEMORY;
    if (!WinHttpQueryHeaders(req, WINHTTP_QUERY_RAW_HEADERS_CRLF, WINHTTP_HEADER_NAME_BY_INDEX, w,
                             &bytes, WINHTTP_NO_HEADER_INDEX)) {
        free(w);
        return fail(c, GetLastError(), "reading the response headers");
    }
    w[bytes / sizeof(wchar_t)] = 0;
    char *text = narrow(w);
    free(w);
    if (!text) return CURLE_OUT_OF_MEMORY;
    CURLcode rc = CURLE_OK;
    for (char *line = text; *line && rc == CURLE_OK;) {
        char *end = strstr(line, "\r\n");
        size_t n = end ? (size_t)(end + 2 - line) : strlen(line);
        if (c->header_fn(line, 1, n, c->header_data) != n) rc = CURLE_WRITE_ERROR;
        line += n;
        if (n == 2) break; /* the empty line ends the headers */
    }
    free(text);
    return rc;
}

/* One request to c->eff_url; *location gets a redirect's target (malloc'ed)
 * when the response is one and redirects are followed. */
static CURLcode request(CURL *c, HINTERNET session, bool send_auth, char **location)
{
    *location = NULL;
    wchar_t *wurl = widen(c->eff_url);
    if (!wurl) return CURLE_OUT_OF_MEMORY;
    URL_COMPONENTS uc;
    memset(&uc, 0, sizeof uc);
    uc.dwStructSize = sizeof uc;
    uc.dwSchemeLength = uc.dwHostNameLength = uc.dwUrlPathLength = uc.dwExtraInfoLength = (DWORD)-1;
    if (!WinHttpCrackUrl(wurl, 0, 0, &uc)) {
        DWORD e = GetLastError();
        free(wurl);
        return fail(c, e, c->eff_url);
    }
    if (uc.nScheme != INTERNET_SCHEME_HTTP && uc.nScheme != INTERNET_SCHEME_HTTPS) {
        free(wurl);
        return CURLE_UNSUPPORTED_PROTOCOL;
    }
    wchar_t host[256];
    if (uc.dwHostNameLength >= 256) {
        free(wurl);
        return CURLE_URL_MALFORMAT;
    }
    memcpy(host, uc.lpszHostName, uc.dwHostNameLength * sizeof(wchar_t));
    host[uc.dwHostNameLength] = 0;
    /* Path and query, e.g. "/o/r/resolve/main/f.gguf?download=true". */
    const wchar_t *object = uc.dwUrlPathLength ? uc.lpszUrlPath : L"/";

    CURLcode rc = CURLE_OK;
    HINTERNET conn = WinHttpConnect(session, host, uc.nPort, 0);
    HINTERNET req =
        conn ? WinHttpOpenRequest(conn, L"GET", object, NULL, WINHTTP_NO_REFERER,
                                  WINHTTP_DEFAULT_ACCEPT_TYPES,
                                  uc.nScheme == INTERNET_SCHEME_HTTPS ? WINHTTP_FLAG_SECURE : 0)
             : NULL;
    free(wurl);
    if (!req) {
        rc = fail(c, GetLastError(), "cannot start the request");
        goto done;
    }
    /* Redirects are followed here, so that a token stays with its host. */
    DWORD off = WINHTTP_DISABLE_REDIRECTS;
    WinHttpSetOption(req, WINHTTP_OPTION_DISABLE_FEATURE, &off, sizeof off);
    /* The request's headers: the caller's (the token only to the host it
     * was given for), and the range. */
    size_t hlen = 64 + (c->range ? strlen(c->range) : 0);
    for (const struct curl_slist *h = c->headers; h; h = h->next) hlen += strlen(h->data) + 2;
    char *hdrs = malloc(hlen);
    if (!hdrs) {
        rc = CURLE_OUT_OF_MEMORY;
        goto done;
    }
    hdrs[0] = '\0';
    for (const struct curl_slist *h = c->headers; h; h = h->next) {
        if (!send_auth && _strnicmp(h->data, "authorization:", 14) == 0) continue;
        strcat(hdrs, h->data);
        strcat(hdrs, "\r\n");
    }
    if (c->range) {
        strcat(hdrs, "Range: bytes=");
        strcat(hdrs, c->range);
        strcat(hdrs, "\r\n");
    }
    wchar_t *whdrs = widen(hdrs);
    free(hdrs);
    if (!whdrs) {
        rc = CURLE_OUT_OF_MEMORY;
        goto done;
    }
    BOOL sent = WinHttpSendRequest(req, whdrs[0] ? whdrs : WINHTTP_NO_ADDITIONAL_HEADERS,
                                   whdrs[0] ? (DWORD)-1L : 0, WINHTTP_NO_REQUEST_DATA, 0, 0, 0);
    free(whdrs);
    if (!sent || !WinHttpReceiveResponse(req, NULL)) {
        rc = fail(c, GetLastError(), "no response");
        goto done;
    }
    DWORD status = 0, size = sizeof status;
    WinHttpQueryHeaders(req, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                        WINHTTP_HEADER_NAME_BY_INDEX, &status, &size, WINHTTP_NO_HEADER_INDEX);
    c->code = (long)status;
    if (c->follow &&
        (status == 301 || status == 302 || status == 303 || status == 307 || status == 308)) {
        DWORD bytes = 0;
        WinHttpQueryHeaders(req, WINHTTP_QUERY_LOCATION, WINHTTP_HEADER_NAME_BY_INDEX, NULL, &bytes,
                            WINHTTP_NO_HEADER_INDEX);
        if (bytes > 0) {
            wchar_t *wl = malloc(bytes + sizeof(wchar_t));
            if (wl && WinHttpQueryHeaders(req, WINHTTP_QUERY_LOCATION, WINHTTP_HEADER_NAME_BY_INDEX,
                                          wl, &bytes, WINHTTP_NO_HEADER_INDEX)) {
                wl[bytes / sizeof(wchar_t)] = 0;
                char *loc = narrow(wl);
                if (loc) *location = resolve(c->eff_url, loc);
                free(loc);
            }
            free(wl);
            if (*location) goto done; /* the redirect's body is not wanted */
        }
    }
    if ((rc = give_headers(c, req)) != CURLE_OK) goto done;

    /* Content-Length, to tell a cut-off body from a whole one. */
    wchar_t lenbuf[32];
    DWORD lensize = sizeof lenbuf;
    unsigned long long expect = 0;
    bool have_len =
        WinHttpQueryHeaders(req, WINHTTP_QUERY_CONTENT_LENGTH, WINHTTP_HEADER_NAME_BY_INDEX, lenbuf,
                            &lensize, WINHTTP_NO_HEADER_INDEX) != 0;
    if (have_len) expect = wcstoull(lenbuf, NULL, 10);

    static char buf[1 << 16];
    unsigned long long got = 0;
    for (;;) {
        if (c->progress && c->xfer_fn &&
            c->xfer_fn(c->xfer_data, (curl_off_t)expect, (curl_off_t)got, 0, 0) != 0) {
            rc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        DWORD n = 0;
        if (!WinHttpReadData(req, buf, sizeof buf, &n)) {
            DWORD e = GetLastError();
            rc = fail(c, e, "receiving");
            if (rc == CURLE_COULDNT_CONNECT) rc = CURLE_RECV_ERROR;
            break;
        }
        if (n == 0) {
            if (have_len && got < expect) {
                rc = CURLE_PARTIAL_FILE;
                if (c->errbuf)
                    snprintf(c->errbuf, CURL_ERROR_SIZE,
                             "transfer closed with %llu bytes remaining to read", expect - got);
            }
            break;
        }
        got += n;
        if (c->write_fn && c->write_fn(buf, 1, n, c->write_data) != n) {
            rc = CURLE_WRITE_ERROR;
            break;
        }
    }

done:
    if (req) WinHttpCloseHandle(req);
    if (conn) WinHttpCloseHandle(conn);
    return rc;
}

CURLcode curl_easy_perform(CURL *c)
{
    if (!c->url) return CURLE_URL_MALFORMAT;
    if (c->errbuf) c->errbuf[0] = '\0';
    c->code = 0;
    if (!set_str(&c->eff_url, c->url)) return CURLE_OUT_OF_MEMORY;
    wchar_t *agent = widen(c->agent ? c->agent : "tektra");
    HINTERNET session = agent ? WinHttpOpen(agent, WINHTTP_ACCESS_TYPE_DEFAULT_PROXY,
                                            WINHTTP_NO_PROXY_NAME, WINHTTP_NO_PROXY_BYPASS, 0)
                              : NULL;
    free(agent);
    if (!session) return fail(c, GetLastError(), "cannot start WinHTTP");
    int ms_connect = c->connect_timeout > 0 ? (int)(c->connect_timeout * 1000) : 0;
    int ms_data = c->low_speed_time > 0 ? (int)(c->low_speed_time * 1000) : 0;
    WinHttpSetTimeouts(session, ms_connect, ms_connect, ms_data, ms_data);
    char first[1024];
    origin(c->url, first, sizeof first);
    CURLcode rc;
    for (long hops = 0;; hops++) {
        char here[1024];
        origin(c->eff_url, here, sizeof here);
        char *location = NULL;
        rc = request(c, session, strcmp(here, first) == 0, &location);
        if (rc != CURLE_OK || !location) {
            free(location);
            break;
        }
        if (hops >= c->max_redirs) {
            free(location);
            rc = CURLE_TOO_MANY_REDIRECTS;
            if (c->errbuf)
                snprintf(c->errbuf, CURL_ERROR_SIZE, "maximum (%ld) redirects followed",
                         c->max_redirs);
            break;
        }
        free(c->eff_url);
        c->eff_url = location;
        if (strncmp(location, "http://", 7) != 0 && strncmp(location, "https://", 8) != 0) {
            rc = CURLE_UNSUPPORTED_PROTOCOL;
            break;
        }
    }
    WinHttpCloseHandle(session);
    return rc;
}
