/* Status list, error messages, utilities. */
#include "check.h"
#include "core/core.h"
#include "tektra.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* core_atomic_*: a commit replaces the target whole; a failed write leaves
 * the old file and no temporary file behind. */
static void test_atomic_file(void)
{
    char dir[] = "/tmp/tk_core_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64], tmp[96];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());

    core_atomic_file af;
    CHECK_INT(core_atomic_open(&af, path), TK_OK);
    CHECK(access(tmp, F_OK) == 0);
    CHECK(core_write_all(af.f, "old", 3));
    CHECK_INT(core_atomic_commit(&af, true), TK_OK);
    CHECK(access(tmp, F_OK) != 0);

    CHECK_INT(core_atomic_open(&af, path), TK_OK);
    CHECK(core_write_all(af.f, "new!", 4));
    errno = ENOSPC;
    CHECK_INT(core_atomic_commit(&af, false), TK_ERR_IO);
    CHECK_CONTAINS(tk_last_error(), "out.bin: write failed");
    CHECK(access(tmp, F_OK) != 0);

    char *data;
    size_t len;
    CHECK_INT(core_read_file(path, 100, &data, &len), TK_OK);
    CHECK_STR(data, "old");
    free(data);

    char missing[96];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x", dir);
    CHECK_INT(core_atomic_open(&af, missing), TK_ERR_IO);
    CHECK_CONTAINS(tk_last_error(), "cannot create");

    remove(path);
    rmdir(dir);
}

int main(void)
{
    CHECK_STR(tk_status_str(TK_OK), "ok");
    CHECK_STR(tk_status_str(TK_ERR_FORMAT), "malformed input");
    CHECK_STR(tk_status_str((tk_status)-1), "unknown status");
    CHECK_STR(tk_status_str(TK_STATUS_COUNT_), "unknown status");
    for (int s = 0; s < TK_STATUS_COUNT_; s++) CHECK(strlen(tk_status_str((tk_status)s)) > 0);

    CHECK_INT(core_error(TK_ERR_IO, "file %s at 0x%x", "a.gguf", 16), TK_ERR_IO);
    CHECK_STR(tk_last_error(), "file a.gguf at 0x10");
    core_error_prefix("loading %s", "m");
    CHECK_STR(tk_last_error(), "loading m: file a.gguf at 0x10");

    char buf[4];
    CHECK_STR(core_strlcpy(buf, "abcdef", sizeof buf), "abc");
    CHECK(core_strcasecmp("GGUF", "gguf") == 0);
    CHECK(core_strcasecmp("gguf", "mlx") != 0);

    uint64_t r;
    CHECK(!core_mul_u64(UINT64_MAX / 2, 3, &r));
    CHECK(core_mul_u64(1u << 20, 1u << 20, &r) && r == (1ull << 40));
    CHECK(core_calloc(SIZE_MAX / 2, 4) == NULL);

    char *data;
    size_t len;
    CHECK_INT(core_read_file("/nonexistent/x", 100, &data, &len), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "/nonexistent/x");
    CHECK_STR(tk_version(), TEKTRA_VERSION);
    test_atomic_file();
    return check_summary();
}
