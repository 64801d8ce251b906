/* ipckit locks: holders and waiters of named locks, and wait-for cycles. */
#include "cli.h"
#include "../src/sync/sync_int.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ipckit locks [-h]\n\n"
               "Show the named mutexes, semaphores and rwlocks of the current user:\n"
               "their holders (pid, tid), the threads waiting for them (from the\n"
               "deadlock-detection registry) and any wait-for cycle (DEADLOCK).\n");
}

/* Waiters of `name` from the registry snapshot. */
static void print_waiters(const struct ik__syncreg *r, const char *name)
{
    bool any = false;
    if (r != NULL) {
        for (int i = 0; i < IK__SYNCREG_SLOTS; i++) {
            const struct ik__dl_entry *e = &r->e[i];
            if (!e->used || strncmp(e->name, name, IK_NAME_MAX) != 0 ||
                !ik__proc_alive(e->pid, e->start))
                continue;
            printf("%s pid %d tid %d", any ? "," : "", e->pid, e->tid);
            any = true;
        }
    }
    printf("%s\n", any ? "" : " -");
}

static void show_mutex(const char *name, const struct ik__mutex *m, const struct ik__syncreg *r)
{
    unsigned w = __atomic_load_n((const unsigned *)&m->pm.__data.__lock, __ATOMIC_ACQUIRE);
    int tid = (int)(w & IK__FUTEX_TID_MASK);
    int owner = __atomic_load_n(&m->pm.__data.__owner, __ATOMIC_RELAXED);
    printf("mutex   %-24s ", name);
    if (owner == IK__PM_NOTRECOVERABLE)
        printf("NOT RECOVERABLE");
    else if (w & IK__FUTEX_OWNER_DIED) /* the kernel clears the tid */
        printf("OWNER DIED");
    else if (tid == 0)
        printf("free");
    else
        printf("%s pid %d tid %d", owner == IK__PM_INCONSISTENT ? "REPAIRING by" : "held by",
               ik__tid_pid(tid), tid);
    printf("; waiters:");
    print_waiters(r, name);
}

static void show_sem(const char *name, const struct ik__sem *s, const struct ik__syncreg *r)
{
    printf("sem     %-24s value %u", name, (unsigned)ik__sem_units(atomic_load(&s->word)));
    if (s->flags & IK__SYNC_UNDO) {
        printf(" (undo)");
        for (int i = 0; i < IK_SEM_UNDO_HOLDERS; i++) {
            if (s->h[i].units > 0)
                printf(", pid %d holds %u%s", s->h[i].pid, s->h[i].units,
                       ik__proc_alive(s->h[i].pid, s->h[i].start) ? "" : " (dead)");
        }
    }
    printf("; waiters:");
    print_waiters(r, name);
}

static void show_rwlock(const char *name, const struct ik__rwlock *l)
{
    static const char *const states[] = {"", " OWNER DIED", " REPAIRING", " NOT RECOVERABLE"};
    printf("rwlock  %-24s", name);
    if (l->state <= 3)
        printf("%s", states[l->state]);
    if (l->w_tid != 0)
        printf(" writer pid %d tid %d%s", l->w_pid, l->w_tid,
               ik__proc_alive(l->w_pid, l->w_start) ? "" : " (dead)");
    for (int i = 0; i < IK_RWLOCK_READERS; i++) {
        if (l->rd[i].count > 0)
            printf(" reader pid %d x%u", l->rd[i].pid, l->rd[i].count);
    }
    printf("\n");
}

static int print_cycles(const struct ik__syncreg *r)
{
    int found = 0;
    for (int i = 0; r != NULL && i < IK__SYNCREG_SLOTS; i++) {
        int path[16];
        int n = ik__dl_find_cycle(r, i, path, 16, false);
        if (n == 0 || !ik__proc_alive(r->e[i].pid, r->e[i].start))
            continue;
        bool lowest = true; /* print each cycle once, from its lowest slot */
        for (int k = 0; k < n; k++)
            lowest &= path[k] >= i;
        if (!lowest)
            continue;
        found++;
        printf("DEADLOCK:");
        for (int k = 0; k < n; k++) {
            const struct ik__dl_entry *e = &r->e[path[k]];
            /* The registry is writable by any process of this user: the
             * name need not be terminated. */
            printf(" pid %d tid %d waits for %s %.*s ->", e->pid, e->tid, ik__kind_name(e->kind),
                   IK_NAME_MAX, e->name);
        }
        printf(" pid %d\n", r->e[i].pid);
    }
    return found;
}

int ik_cmd_locks(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return IK_EXIT_OK;
        }
        usage(stderr);
        return IK_EXIT_USAGE;
    }
    if (optind != argc) {
        usage(stderr);
        return IK_EXIT_USAGE;
    }
    char regname[64];
    ik__syncreg_name(regname, sizeof(regname));
    struct ik__seg reg;
    const struct ik__syncreg *r = NULL;
    int rc = ik__seg_open(&reg, regname, IK__KIND_SYNCREG, IK_SHM_RDONLY, NULL);
    if (rc == 0 && reg.user_size == sizeof(struct ik__syncreg) &&
        ((struct ik__syncreg *)reg.user)->magic == IK__SYNCREG_MAGIC)
        r = reg.user;
    else if (rc != 0 && rc != IK_ENOENT)
        ik_cli_error("deadlock registry", rc);

    DIR *d = opendir(IK__SHM_DIR);
    if (d == NULL) {
        ik_cli_error(IK__SHM_DIR, IK_EIO);
        return IK_EXIT_FAIL;
    }
    struct dirent *de;
    int shown = 0;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name + strlen(IK__SEG_PREFIX);
        if (strncmp(de->d_name, IK__SEG_PREFIX, strlen(IK__SEG_PREFIX)) != 0 ||
            ik_name_check(name) != 0)
            continue;
        struct ik__seg seg;
        if (ik__seg_open(&seg, name, 0, IK_SHM_RDONLY, NULL) != 0)
            continue; /* not ours, or not a valid segment */
        unsigned kind = seg.hdr.kind;
        if (kind == IK__KIND_MUTEX && seg.user_size == sizeof(ik_mutex) &&
            ((struct ik__mutex *)seg.user)->magic == IK__MUTEX_MAGIC) {
            show_mutex(name, seg.user, r);
            shown++;
        } else if (kind == IK__KIND_SEM && seg.user_size == sizeof(ik_sem) &&
                   ((struct ik__sem *)seg.user)->magic == IK__SEM_MAGIC) {
            show_sem(name, seg.user, r);
            shown++;
        } else if (kind == IK__KIND_RWLOCK && seg.user_size == sizeof(ik_rwlock) &&
                   ((struct ik__rwlock *)seg.user)->magic == IK__RWLOCK_MAGIC) {
            show_rwlock(name, seg.user);
            shown++;
        }
        ik__seg_close(&seg);
    }
    closedir(d);
    if (shown == 0)
        printf("no named locks\n");
    int cycles = print_cycles(r);
    if (cycles == 0 && r != NULL)
        printf("no deadlock\n");
    if (r != NULL)
        ik__seg_close(&reg);
    return IK_EXIT_OK;
}
