/* Object registry: list, remove and garbage-collect named ipckit objects
 * through provider ops tables (see reg.h and docs/registry.md). */
#include "reg.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every object family ipckit creates. A new family adds one line here. */
const struct ik__reg_provider *const ik__reg_providers[] = {
    &ik__reg_prov_seg,
    &ik__reg_prov_rundir,
    NULL,
};

bool ik__reg_match(const struct ik__reg *reg, const char *name)
{
    if (reg->prefix == NULL)
        return true;
    if (reg->flags & IK_OBJ_EXACT)
        return strcmp(name, reg->prefix) == 0;
    return strncmp(name, reg->prefix, strlen(reg->prefix)) == 0;
}

bool ik__reg_owner_ok(const struct ik__reg *reg, uid_t uid)
{
    return uid == reg->euid || (reg->flags & IK_OBJ_ALL_USERS);
}

static char *join(const char *dir, const char *leaf)
{
    size_t a = strlen(dir), b = strlen(leaf);
    char *p = malloc(a + b + 2);
    if (p != NULL) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, leaf, b + 1);
    }
    return p;
}

static void obj_free(struct ik__reg_obj *o)
{
    free(o->dir);
    free(o->leaf);
    free(o->path);
    free(o->qleaf);
}

struct ik__reg_obj *ik__reg_add(struct ik__reg *reg, const struct ik__reg_provider *prov,
                                const char *dir, const char *leaf, const char *name,
                                const struct stat *st)
{
    if (strlen(name) > IK_NAME_MAX)
        return NULL;
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 32;
        void *p = realloc(reg->objs, cap * sizeof(*reg->objs));
        if (p == NULL)
            return NULL;
        reg->objs = p;
        reg->cap = cap;
    }
    struct ik__reg_obj *o = &reg->objs[reg->n];
    memset(o, 0, sizeof(*o));
    o->prov = prov;
    o->dir = strdup(dir);
    o->leaf = strdup(leaf);
    o->path = join(dir, leaf);
    if (o->dir == NULL || o->leaf == NULL || o->path == NULL) {
        obj_free(o);
        return NULL;
    }
    strcpy(o->name, name);
    strcpy(o->kind, "?");
    strcpy(o->status, "ok");
    o->dev = st->st_dev;
    o->ino = st->st_ino;
    o->info.uid = (long)st->st_uid;
    o->info.gid = (long)st->st_gid;
    o->info.mode = (unsigned)(st->st_mode & 07777);
    o->info.creator_pid = -1;
    o->info.creator_alive = -1;
    o->info.attached = -1;
    o->info.listening = -1;
    reg->n++;
    return o;
}

void ik__reg_drop_last(struct ik__reg *reg)
{
    if (reg->n > 0)
        obj_free(&reg->objs[--reg->n]);
}

static void reg_free(struct ik__reg *reg)
{
    for (size_t i = 0; i < reg->n; i++)
        obj_free(&reg->objs[i]);
    free(reg->objs);
    free(reg->blind);
    free(reg->unix_paths);
}

static int cmp_name(const void *a, const void *b)
{
    const struct ik__reg_obj *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->kind, y->kind);
}

/* Attachment scan and provider probes over the objects of ptrs. */
static int reg_check(struct ik__reg *reg, struct ik__reg_obj **ptrs, size_t n)
{
    int rc = ik__reg_attach_scan(reg, ptrs, n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (ptrs[i]->prov->probe != NULL)
            ptrs[i]->prov->probe(reg, ptrs[i]);
    }
    return 0;
}

/* Run every provider, sort, point the info strings at their storage and
 * (unless IK_OBJ_NO_ATTACH) run the attachment scan. */
static int reg_load(struct ik__reg *reg, const char *prefix, unsigned flags)
{
    memset(reg, 0, sizeof(*reg));
    reg->prefix = (prefix != NULL && prefix[0] != '\0') ? prefix : NULL;
    reg->flags = flags;
    reg->euid = geteuid();
    for (size_t i = 0; ik__reg_providers[i] != NULL; i++) {
        int rc = ik__reg_providers[i]->scan(reg);
        if (rc != 0)
            return rc;
    }
    if (reg->n > 1)
        qsort(reg->objs, reg->n, sizeof(*reg->objs), cmp_name);
    for (size_t i = 0; i < reg->n; i++) {
        struct ik__reg_obj *o = &reg->objs[i];
        o->info.kind = o->kind;
        o->info.name = o->name;
        o->info.path = o->path;
        o->info.status = o->status;
    }
    if ((flags & IK_OBJ_NO_ATTACH) || reg->n == 0)
        return 0;
    struct ik__reg_obj **ptrs = malloc(reg->n * sizeof(*ptrs));
    if (ptrs == NULL)
        return IK_ENOMEM;
    for (size_t i = 0; i < reg->n; i++)
        ptrs[i] = &reg->objs[i];
    int rc = reg_check(reg, ptrs, reg->n);
    free(ptrs);
    return rc;
}

static int check_prefix(const char *prefix, unsigned flags)
{
    if (flags & IK_OBJ_EXACT)
        return prefix == NULL ? IK_EINVAL : ik_name_check(prefix);
    return (prefix != NULL && strlen(prefix) > IK_NAME_MAX) ? IK_EBADNAME : 0;
}

int ik_obj_list(const char *prefix, unsigned flags, ik_obj_list_fn fn, void *arg)
{
    if (fn == NULL || (flags & ~(unsigned)(IK_OBJ_ALL_USERS | IK_OBJ_NO_ATTACH | IK_OBJ_EXACT)))
        return IK_EINVAL;
    int rc = check_prefix(prefix, flags);
    if (rc != 0)
        return rc;
    struct ik__reg reg;
    rc = reg_load(&reg, prefix, flags);
    if (rc == 0) {
        for (size_t i = 0; i < reg.n; i++) {
            int r = fn(&reg.objs[i].info, arg);
            if (r != 0) {
                rc = r;
                break;
            }
        }
        if (rc == 0)
            rc = (int)reg.n;
    }
    reg_free(&reg);
    return rc;
}

int ik_obj_remove(const char *name, const char *kind, unsigned flags)
{
    int rc = ik_name_check(name);
    if (rc != 0)
        return rc;
    if (flags & ~(unsigned)IK_OBJ_ALL_USERS)
        return IK_EINVAL;
    struct ik__reg reg;
    /* Scan everyone's objects so that another user's gives IK_EPERM_OWNER
     * rather than IK_ENOENT; the owner check happens in remove(). */
    rc = reg_load(&reg, name, IK_OBJ_EXACT | IK_OBJ_ALL_USERS | IK_OBJ_NO_ATTACH);
    if (rc == 0) {
        int removed = 0, err = IK_ENOENT;
        for (size_t i = 0; i < reg.n; i++) {
            struct ik__reg_obj *o = &reg.objs[i];
            if (kind != NULL && strcmp(kind, o->kind) != 0)
                continue;
            int r = o->prov->remove(o, flags);
            if (r == 0)
                removed++;
            else if (err == IK_ENOENT)
                err = r;
        }
        rc = removed > 0 ? removed : err;
    }
    reg_free(&reg);
    return rc;
}

static bool in_use(const struct ik__reg_obj *o)
{
    return o->info.attached > 0 || o->info.self_attached || o->info.attached_unknown ||
           o->info.listening == 1;
}

static void report(ik_obj_gc_fn fn, void *arg, const struct ik__reg_obj *o, int result)
{
    if (fn != NULL)
        fn(&o->info, result, arg);
}

/* Remove isolated candidates that are still unused; put back the others.
 * Every restore and remove happens before the first report: a caller
 * killed inside its callback (a CLI writing to a closed pipe) never leaves
 * objects isolated out of reach. */
static int gc_commit(struct ik__reg *reg, struct ik__reg_obj **cand, size_t nc, unsigned flags,
                     ik_obj_gc_fn fn, void *arg)
{
    int removed = 0;
    int rc = reg_check(reg, cand, nc);
    int *res = nc > 0 ? malloc(nc * sizeof(*res)) : NULL; /* NULL: report at once */
    for (size_t i = 0; i < nc; i++) {
        struct ik__reg_obj *o = cand[i];
        int r;
        if (rc != 0 || in_use(o)) {
            r = o->prov->restore != NULL ? o->prov->restore(o) : 0;
            /* IK_EEXIST: the name was reused meanwhile; the isolated object
             * is unreachable by name anyway, its users keep their mapping. */
            if (r == IK_EEXIST)
                r = o->prov->remove(o, flags);
            else if (r == 0) /* put back: report why */
                r = rc != 0 ? rc : IK_EBUSY;
        } else {
            r = o->prov->remove(o, flags);
        }
        if (r == 0)
            removed++;
        if (res != NULL)
            res[i] = r;
        else
            report(fn, arg, o, r);
    }
    for (size_t i = 0; res != NULL && i < nc; i++)
        report(fn, arg, cand[i], res[i]);
    free(res);
    return removed;
}

int ik_obj_gc(const char *prefix, unsigned flags, ik_obj_gc_fn fn, void *arg)
{
    const unsigned known = IK_OBJ_ALL_USERS | IK_OBJ_DRY_RUN | IK_OBJ_CORRUPT | IK_OBJ_EXACT;
    if (flags & ~known)
        return IK_EINVAL;
    int rc = check_prefix(prefix, flags);
    if (rc != 0)
        return rc;
    struct ik__reg reg;
    rc = reg_load(&reg, prefix, flags & (IK_OBJ_ALL_USERS | IK_OBJ_EXACT));
    struct ik__reg_obj **cand = NULL;
    size_t nc = 0;
    if (rc == 0 && reg.n > 0 && (cand = malloc(reg.n * sizeof(*cand))) == NULL)
        rc = IK_ENOMEM;
    if (rc != 0)
        goto out;
    bool root = reg.euid == 0;
    for (size_t i = 0; i < reg.n; i++) {
        struct ik__reg_obj *o = &reg.objs[i];
        if (strcmp(o->status, "noaccess") == 0)
            continue;
        if ((uid_t)o->info.uid != reg.euid && !root)
            continue; /* never ours to remove */
        if (o->corrupt) {
            if (!(flags & IK_OBJ_CORRUPT) || in_use(o)) {
                report(fn, arg, o, IK_EPROTO);
                continue;
            }
        } else if (o->info.creator_alive == 1 || in_use(o)) {
            continue;
        }
        cand[nc++] = o;
    }
    if (flags & IK_OBJ_DRY_RUN) {
        for (size_t i = 0; i < nc; i++)
            report(fn, arg, cand[i], 0);
        rc = (int)nc;
        goto out;
    }
    /* Isolate every candidate, then re-check them all in one /proc pass.
     * Failures are reported after gc_commit put everything back (a caller
     * killed in its callback must not leave objects aside). */
    size_t ni = 0, nf = 0;
    struct {
        struct ik__reg_obj *o;
        int r;
    } *failed = nc > 0 ? malloc(nc * sizeof(*failed)) : NULL;
    for (size_t i = 0; i < nc; i++) {
        struct ik__reg_obj *o = cand[i];
        int r = o->prov->isolate != NULL ? o->prov->isolate(o) : 0;
        if (r == 0)
            cand[ni++] = o;
        else if (r != IK_ENOENT && failed != NULL) /* ENOENT: vanished or replaced */
            failed[nf++] = (__typeof__(*failed)){o, r};
        else if (r != IK_ENOENT)
            report(fn, arg, o, r); /* out of memory: at once, nothing better */
    }
    rc = gc_commit(&reg, cand, ni, flags, fn, arg);
    for (size_t i = 0; i < nf; i++)
        report(fn, arg, failed[i].o, failed[i].r);
    free(failed);
out:
    free(cand);
    reg_free(&reg);
    return rc;
}
