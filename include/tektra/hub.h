/* tektra hub: getting a model.
 *
 * A local model store (one directory holding GGUF files and model
 * directories), a built-in catalogue of real models on Hugging Face known by
 * short aliases ("qwen2.5-0.5b", "llama3.2-1b:q8_0", "qwen2.5-7b-mlx"),
 * downloads with resume and verification, and name resolution so that a
 * model can be given as a path, a name in the store or an alias.
 *
 * A model directory is a Hugging Face repository in the transformers / MLX
 * layout: config.json, model.safetensors (or shards and
 * model.safetensors.index.json), tokenizer.json, tokenizer_config.json and
 * friends, all at the top level.
 *
 * The store never holds a partial or unverified model under a model's name:
 * a file is written to "<name>.partial" and renamed only once complete,
 * checked to be GGUF and, where the SHA-256 is known, verified; a directory
 * is assembled in ".<name>.partial/" and renamed as a whole once every file
 * in it is complete and verified. Nothing here downloads unless tk_hub_pull()
 * is called.
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

/* What a model in the store, or a catalogue entry, is. */
typedef enum tk_hub_kind {
    TK_HUB_KIND_GGUF, /* one GGUF file */
    TK_HUB_KIND_DIR,  /* a model directory (safetensors + config.json, Hugging Face / MLX layout) */
} tk_hub_kind;

/* A catalogue entry: one GGUF file of one Hugging Face repository, or a
 * whole repository as a model directory (kind TK_HUB_KIND_DIR). All strings
 * are static. */
typedef struct tk_hub_model {
    const char *alias;    /* "qwen2.5-0.5b" (the family's default quant) or
                             "qwen2.5-0.5b:q8_0" */
    const char *family;   /* "qwen2.5-0.5b": the alias without the quant */
    const char *quant;    /* "Q4_K_M", "Q8_0" */
    bool is_default;      /* the quant chosen when the alias names no quant */
    const char *title;    /* "Qwen2.5 0.5B Instruct" */
    const char *repo;     /* "bartowski/Qwen2.5-0.5B-Instruct-GGUF" */
    const char *file;     /* "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", the name in the store;
                             for a directory the repository's name ("gemma-2b-it-4bit") */
    uint64_t size;        /* exact bytes (a directory: of all its files), 0 when not confirmed */
    uint64_t size_approx; /* bytes as the model page rounds them (for messages
                             and the disk-space check), 0 when unknown */
    const char *sha256;   /* 64 lowercase hex digits, "" when not confirmed (a
                             directory: always "", its files' digests come from
                             the repository listing) */
    tk_hub_kind kind;     /* TK_HUB_KIND_GGUF unless stated */
} tk_hub_model;

/* Entries 0 .. tk_hub_catalogue_count()-1; NULL when out of range. */
int tk_hub_catalogue_count(void);
const tk_hub_model *tk_hub_catalogue_at(int i);

/* Finds an alias, case-insensitively: "FAMILY" gives the family's default
 * quant, "FAMILY:QUANT" that quant ("qwen2.5-0.5b:q8_0"). ollama's
 * NAME:TAG names work too: "qwen2.5:0.5b" is qwen2.5-0.5b,
 * "llama3.2:1b-instruct-q8_0" is llama3.2-1b:q8_0, "tinyllama:latest" is
 * tinyllama. NULL when unknown. */
const tk_hub_model *tk_hub_find_alias(const char *name);

/* The catalogue entries closest to a name that is not an alias, at most
 * `max` into out[] in catalogue order: every size of a family given
 * without one ("llama3.2"), every quant of a family named right with a
 * quant it lacks, else the closest families a typo or two away
 * ("lama3.2-1b"). Returns how many (0 when nothing is close). */
int tk_hub_suggest(const char *name, const tk_hub_model **out, int max);

/* The catalogue entry whose file name is `file` (case-insensitive), or NULL. */
const tk_hub_model *tk_hub_find_file(const char *file);

/* The entry that fits a machine with `p->ram_total` bytes of memory:
 *   unknown (0) or < 4 GiB -> qwen2.5-0.5b   (about 0.4 GB)
 *   < 8 GiB                -> qwen2.5-1.5b   (about 1.0 GB)
 *   < 16 GiB               -> llama3.2-3b    (about 2.0 GB)
 *   otherwise              -> qwen2.5-7b     (about 4.7 GB)
 * On Apple Silicon (`p->apple_silicon`), where MLX runs, the MLX directories
 * take the two upper rows:
 *   8 GiB .. < 16 GiB      -> gemma-2b-it-mlx  (2.5B parameters, 4-bit)
 *   16 GiB or more         -> qwen2.5-7b-mlx   (7.6B parameters, 4-bit)
 * The weights take about a quarter of RAM or less, which leaves room for the
 * KV cache, the operating system and other programs. Never NULL. */
const tk_hub_model *tk_hub_recommend(const tk_platform *p);

/* With the memory bandwidth measured (p->mem_bandwidth, see
 * tk_platform_measure_quick) and no MLX, speed decides instead: the largest
 * default GGUF file of known size that fits in a quarter of the memory and
 * is expected to generate at least TK_HUB_COMFORTABLE_TPS tokens/s; the
 * smallest file when none is. */
#define TK_HUB_COMFORTABLE_TPS 10.0

/* The tokens/s `m` is expected to generate on `p` (from p->mem_bandwidth and
 * the file's size); 0 when that cannot be told. */
double tk_hub_expected_tps(const tk_platform *p, const tk_hub_model *m);

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

/* A model of the store: a GGUF file or a model directory. */
typedef struct tk_hub_entry {
    char name[256];   /* name in the store: "X.gguf", "X.gguf.partial", a directory "X",
                         or an unfinished directory ".X.partial" */
    char alias[64];   /* catalogue alias of this model, "" when none */
    char path[1280];  /* full path */
    uint64_t size;    /* bytes on disk (a directory: the sum of its files) */
    tk_hub_kind kind; /* file or directory */
    bool partial;     /* an unfinished download (not a usable model) */
    bool valid;       /* a GGUF file that opened, or a directory with config.json or
                         tokenizer.json; false for partial downloads */
    char types[192];  /* a file: the tensor type mix by bytes, largest first,
                         "Q4_K 169, Q6_K 25, F32 65"; a directory: its kind,
                         "MLX dir, 4-bit, qwen2" or "safetensors dir, llama";
                         the reason when !valid */
} tk_hub_entry;

/* Lists the store's *.gguf and *.gguf.partial files, then its model
 * directories and unfinished directory downloads (".X.partial/"), each group
 * sorted by name: a caller that takes the first valid entry gets a GGUF file
 * when there is one. Other directories and files are left out; a symbolic
 * link counts as what it points to. *out is allocated (free with free()); a
 * store that does not exist yet is an empty list, not an error. */
tk_status tk_hub_list(const char *store_dir, tk_hub_entry **out, size_t *n);

/* Finds a model in the store by file name ("x.gguf"), name without the
 * extension ("x"), directory name ("Qwen2.5-7B-Instruct-4bit"), or catalogue
 * alias; case-insensitive. A directory counts only when it looks like a model
 * directory (config.json or tokenizer.json in it). Never a partial download.
 * TK_ERR_NOT_FOUND when absent. */
tk_status tk_hub_find(const char *store_dir, const char *name, char *out, size_t size);

/* Removes a model from the store, and its partial download if any. `name`
 * is a file name, a name without ".gguf", a directory name, or an alias;
 * names with path separators or "..", or that resolve outside the store, are
 * refused (TK_ERR_INVALID_ARG). A directory is removed with everything in it
 * only when it is a model directory (config.json or tokenizer.json at its
 * top); it is first renamed to a hidden name, so an interrupted removal
 * never leaves a half model under the model's name, and symbolic links in
 * it are removed, never followed. A symbolic link in the store is removed
 * itself, never what it points to. Anything else in the store is refused
 * (TK_ERR_INVALID_ARG). A partial download alone is removed too. Writes the
 * path removed into `removed` (may be NULL). */
tk_status tk_hub_remove(const char *store_dir, const char *name, char *removed, size_t size);

/* Resolves what the user gave as a model (-m NAME, TEKTRA_MODEL, [model]
 * path) to a path, in this order: an existing file wins, and so does an
 * existing directory that looks like a model directory (config.json, or
 * tokenizer.json for tokenizer-only use); else a model in the store
 * (tk_hub_find) — "hf:OWNER/REPO/FILE" and URLs are looked up by their file
 * name, "hf:OWNER/REPO" and "OWNER/REPO" by the repository's name. Other
 * directories are refused (TK_ERR_INVALID_ARG, saying what a model directory
 * holds). Otherwise TK_ERR_NOT_FOUND with a message saying where it looked,
 * and "tektra pull NAME" when NAME is a catalogue alias or a repository. The
 * store is the one of tk_hub_store_dir(cfg, p, NULL, NULL). */
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
    char url[2048];            /* what is requested (a directory: the repository's file
                                  listing, <endpoint>/api/models/OWNER/REPO/tree/main) */
    char file[256];            /* the name in the store (a directory: the repository's name) */
    char repo[256];            /* "OWNER/REPO" for catalogue and hf: sources, else "" */
    bool directory;            /* the whole repository, as a model directory */
    bool huggingface;          /* the URL is on the Hugging Face endpoint: HF_TOKEN is sent */
    uint64_t size;             /* expected size, 0 when unknown */
    char sha256[65];           /* expected SHA-256 (lowercase hex), "" when unknown */
    const tk_hub_model *model; /* the catalogue entry, or NULL */
} tk_hub_source;

/* Parses what `tektra pull` takes:
 *   ALIAS                  a catalogue alias (tk_hub_find_alias)
 *   hf:OWNER/REPO/FILE     a file of a Hugging Face repository (FILE may
 *                          contain '/'; the store name is its last part)
 *   hf:OWNER/REPO          a whole repository as a model directory (the
 *   OWNER/REPO             store name is REPO), e.g. mlx-community/NAME
 *   https://... http://... any URL; the store name is the last path segment
 * Hugging Face URLs are <endpoint>/<repo>/resolve/main/<file>, where the
 * endpoint is $HF_ENDPOINT (read through `get`, getenv when NULL) or
 * https://huggingface.co. An hf: spec naming a catalogue file takes its
 * size and hash. Store names are checked: no path separators, no leading
 * '.', ".gguf" appended to file names when missing; a directory's name must
 * not end in ".gguf" or ".partial". */
tk_status tk_hub_source_parse(const char *spec, tk_getenv_fn get, void *user, tk_hub_source *out);

/* Progress of a download, as reported to a tk_hub_progress_fn. */
typedef struct tk_hub_progress {
    const char *file; /* store name being downloaded (borrowed); for a directory
                         its name, and the counts below are of all its files */
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
                                    and size check; NULL = the source's own. Single
                                    files only: refused for a directory */
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
    uint64_t size;        /* bytes (a directory: of all its files) */
    char sha256[65];      /* the file's SHA-256, "" when already_present or a directory */
    bool verified;        /* the SHA-256 matched an expected one (a directory: every
                             file the listing gives a SHA-256 for matched it) */
    bool already_present; /* nothing was downloaded */
    bool resumed;         /* a partial download was continued */
    bool directory;       /* the model is a directory */
    int n_files;          /* a directory: files in it */
    int n_verified;       /* a directory: files checked against a SHA-256; the others
                             are checked by size only */
} tk_hub_pull_result;

/* Downloads `spec` (see tk_hub_source_parse) into `store_dir` (created when
 * missing). When the store already has the model and !force, returns TK_OK
 * with already_present and touches no network. A repository (a directory
 * source) is listed first (the top-level files of the main branch); it must
 * have config.json and *.safetensors (else TK_ERR_FORMAT, naming a GGUF file
 * to pull instead when it has some), and only the files a model needs are
 * fetched: config.json, generation_config.json, *.safetensors,
 * model.safetensors.index.json, tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json, chat_template.jinja, chat_template.json. Each
 * file is fetched like a single file below (resume, size and, where the
 * listing gives one, SHA-256 checks) into ".<name>.partial/", which is locked
 * while in use and renamed to <name> once all are complete; the disk-space
 * check covers the sum of the sizes, and progress reports count all files
 * together. For each file (or the one file):
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
 * the URL; for a repository: no such repository), TK_ERR_CHECKSUM (hash or
 * size mismatch; a directory is then not renamed into place), TK_ERR_FORMAT
 * (not a GGUF file; a repository that is not a model directory),
 * TK_ERR_IO (disk full, permissions), TK_ERR_LIMIT (another pull of the
 * same model is running). `out` may be NULL. */
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
