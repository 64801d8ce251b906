/* ipckit send: send messages to any channel URL. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void send_usage(FILE *f)
{
    fprintf(f,
            "usage: ipckit send [options] URL [MESSAGE...]\n"
            "\n"
            "Send to a channel URL (unix://NAME, tcp://HOST:PORT, tls://..., fifo://NAME, ...).\n"
            "MESSAGE words are joined by spaces and sent as one message; with --file the\n"
            "file's content is one message; otherwise each line of stdin is one message\n"
            "(raw mode: stdin is copied as bytes). TLS options go in the URL query\n"
            "(?ca=&cert=&key=&verify=).\n"
            "\n"
            "  -f, --file F       send the content of F as one message\n"
            "  -l, --listen       listen on URL and send to the first peer that connects\n"
            "  -r, --raw          no framing: plain bytes (for non-ipckit peers)\n"
            "  -t, --timeout MS   dial/accept/send timeout (default 10000, -1 forever)\n"
            "  -h, --help         show this help\n"
            "\n"
            "exit status: 0 sent, 1 failure, 2 usage error\n");
}

/* Open the channel: dial, or listen and accept one peer (shared with recv). */
int ik_cli_chan_open(ik_chan **ch, const char *url, int listen, int raw, int timeout_ms);
int ik_cli_chan_open(ik_chan **ch, const char *url, int listen, int raw, int timeout_ms)
{
    ik_chan_opts *o;
    int rc = ik_chan_opts_new(&o);
    if (rc != 0)
        return rc;
    if ((rc = ik_chan_opts_set_raw(o, raw)) != 0 ||
        (rc = ik_chan_opts_set_timeout(o, timeout_ms)) != 0) {
        ik_chan_opts_free(o);
        return rc;
    }
    if (!listen) {
        rc = ik_dial(ch, url, o);
        ik_chan_opts_free(o);
        return rc;
    }
    ik_listener *l;
    rc = ik_listen(&l, url, o);
    ik_chan_opts_free(o);
    if (rc != 0)
        return rc;
    char real[512];
    if (ik_listener_url(l, real, sizeof(real)) == 0)
        fprintf(stderr, "ipckit: listening on %s\n", real);
    rc = ik_accept(l, ch, timeout_ms);
    ik_listener_close(l);
    return rc;
}

/* Read a whole file, at most max bytes (else IK_EMSGSIZE: a file such as
 * /dev/zero must not grow the buffer until memory runs out). */
static int read_file(const char *path, uint64_t max, char **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return -errno;
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    while (b != NULL) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        if (n > max) {
            free(b);
            if (f != stdin)
                fclose(f);
            return IK_EMSGSIZE;
        }
        char *nb = realloc(b, cap * 2);
        if (nb == NULL) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    int err = ferror(f);
    if (f != stdin)
        fclose(f);
    if (b == NULL)
        return IK_ENOMEM;
    if (err) {
        free(b);
        return IK_EIO;
    }
    *buf = b;
    *len = n;
    return 0;
}

int ik_cmd_send(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, 'f'}, {"listen", no_argument, NULL, 'l'},
        {"raw", no_argument, NULL, 'r'},        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *file = NULL;
    struct ik_cli_chan_args ca = {.listen = 0, .raw = 0, .timeout = 10000};
    int c;
    while ((c = getopt_long(argc, argv, "f:lrt:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            file = optarg;
            break;
        case 'h':
            send_usage(stdout);
            return IK_EXIT_OK;
        default:
            if (ik_cli_chan_opt(c, optarg, &ca) > 0)
                break;
            send_usage(stderr);
            return IK_EXIT_USAGE;
        }
    }
    if (optind >= argc || (file != NULL && optind + 1 < argc)) {
        send_usage(stderr);
        return IK_EXIT_USAGE;
    }
    const char *url = argv[optind++];
    ik_chan *ch;
    int rc = ik_cli_chan_open(&ch, url, ca.listen, ca.raw, ca.timeout);
    if (rc != 0) {
        ik_cli_error(url, rc);
        if (ik_chan_last_errdetail()[0])
            fprintf(stderr, "ipckit: detail: %s\n", ik_chan_last_errdetail());
        return IK_EXIT_FAIL;
    }
    if (file != NULL || optind < argc) {
        char *buf = NULL;
        size_t len = 0;
        if (file != NULL) {
            rc = read_file(file, ik_chan_max_msg(ch), &buf, &len);
        } else {
            for (int i = optind; i < argc; i++)
                len += strlen(argv[i]) + 1;
            buf = malloc(len);
            rc = buf ? 0 : IK_ENOMEM;
            len = 0;
            for (int i = optind; buf != NULL && i < argc; i++) {
                size_t n = strlen(argv[i]);
                memcpy(buf + len, argv[i], n);
                len += n;
                if (i + 1 < argc)
                    buf[len++] = ' ';
            }
        }
        if (rc == 0)
            rc = ik_send(ch, buf, len, ca.timeout);
        free(buf);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        if (ca.raw) {
            char chunk[65536];
            size_t r;
            while (rc == 0 && (r = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
                rc = ik_send(ch, chunk, r, ca.timeout);
        } else {
            while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
                if (n > 0 && line[n - 1] == '\n')
                    n--;
                rc = ik_send(ch, line, (size_t)n, ca.timeout);
            }
        }
        free(line);
        if (rc == 0 && ferror(stdin))
            rc = IK_EIO; /* a read error is not the end of input */
    }
    if (rc != 0) {
        ik_cli_error("send", rc);
        ik_chan_close(ch);
        return IK_EXIT_FAIL;
    }
    ik_chan_close(ch);
    return IK_EXIT_OK;
}
