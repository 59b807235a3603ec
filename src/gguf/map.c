/* Read-only file mapping for the GGUF reader (the OS layer's os_map_file:
 * mmap, or MapViewOfFile on Windows). The reader never writes to the
 * mapping; weights are used in place from it. */
#include "gguf/gguf.h"

#include "core/os.h"

#include <errno.h>
#include <string.h>

tk_status gguf_map_file(const char *path, gguf_map *m)
{
    memset(m, 0, sizeof *m);
    os_map om;
    if (!os_map_file(path, &om)) {
        int e = errno;
        if (e == ENOENT) return core_error(TK_ERR_NOT_FOUND, "%s: %s", path, strerror(e));
        if (e == EINVAL) return core_error(TK_ERR_IO, "%s: not a regular file", path);
        if (e == EFBIG)
            return core_error(TK_ERR_LIMIT, "%s: too large to map on this system", path);
        return core_error(TK_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    }
    if (om.size == 0) return core_error(TK_ERR_FORMAT, "%s: empty file", path);
    m->data = om.data;
    m->size = om.size;
    m->handle = om.handle;
    return TK_OK;
}

void gguf_unmap(gguf_map *m)
{
    os_map om = {m->data, m->size, m->handle};
    os_unmap(&om);
    memset(m, 0, sizeof *m);
}
