/* tektra hub: getting a model.
 *
 * A local model store (one directory of GGUF files), a built-in catalogue of
 * real GGUF files on Hugging Face known by short aliases ("qwen2.5-0.5b",
 * "llama3.2-1b:q8_0"), downloads with resume and verification, and name
 * resolution so that a model can be given as a path, a file name in the
 * store or an alias.
 *
 * The store never holds a partial or unverified file under a model's name:
 * downloads are written to "<name>.partial" and renamed only once complete,
 * checked to be GGUF and, where the SHA-256 is known, verified. Nothing here
 * downloads unless tk_hub_pull() is called.
 */
#ifndef TEKTRA_HUB_H
#define TEKTRA_HUB_H

#include "tektra/config.h"
#include "tektra/core.h"
#include "tektra/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the catalogue ----------------------------------------------------- */

/* A catalogue entry: one GGUF file of one Hugging Face repository. All
 * strings are static. */
typedef struct tk_hub_model {
    const char *alias;    /* "qwen2.5-0.5b" (the family's default quant) or
                             "qwen2.5-0.5b:q8_0" */
    const char *family;   /* "qwen2.5-0.5b": the alias without the quant */
    const char *quant;    /* "Q4_K_M", "Q8_0" */
    bool is_default;      /* the quant chosen when the alias names no quant */
    const char *title;    /* "Qwen2.5 0.5B Instruct" */
    const char *repo;     /* "bartowski/Qwen2.5-0.5B-Instruct-GGUF" */
    const char *file;     /* "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", the name in the store */
    uint64_t size;        /* exact bytes, 0 when not confirmed */
    uint64_t size_approx; /* bytes as the model page rounds them (for messages
                             and the disk-space check), 0 when unknown */
    const char *sha256;   /* 64 lowercase hex digits, "" when not confirmed */
} tk_hub_model;

/* Entries 0 .. tk_hub_catalogue_count()-1; NULL when out of range. */
int tk_hub_catalogue_count(void);
const tk_hub_model *tk_hub_catalogue_at(int i);

/* Finds an alias, case-insensitively: "FAMILY" gives the family's default
 * quant, "FAMILY:QUANT" that quant ("qwen2.5-0.5b:q8_0"). NULL when unknown. */
const tk_hub_model *tk_hub_find_alias(const char *name);

/* The catalogue entry whose file name is `file` (case-insensitive), or NULL. */
const tk_hub_model *tk_hub_find_file(const char *file);

/* The entry that fits a machine with `p->ram_total` bytes of memory:
 *   unknown (0) or < 4 GiB -> qwen2.5-0.5b   (about 0.4 GB)
 *   < 8 GiB                -> qwen2.5-1.5b   (about 1.0 GB)
 *   < 16 GiB               -> llama3.2-3b    (about 2.0 GB)
 *   otherwise              -> qwen2.5-7b     (about 4.7 GB)
 * The weights take about a quarter of RAM or less, which leaves room for the
 * KV cache, the operating system and other programs. Never NULL. */
const tk_hub_model *tk_hub_recommend(const tk_platform *p);

/* ---- the store --------------------------------------------------------- */

/* The default store directory of an OS, from the environment read through
 * `get` (getenv when NULL):
 *   linux/other: $XDG_DATA_HOME/tektra/models (when absolute), else
 *                $HOME/.local/share/tektra/models
 *   macos:       $HOME/Library/Application Support/tektra/models
 *   windows:     %LOCALAPPDATA%\tektra\models, else
 *                %USERPROFILE%\AppData\Local\tektra\models
 * TK_ERR_NOT_FOUND (naming the variables) when the variables are unset. */
tk_status tk_hub_default_store(tk_os os, tk_getenv_fn get, void *user, char *out, size_t size);

/* The store in use: `cfg->model_dir` when set (`[model] dir` or
 * TEKTRA_MODELS), else TEKTRA_MODELS read through `get`, else the default of
 * `p->os`. `cfg` may be NULL. A leading "~/" is replaced by $HOME. */
tk_status tk_hub_store_dir(const tk_config *cfg, const tk_platform *p, tk_getenv_fn get, void *user,
                           char *out, size_t size);

/* A file of the store. */
typedef struct tk_hub_entry {
    char name[256];  /* file name in the store, "X.gguf" or "X.gguf.partial" */
    char alias[64];  /* catalogue alias of this file, "" when none */
    char path[1280]; /* full path */
    uint64_t size;   /* bytes on disk */
    bool partial;    /* an unfinished download (not a usable model) */
    bool valid;      /* opened as a GGUF file (false for partial files) */
    char types[192]; /* tensor type mix by bytes, largest first:
                        "Q4_K 169, Q6_K 25, F32 65"; the reason when !valid */
} tk_hub_entry;

/* Lists the store's *.gguf and *.gguf.partial files, sorted by name.
 * *out is allocated (free with free()); a store that does not exist yet is
 * an empty list, not an error. */
tk_status tk_hub_list(const char *store_dir, tk_hub_entry **out, size_t *n);

/* Finds a model in the store by file name ("x.gguf"), name without the
 * extension ("x"), or catalogue alias; case-insensitive. Never a partial
 * file. TK_ERR_NOT_FOUND when absent. */
tk_status tk_hub_find(const char *store_dir, const char *name, char *out, size_t size);

/* Removes a model from the store, and its partial download if any. `name`
 * is a file name, a name without ".gguf", or an alias; names with path
 * separators or "..", or that resolve outside the store, are refused
 * (TK_ERR_INVALID_ARG). A partial download alone is removed too. Writes the
 * path removed into `removed` (may be NULL). */
tk_status tk_hub_remove(const char *store_dir, const char *name, char *removed, size_t size);

/* Resolves what the user gave as a model (-m NAME, TEKTRA_MODEL, [model]
 * path) to a file path, in this order: an existing file wins; else a model in
 * the store (tk_hub_find) — "hf:OWNER/REPO/FILE" and URLs are looked up by
 * their file name. Otherwise TK_ERR_NOT_FOUND with a message saying where it
 * looked, and "tektra pull NAME" when NAME is a catalogue alias. The store
 * is the one of tk_hub_store_dir(cfg, p, NULL, NULL). */
tk_status tk_hub_resolve(const tk_config *cfg, const tk_platform *p, const char *name_or_path,
                         char *out, size_t size);

/* The few lines that tell a new user how to get a model: what was looked for
 * (`looked_for`, may be NULL or "") and where, the models already in the
 * store, the recommended "tektra pull ALIAS" for this machine with its size,
 * and how to point tektra at a file (-m PATH, TEKTRA_MODEL, [model] path).
 * Writes at most `size` bytes (NUL-terminated) and returns the length the
 * whole text needs, like snprintf. Never downloads. */
size_t tk_hub_help_text(const tk_config *cfg, const tk_platform *p, const char *looked_for,
                        char *buf, size_t size);

/* ---- downloads ---------------------------------------------------------- */

/* Where a pull comes from. */
typedef struct tk_hub_source {
    char url[2048];            /* what is requested */
    char file[256];            /* the file name in the store */
    char repo[256];            /* "OWNER/REPO" for catalogue and hf: sources, else "" */
    bool huggingface;          /* the URL is on the Hugging Face endpoint: HF_TOKEN is sent */
    uint64_t size;             /* expected size, 0 when unknown */
    char sha256[65];           /* expected SHA-256 (lowercase hex), "" when unknown */
    const tk_hub_model *model; /* the catalogue entry, or NULL */
} tk_hub_source;

/* Parses what `tektra pull` takes:
 *   ALIAS                  a catalogue alias (tk_hub_find_alias)
 *   hf:OWNER/REPO/FILE     a file of a Hugging Face repository (FILE may
 *                          contain '/'; the store name is its last part)
 *   https://... http://... any URL; the store name is the last path segment
 * Hugging Face URLs are <endpoint>/<repo>/resolve/main/<file>, where the
 * endpoint is $HF_ENDPOINT (read through `get`, getenv when NULL) or
 * https://huggingface.co. An hf: spec naming a catalogue file takes its
 * size and hash. Store names are checked: no path separators, no leading
 * '.', ".gguf" appended when missing. */
tk_status tk_hub_source_parse(const char *spec, tk_getenv_fn get, void *user, tk_hub_source *out);

/* Progress of a download, as reported to a tk_hub_progress_fn. */
typedef struct tk_hub_progress {
    const char *file; /* store name being downloaded (borrowed) */
    uint64_t done;    /* bytes of the file so far, resumed bytes included */
    uint64_t total;   /* final size, 0 when unknown */
    uint64_t resumed; /* bytes that were already there when this transfer began */
    bool restarted;   /* the server ignored the resume request: started over */
    double elapsed;   /* seconds since this transfer began */
    double rate;      /* bytes per second over this transfer, 0 until measurable */
    bool finished;    /* the last call of this transfer */
} tk_hub_progress;

typedef void (*tk_hub_progress_fn)(const tk_hub_progress *pr, void *user);

typedef struct tk_hub_pull_params {
    const char *sha256;          /* expected SHA-256 (hex); replaces the catalogue's hash
                                    and size check; NULL = the source's own */
    bool force;                  /* download even when the store has the file */
    tk_hub_progress_fn progress; /* may be NULL */
    void *progress_user;
    double progress_interval; /* seconds between progress calls (0.25) */
    long connect_timeout;     /* seconds to connect (30) */
    long low_speed_time;      /* give up after this many seconds ... (60) */
    long low_speed_limit;     /* ... below this many bytes per second (1024) */
    long max_redirects;       /* (10) */
    tk_getenv_fn getenv;      /* HF_ENDPOINT, HF_TOKEN; getenv when NULL */
    void *getenv_user;
} tk_hub_pull_params;

void tk_hub_pull_params_default(tk_hub_pull_params *p);

typedef struct tk_hub_pull_result {
    char path[1280];      /* the model in the store */
    uint64_t size;        /* bytes */
    char sha256[65];      /* the file's SHA-256, "" when already_present */
    bool verified;        /* the SHA-256 matched an expected one */
    bool already_present; /* nothing was downloaded */
    bool resumed;         /* a partial download was continued */
} tk_hub_pull_result;

/* Downloads `spec` (see tk_hub_source_parse) into `store_dir` (created when
 * missing). When the store already has the file and !force, returns TK_OK
 * with already_present and touches no network. Otherwise:
 *  - continues "<file>.partial" with an HTTP Range request when it exists
 *    (from zero when the server answers 200 instead of 206);
 *  - checks free disk space when the size is known;
 *  - follows redirects (max_redirects), times out on connect and on a stalled
 *    transfer (no total time limit);
 *  - checks the GGUF magic and, when known, the size and SHA-256 before the
 *    rename; a corrupt file is deleted.
 * Errors: TK_ERR_NETWORK (cannot resolve/connect: names the host; dropped
 * connection: the partial file is kept for resuming; timeouts; 401/403:
 * explains gated repositories and HF_TOKEN), TK_ERR_NOT_FOUND (404, names
 * the URL), TK_ERR_CHECKSUM (hash or size mismatch), TK_ERR_FORMAT (not a
 * GGUF file), TK_ERR_IO (disk full, permissions), TK_ERR_LIMIT (another
 * pull of the same file is running). `out` may be NULL. */
tk_status tk_hub_pull(const char *store_dir, const char *spec, const tk_hub_pull_params *params,
                      tk_hub_pull_result *out);

/* Formats a size in decimal units as Hugging Face shows them: "531 MB",
 * "1.32 GB", "812 kB", "96 B". Returns buf. */
char *tk_hub_format_size(uint64_t bytes, char *buf, size_t size);

/* Formats a progress report. `tty`: a single line for redrawing in place
 * with '\r', at most `width` columns, with a bar; otherwise a plain line for
 * logs. Neither has a newline. Returns buf. */
char *tk_hub_progress_format(const tk_hub_progress *pr, bool tty, int width, char *buf,
                             size_t size);

#ifdef __cplusplus
}
#endif
#endif
