/* The chat page and GET /props (see server/web.h). */
#include "server/web.h"

#include "kernels/kernels.h"

#include <string.h>
#include <strings.h>

/* The page's scripts, styles, images and API calls come from this origin
 * only; no inline script or style, no plug-ins, no framing, no forms
 * posting elsewhere. Model text is never HTML, and this makes sure that a
 * mistake there still cannot run anything. */
#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "                 \
    "frame-ancestors 'none'"

const server_web_file *server_web_find(const char *url)
{
    if (!url || url[0] != '/') return NULL;
    if (strcmp(url, "/") == 0) url = "/index.html";
    for (int i = 0; i < server_web_n_files; i++)
        if (strcmp(server_web_files[i].path, url) == 0) return &server_web_files[i];
    return NULL;
}

enum MHD_Result server_web_respond(struct MHD_Connection *c, const server_web_file *f)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->mime);
    MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* The files change with the binary: always ask again (they are small
     * and local). */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result r = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return r;
}

void server_web_props(server_buf *b, const tk_engine *e, const char *model_name, int n_parallel)
{
    const char *backend = tk_engine_backend_name(e);
    bool mlx = backend && strcasecmp(backend, "MLX") == 0;
    tk_model_info mi;
    tk_engine_model_info(e, &mi);

    server_buf_puts(b, "{\"model\":");
    server_buf_json_str(b, model_name, strlen(model_name));
    server_buf_printf(b, ",\"has_model\":%s,\"backend\":\"%s\",\"backend_display_name\":",
                      tk_engine_has_model(e) ? "true" : "false", mlx ? "mlx" : "gguf");
    const char *display = tk_engine_display_name(e);
    server_buf_json_str(b, display ? display : "", display ? strlen(display) : 0);
    /* The table the CPU engine runs with; MLX does its own computing. */
    server_buf_puts(b, ",\"kernel_level\":");
    const kernels_t *k = mlx ? NULL : kernels_get();
    if (k)
        server_buf_json_str(b, k->name, strlen(k->name));
    else
        server_buf_puts(b, "null");
    server_buf_printf(b,
                      ",\"n_ctx\":%lld,\"n_parallel\":%d,\"arch\":", (long long)tk_engine_n_ctx(e),
                      n_parallel);
    const char *arch = mi.arch ? mi.arch : "";
    server_buf_json_str(b, arch, strlen(arch));
    server_buf_printf(b,
                      ",\"n_ctx_train\":%d,\"n_vocab\":%d,\"n_params\":%llu,\"size_bytes\":%llu,"
                      "\"version\":\"%s\"}",
                      (int)mi.n_ctx_train, (int)mi.n_vocab, (unsigned long long)mi.n_params,
                      (unsigned long long)mi.size_bytes, tk_version());
}
