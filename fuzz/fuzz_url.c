/* Channel URLs and query options come from users and config files: the
 * parser must reject malformed input with IK_EINVAL, never crash or read
 * past the end. */
#include "chan/chan_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * IK__URL_MAX)
        return 0;
    /* Exactly size bytes + NUL, so ASan sees any over-read. */
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct ik__url u;
    int rc = ik__url_parse(&u, s);
    if (rc == 0) {
        /* Results are NUL-terminated and within their fields. */
        if (strlen(u.scheme) >= sizeof(u.scheme) || strlen(u.name) >= sizeof(u.name) ||
            strlen(u.query) >= sizeof(u.query) || strlen(u.host) >= sizeof(u.host))
            abort();
        struct ik_chan_opts o;
        ik__opts_default(&o);
        (void)ik_chan_opts_parse(&o, u.query);
        if (o.max_msg > IK_CHAN_MAX_MSG_LIMIT)
            abort();
    } else if (rc != IK_EINVAL) {
        abort();
    }
    struct ik_chan_opts o;
    ik__opts_default(&o);
    (void)ik_chan_opts_parse(&o, s);
    free(s);
    return 0;
}
