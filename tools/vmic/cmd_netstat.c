/* vmic netstat: the sockets processes hold, and those in the kernel's TCP,
 * UDP and UNIX tables that none holds, in every network namespace. */
#include <arpa/inet.h>
#include <stdio.h>

#include "cli_list.h"

static const cli_col cols[] = {
    {.head = "PROTO", .key = "proto", .type = CLI_COL_STR, .width = -6},
    {.head = "LOCAL", .key = "local", .type = CLI_COL_STR, .width = -26},
    {.head = "REMOTE", .key = "remote", .type = CLI_COL_STR, .width = -26},
    {.head = "STATE", .key = "state", .type = CLI_COL_STR, .width = -11},
    {.head = "INODE", .key = "inode", .type = CLI_COL_UINT, .width = 7},
    {.head = "PID", .key = "pid", .type = CLI_COL_INT, .width = 6},
    {.head = "FD", .key = "fd", .type = CLI_COL_INT, .width = 4},
    {.head = "NETNS", .key = "netns", .type = CLI_COL_UINT, .width = 10},
    {.key = "partial", .type = CLI_COL_BOOL, .sep = "  ", .mark = "(partial)",
     .flags = CLI_COL_TABLE_IF_SET},
    {.key = "family", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "type", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "protocol", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "sk_state", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "socket_state", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "local_addr", .type = CLI_COL_STR, .flags = CLI_COL_JSON_ONLY},
    {.key = "local_port", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "remote_addr", .type = CLI_COL_STR, .flags = CLI_COL_JSON_ONLY},
    {.key = "remote_port", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "path", .type = CLI_COL_STR, .flags = CLI_COL_JSON_ONLY | CLI_COL_ESCAPE},
    {.key = "sock", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
    {.key = "file", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
};
enum { PROTO, LOCAL, REMOTE, STATE, INODE, PID, FD, NETNS, PARTIAL, FAMILY, TYPE, PROTOCOL,
       SK_STATE, SOCK_STATE, LADDR, LPORT, RADDR, RPORT, PATH, SOCK, FILE_, NCOLS };
static const unsigned char json_order[] = {PID, FD, INODE, PROTO, FAMILY, TYPE, PROTOCOL, STATE,
                                           SK_STATE, SOCK_STATE, LOCAL, LADDR, LPORT, REMOTE,
                                           RADDR, RPORT, PATH, NETNS, SOCK, FILE_, PARTIAL};
_Static_assert(sizeof json_order == NCOLS, "json_order names every column once");
static const cli_schema schema = {cols, NCOLS, json_order, false};

static uint64_t opt_pid = UINT64_MAX;

static const char *type_name(uint16_t type)
{
    static const char *const names[] = {"?", "stream", "dgram", "raw", "rdm", "seqpacket"};
    return type < sizeof names / sizeof names[0] ? names[type] : "?";
}

/* "tcp", "udp6", "unix", "raw", "netlink", "packet", "af40" (vsock) ... */
static void proto_name(const vmic_socket_t *s, char *buf, size_t size)
{
    const char *six = s->family == VMIC_AF_INET6 ? "6" : "";
    if (s->family == VMIC_AF_UNIX)
        snprintf(buf, size, "unix");
    else if ((s->family == VMIC_AF_INET || s->family == VMIC_AF_INET6) && s->protocol == 6)
        snprintf(buf, size, "tcp%s", six);
    else if ((s->family == VMIC_AF_INET || s->family == VMIC_AF_INET6) && s->protocol == 17)
        snprintf(buf, size, "udp%s", six);
    else if (s->family == VMIC_AF_INET || s->family == VMIC_AF_INET6)
        snprintf(buf, size, "%s%s", type_name(s->type), six);
    else if (s->family == 16)
        snprintf(buf, size, "netlink");
    else if (s->family == 17)
        snprintf(buf, size, "packet");
    else
        snprintf(buf, size, "af%u", s->family);
}

/* TCP's state names; UDP and UNIX use the same numbers. */
static const char *state_name(const vmic_socket_t *s)
{
    static const char *const names[] = {"?",         "ESTABLISHED", "SYN_SENT",   "SYN_RECV",
                                         "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",  "CLOSE",
                                         "CLOSE_WAIT", "LAST_ACK",   "LISTEN",     "CLOSING",
                                         "NEW_SYN_RECV"};
    if (s->family == VMIC_AF_UNIX && s->state != 10)
        return s->socket_state == 3 ? "CONNECTED" : "UNCONNECTED";
    return s->state < sizeof names / sizeof names[0] ? names[s->state] : "?";
}

static void address(const vmic_socket_t *s, const uint8_t *a, char *buf, size_t size)
{
    char text[INET6_ADDRSTRLEN] = "";
    if (s->family == VMIC_AF_INET)
        inet_ntop(AF_INET, a, text, sizeof text);
    else if (s->family == VMIC_AF_INET6)
        inet_ntop(AF_INET6, a, text, sizeof text);
    snprintf(buf, size, "%s", text);
}

static void endpoint(const vmic_socket_t *s, const char *addr, uint16_t port, char *buf,
                     size_t size)
{
    if (s->family == VMIC_AF_INET)
        snprintf(buf, size, "%s:%u", addr, port);
    else if (s->family == VMIC_AF_INET6)
        snprintf(buf, size, "[%s]:%u", addr, port);
    else
        buf[0] = '\0';
}

static int row(void *arg, const vmic_socket_t *s)
{
    cli_walk *w = arg;
    char proto[16], la[64], ra[64], local[VMIC_SOCK_PATH_LEN + 8], remote[80];
    bool inet = s->family == VMIC_AF_INET || s->family == VMIC_AF_INET6;
    proto_name(s, proto, sizeof proto);
    address(s, s->local_addr, la, sizeof la);
    address(s, s->remote_addr, ra, sizeof ra);
    endpoint(s, la, s->local_port, local, sizeof local);
    endpoint(s, ra, s->remote_port, remote, sizeof remote);
    if (s->family == VMIC_AF_UNIX)
        snprintf(local, sizeof local, "%s", s->path);
    cli_val v[NCOLS] = {
        [PROTO] = CLI_S(proto), [LOCAL] = CLI_S(local), [REMOTE] = CLI_S(remote),
        [STATE] = CLI_S(state_name(s)), [INODE] = CLI_U(s->inode), [PID] = CLI_I(s->pid),
        [FD] = CLI_I(s->fd), [NETNS] = CLI_U(s->netns), [PARTIAL] = CLI_B(s->partial),
        [FAMILY] = CLI_U(s->family), [TYPE] = CLI_U(s->type), [PROTOCOL] = CLI_U(s->protocol),
        [SK_STATE] = CLI_U(s->state), [SOCK_STATE] = CLI_U(s->socket_state),
        [LADDR] = CLI_S(la), [LPORT] = CLI_U(s->local_port), [RADDR] = CLI_S(ra),
        [RPORT] = CLI_U(s->remote_port), [PATH] = CLI_S(s->path), [SOCK] = CLI_U(s->sock.addr),
        [FILE_] = CLI_U(s->file.addr),
    };
    v[STATE].blank = s->partial && !s->family;
    v[LOCAL].blank = !*local && s->family != VMIC_AF_UNIX;
    v[REMOTE].blank = !inet;
    v[PID].blank = v[FD].blank = s->fd < 0; /* in the kernel's tables, held by no fd */
    cli_rows_add(&w->rows, v);
    return 0;
}

static vmic_status walk(cli_walk *w)
{
    return vmic_os_sockets(w->os, w->have_proc ? &w->proc : NULL, row, w);
}

int cmd_netstat(int argc, char **argv)
{
    static const cli_opt opts[] = {
        CLI_U64("pid", 0, "PID", &opt_pid, 0, INT32_MAX, "only the sockets of process PID"),
        CLI_END,
    };
    static const cli_list_cmd netstat = {
        .spec = {
            .cmd = "netstat", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST, .opts = opts,
            .min_operands = 1, .max_operands = 1,
            .about =
                "List the sockets the guest's processes hold, found through their fd\n"
                "tables: TCP and UDP over IPv4 and IPv6 (local and remote address and port,\n"
                "state), UNIX sockets (bound path, '@' for an abstract name), netlink and\n"
                "packet sockets, and others by family number (afN); each with its inode\n"
                "(socket:[N]), owning pid and fd, and the inode of its network namespace\n"
                "(as /proc/PID/ns/net names it). A socket open in several processes is\n"
                "listed for each. Then, without --pid, the TCP, UDP and UNIX sockets of\n"
                "the kernel's tables that no process holds, PID and FD \"-\" (in --json\n"
                "pid 0, fd -1): TIME_WAIT, orphans closing (inode 0, as /proc/net shows\n"
                "them), kernel sockets, and sockets in flight in a UNIX socket's queue.",
        },
        .schema = &schema, .walk = walk, .pid_option = &opt_pid,
    };
    return cli_list(&netstat, argc, argv);
}
