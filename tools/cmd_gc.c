/* ipckit gc: remove objects orphaned by dead processes. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

struct gc_state {
    bool dry_run;
    bool quiet;
    int failed;
    FILE *out; /* report lines, buffered until gc is done (see ik_cmd_gc) */
};

static void gc_report(const ik_obj_info *o, int result, void *arg)
{
    struct gc_state *st = arg;
    char what[160];
    if (result == 0) {
        if (!st->quiet) {
            char creator[32] = "creator unknown";
            if (o->creator_pid > 0)
                snprintf(creator, sizeof(creator), "creator %d dead", o->creator_pid);
            fprintf(st->out, "%s %-9s %s (%s)\n", st->dry_run ? "would remove" : "removed", o->kind,
                    o->name, creator);
        }
    } else if (result == IK_EPROTO) {
        if (!st->quiet)
            fprintf(st->out, "kept corrupt %s (%s; --corrupt removes it when unattached)\n",
                    o->name, o->path);
    } else if (result == IK_EBUSY) {
        if (!st->quiet)
            fprintf(st->out, "kept %-9s %s (came into use)\n", o->kind, o->name);
    } else {
        snprintf(what, sizeof(what), "gc %s", o->name);
        ik_cli_error(what, result);
        st->failed++;
    }
}

static void gc_usage(FILE *f)
{
    fprintf(f, "usage: ipckit gc [--dry-run] [--corrupt] [--all] [--quiet] [PREFIX]\n"
               "\n"
               "Remove orphaned objects (whose name starts with PREFIX, if given). An object\n"
               "is removed only if its creator is dead (pid and start time), no live process\n"
               "maps it or holds it open, and for sockets no live socket is bound to it\n"
               "(FIFOs and sockets record no creator). Each one is renamed out of reach,\n"
               "re-checked, then unlinked. Segments with a corrupt header are reported and\n"
               "kept. See docs/registry.md.\n"
               "\n"
               "  -n, --dry-run  print what would be removed, remove nothing\n"
               "  -c, --corrupt  also remove unattached segments with a corrupt header\n"
               "  -a, --all      root: also collect other users' objects\n"
               "  -q, --quiet    print errors only\n"
               "  -h, --help     show this help\n"
               "\n"
               "exit status: 0 success (also when nothing was removed), 1 failure,\n"
               "2 usage error, 3 some objects could not be removed\n");
}

int ik_cmd_gc(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dry-run", no_argument, NULL, 'n'}, {"corrupt", no_argument, NULL, 'c'},
        {"all", no_argument, NULL, 'a'},     {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0},
    };
    struct gc_state st = {0};
    unsigned flags = 0;
    int c;
    while ((c = getopt_long(argc, argv, "ncaqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            flags |= IK_OBJ_DRY_RUN;
            st.dry_run = true;
            break;
        case 'c':
            flags |= IK_OBJ_CORRUPT;
            break;
        case 'a':
            flags |= IK_OBJ_ALL_USERS;
            break;
        case 'q':
            st.quiet = true;
            break;
        case 'h':
            gc_usage(stdout);
            return IK_EXIT_OK;
        default:
            gc_usage(stderr);
            return IK_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        gc_usage(stderr);
        return IK_EXIT_USAGE;
    }
    /* Signals are held only while objects may be renamed aside; the report
     * is printed afterwards, so a stalled reader cannot keep them held. */
    char *text = NULL;
    size_t text_len = 0;
    st.out = open_memstream(&text, &text_len);
    if (st.out == NULL)
        st.out = stdout;
    sigset_t old;
    ik_cli_signals_hold(&old);
    int rc = ik_obj_gc(optind < argc ? argv[optind] : NULL, flags, gc_report, &st);
    ik_cli_signals_release(&old);
    if (st.out != stdout) {
        fclose(st.out);
        fwrite(text, 1, text_len, stdout);
        free(text);
    }
    if (rc < 0) {
        ik_cli_error("gc", rc);
        return IK_EXIT_FAIL;
    }
    if (!st.quiet)
        printf("%d object%s %s\n", rc, rc == 1 ? "" : "s",
               st.dry_run ? "would be removed" : "removed");
    return st.failed > 0 ? IK_EXIT_PARTIAL : IK_EXIT_OK;
}
