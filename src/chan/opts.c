/* Channel options: typed setters and the URL query string. */
#include "chan_int.h"

#include <stdlib.h>
#include <string.h>

void ik__opts_default(struct ik_chan_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_msg = IK_CHAN_MAX_MSG_DEFAULT;
    o->timeout_ms = 10000;
    o->verify = 1;
    o->backlog = 128;
    o->max_conns = 256;
    o->hs_timeout_ms = 10000;
}

int ik_chan_opts_new(ik_chan_opts **out)
{
    if (out == NULL)
        return IK_EINVAL;
    *out = malloc(sizeof(**out));
    if (*out == NULL)
        return IK_ENOMEM;
    ik__opts_default(*out);
    return 0;
}

void ik_chan_opts_free(ik_chan_opts *o)
{
    free(o);
}

int ik_chan_opts_set_max_msg(ik_chan_opts *o, uint64_t bytes)
{
    if (o == NULL || bytes > IK_CHAN_MAX_MSG_LIMIT)
        return IK_EINVAL;
    o->max_msg = bytes;
    return 0;
}

int ik_chan_opts_set_timeout(ik_chan_opts *o, int ms)
{
    if (o == NULL || ms < -1)
        return IK_EINVAL;
    o->timeout_ms = ms;
    return 0;
}

int ik_chan_opts_set_raw(ik_chan_opts *o, int on)
{
    if (o == NULL || (on != 0 && on != 1))
        return IK_EINVAL;
    o->raw = on;
    return 0;
}

int ik_chan_opts_set_fds(ik_chan_opts *o, int on)
{
    if (o == NULL || (on != 0 && on != 1))
        return IK_EINVAL;
    o->fds = on;
    return 0;
}

static int set_path(char *dst, const char *src)
{
    if (src == NULL) {
        dst[0] = '\0';
        return 0;
    }
    size_t n = strnlen(src, PATH_MAX);
    if (n == 0 || n >= PATH_MAX)
        return IK_EINVAL;
    memcpy(dst, src, n + 1);
    return 0;
}

int ik_chan_opts_set_tls_files(ik_chan_opts *o, const char *ca, const char *cert, const char *key)
{
    if (o == NULL || (cert == NULL) != (key == NULL))
        return IK_EINVAL;
    int rc = set_path(o->ca, ca);
    if (rc == 0)
        rc = set_path(o->cert, cert);
    if (rc == 0)
        rc = set_path(o->key, key);
    return rc;
}

int ik_chan_opts_set_verify(ik_chan_opts *o, int on)
{
    if (o == NULL || (on != 0 && on != 1))
        return IK_EINVAL;
    o->verify = on;
    return 0;
}

int ik_chan_opts_set_tls12(ik_chan_opts *o, int on)
{
    if (o == NULL || (on != 0 && on != 1))
        return IK_EINVAL;
    o->tls12 = on;
    return 0;
}

int ik_chan_opts_set_limits(ik_chan_opts *o, int max_conns, int handshake_ms)
{
    if (o == NULL || max_conns < 1 || max_conns > 65536 || handshake_ms < 1)
        return IK_EINVAL;
    o->max_conns = max_conns;
    o->hs_timeout_ms = handshake_ms;
    return 0;
}

int ik_chan_opts_allow_uid(ik_chan_opts *o, uid_t uid)
{
    if (o == NULL || o->n_uid >= IK__ALLOW_MAX || uid == (uid_t)-1)
        return IK_EINVAL; /* -1 stands for "no credentials" at accept */
    o->allow_uid[o->n_uid++] = uid;
    return 0;
}

int ik_chan_opts_allow_gid(ik_chan_opts *o, gid_t gid)
{
    if (o == NULL || o->n_gid >= IK__ALLOW_MAX || gid == (gid_t)-1)
        return IK_EINVAL;
    o->allow_gid[o->n_gid++] = gid;
    return 0;
}

/* Strict decimal in [lo, hi]. */
static int parse_num(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
    if (n == 0 || n > 19)
        return IK_EINVAL;
    int neg = 0;
    size_t i = 0;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return IK_EINVAL;
    }
    int64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return IK_EINVAL;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return IK_EINVAL; /* 19 digits can exceed INT64_MAX */
        v = v * 10 + (s[i] - '0');
    }
    if (neg)
        v = -v;
    if (v < lo || v > hi)
        return IK_EINVAL;
    *out = v;
    return 0;
}

static int key_is(const char *k, size_t kn, const char *want)
{
    return strlen(want) == kn && memcmp(k, want, kn) == 0;
}

static int apply(ik_chan_opts *o, const char *k, size_t kn, const char *v, size_t vn)
{
    int64_t x = 0;
    char path[PATH_MAX];
    if (key_is(k, kn, "ca") || key_is(k, kn, "cert") || key_is(k, kn, "key")) {
        if (vn == 0 || vn >= sizeof(path))
            return IK_EINVAL;
        memcpy(path, v, vn);
        path[vn] = '\0';
        char *dst = key_is(k, kn, "ca") ? o->ca : key_is(k, kn, "cert") ? o->cert : o->key;
        memcpy(dst, path, vn + 1);
        return 0;
    }
    if (key_is(k, kn, "max_msg")) {
        if (parse_num(v, vn, 0, (int64_t)IK_CHAN_MAX_MSG_LIMIT, &x) != 0)
            return IK_EINVAL;
        o->max_msg = (uint64_t)x;
    } else if (key_is(k, kn, "timeout")) {
        if (parse_num(v, vn, -1, INT32_MAX, &x) != 0)
            return IK_EINVAL;
        o->timeout_ms = (int)x;
    } else if (key_is(k, kn, "raw") || key_is(k, kn, "verify") || key_is(k, kn, "tls12") ||
               key_is(k, kn, "fds")) {
        if (parse_num(v, vn, 0, 1, &x) != 0)
            return IK_EINVAL;
        int *dst = key_is(k, kn, "raw")      ? &o->raw
                   : key_is(k, kn, "verify") ? &o->verify
                   : key_is(k, kn, "fds")    ? &o->fds
                                             : &o->tls12;
        *dst = (int)x;
    } else if (key_is(k, kn, "backlog")) {
        if (parse_num(v, vn, 1, 65535, &x) != 0)
            return IK_EINVAL;
        o->backlog = (int)x;
    } else if (key_is(k, kn, "max_conns")) {
        if (parse_num(v, vn, 1, 65536, &x) != 0)
            return IK_EINVAL;
        o->max_conns = (int)x;
    } else if (key_is(k, kn, "hs_timeout")) {
        if (parse_num(v, vn, 1, INT32_MAX, &x) != 0)
            return IK_EINVAL;
        o->hs_timeout_ms = (int)x;
    } else if (key_is(k, kn, "allow_uid")) {
        if (parse_num(v, vn, 0, UINT32_MAX - 1, &x) != 0)
            return IK_EINVAL;
        return ik_chan_opts_allow_uid(o, (uid_t)x);
    } else if (key_is(k, kn, "allow_gid")) {
        if (parse_num(v, vn, 0, UINT32_MAX - 1, &x) != 0)
            return IK_EINVAL;
        return ik_chan_opts_allow_gid(o, (gid_t)x);
    } else {
        return IK_EINVAL;
    }
    return 0;
}

int ik_chan_opts_parse(ik_chan_opts *o, const char *query)
{
    if (o == NULL || query == NULL)
        return IK_EINVAL;
    size_t len = strnlen(query, IK__URL_MAX + 1);
    if (len > IK__URL_MAX)
        return IK_EINVAL;
    const char *p = query, *end = query + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq == NULL || eq == p)
            return IK_EINVAL;
        int rc = apply(o, p, (size_t)(eq - p), eq + 1, (size_t)(e - eq - 1));
        if (rc != 0)
            return rc;
        p = amp ? amp + 1 : end;
        if (amp != NULL && p == end)
            return IK_EINVAL; /* trailing '&' */
    }
    return 0;
}
