/* URL parser for channel endpoints: scheme:[//authority-or-path][?query]. */
#include "chan_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int is_scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

/* Copy [s, s+n) into dst (cap bytes) or fail. */
static int copy_part(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return IK_EINVAL;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static int v6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
           c == '.';
}

/* Split "host:port" / "[v6]:port"; leaves host/port empty if it does not fit
 * that shape (a NAME or path). Returns IK_EINVAL for a malformed bracket. */
static int split_host_port(struct ik__url *u, const char *a, size_t n)
{
    const char *colon;
    size_t hlen;
    const char *h = a;
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (close == NULL || close == a + 1)
            return IK_EINVAL;
        for (const char *p = a + 1; p < close; p++)
            if (!v6_char(*p))
                return IK_EINVAL;
        if ((size_t)(close - a) + 1 >= n || close[1] != ':')
            return IK_EINVAL;
        h = a + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = memchr(a, ':', n);
        if (colon == NULL)
            return 0;
        hlen = (size_t)(colon - a);
        if (hlen == 0)
            return IK_EINVAL;
        for (const char *p = a; p < colon; p++)
            if (!host_char(*p))
                return IK_EINVAL;
    }
    const char *port = colon + 1;
    size_t plen = (size_t)(a + n - port);
    if (plen == 0 || plen > 5)
        return IK_EINVAL;
    unsigned long v = 0;
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9')
            return IK_EINVAL;
        v = v * 10 + (unsigned long)(port[i] - '0');
    }
    if (v > 65535)
        return IK_EINVAL;
    if (copy_part(u->host, sizeof(u->host), h, hlen) != 0)
        return IK_EINVAL;
    return copy_part(u->port, sizeof(u->port), port, plen);
}

int ik__url_parse(struct ik__url *u, const char *url)
{
    if (u == NULL || url == NULL)
        return IK_EINVAL;
    memset(u, 0, sizeof(*u));
    size_t len = strnlen(url, IK__URL_MAX + 1);
    if (len == 0 || len > IK__URL_MAX)
        return IK_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return IK_EINVAL;
    }
    const char *colon = memchr(url, ':', len);
    if (colon == NULL || colon == url)
        return IK_EINVAL;
    if (!(url[0] >= 'a' && url[0] <= 'z'))
        return IK_EINVAL;
    for (const char *p = url; p < colon; p++)
        if (!is_scheme_char(*p))
            return IK_EINVAL;
    if (copy_part(u->scheme, sizeof(u->scheme), url, (size_t)(colon - url)) != 0)
        return IK_EINVAL;
    const char *rest = colon + 1;
    const char *end = url + len;
    const char *q = memchr(rest, '?', (size_t)(end - rest));
    const char *body_end = q ? q : end;
    if (q != NULL && copy_part(u->query, sizeof(u->query), q + 1, (size_t)(end - q - 1)) != 0)
        return IK_EINVAL;
    if (body_end - rest == 0)
        return 0; /* "pipe:" */
    if (body_end - rest < 2 || rest[0] != '/' || rest[1] != '/')
        return IK_EINVAL;
    const char *a = rest + 2;
    size_t n = (size_t)(body_end - a);
    if (n == 0)
        return 0; /* "pipe://" */
    if (copy_part(u->name, sizeof(u->name), a, n) != 0)
        return IK_EINVAL;
    if (a[0] == '/') {
        /* Absolute path: no "..", no empty components at the end. */
        if (n < 2 || a[n - 1] == '/')
            return IK_EINVAL;
        if (strstr(u->name, "/../") != NULL || strstr(u->name, "//") != NULL ||
            (n >= 3 && memcmp(a + n - 3, "/..", 3) == 0))
            return IK_EINVAL;
        return 0;
    }
    if (memchr(a, '/', n) != NULL)
        return IK_EINVAL; /* relative paths are not allowed */
    return split_host_port(u, a, n);
}

int ik__url_fs_path(const struct ik__url *u, const char *suffix, size_t leaf_extra, char *out,
                    size_t cap)
{
    if (u->name[0] == '/') {
        if ((size_t)snprintf(out, cap, "%s", u->name) >= cap)
            return IK_ENAMETOOLONG;
        return 0;
    }
    int rc = ik_name_check(u->name);
    if (rc != 0)
        return rc;
    /* Every file made of the name is itself a valid object name, so that
     * ipckit ls / rm / gc see it. */
    if (strlen(u->name) + leaf_extra > IK_NAME_MAX)
        return IK_ENAMETOOLONG;
    char dir[PATH_MAX];
    int dfd = ik__runtime_dir_open(dir, sizeof(dir), true);
    if (dfd < 0)
        return dfd;
    close(dfd);
    if ((size_t)snprintf(out, cap, "%s/%s%s", dir, u->name, suffix) >= cap)
        return IK_ENAMETOOLONG;
    return 0;
}
