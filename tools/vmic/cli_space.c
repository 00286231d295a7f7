#include <inttypes.h>
#include <string.h>

#include "cli_space.h"

int cli_space_open(const char *cmd, const char *target, const cli_common *c, bool need_os,
                   bool physical, cli_space *sp)
{
    int rc;
    memset(sp, 0, sizeof *sp);
    if (physical && c->pid)
        return cli_usage(cmd, "--pid is for virtual addresses, not with --pa");
    if (!c->pid && !c->profile && !need_os) {
        if (physical)
            return cli_open(cmd, target, c, &sp->core);
        return cli_open_ctx(cmd, target, c, &sp->core, &sp->ctx, &sp->source);
    }
    if ((rc = cli_os_open(cmd, target, c, &sp->core, &sp->os)))
        return rc;
    if (c->pid) {
        if ((rc = cli_os_process(cmd, sp->os, c->pid, &sp->proc))) {
            cli_space_close(sp);
            return rc;
        }
        if (sp->proc.kernel_thread) {
            cli_space_close(sp);
            return cli_fail(cmd, VMIC_OK, "pid %s is a kernel thread: it has no address space "
                            "of its own (use the kernel's: leave --pid out)", c->pid);
        }
        sp->have_process = true;
    }
    const vmic_os_kernel_t *k = vmic_os_kernel(sp->os);
    sp->ctx = vmic_os_kernel_ctx(sp->os);
    snprintf(sp->source_buf, sizeof sp->source_buf, "kernel root, %s", k->root_source);
    sp->source = sp->source_buf;
    return EXIT_OK;
}

vmic_ctx_t cli_space_ctx(cli_space *sp, uint64_t va, const char **source)
{
    if (!sp->have_process) {
        *source = sp->source;
        return sp->ctx;
    }
    /* Under KPTI the kernel PGD maps user pages NX and user mode runs on the
     * user PGD: user addresses are translated as the process sees them. */
    bool user = (va >> 63) == 0; /* the lower half, with 4 or 5 levels alike */
    bool split = sp->proc.user_root.addr != sp->proc.root.addr;
    snprintf(sp->source_buf, sizeof sp->source_buf, "pid %d, %s PGD", (int)sp->proc.tgid,
             !split ? "its" : user ? "user" : "kernel");
    *source = sp->source_buf;
    return vmic_ctx(user ? sp->proc.user_root : sp->proc.root);
}

int cli_space_address(const char *cmd, cli_space *sp, const char *text, uint64_t *va)
{
    if (cli_parse_u64(text, va))
        return EXIT_OK;
    if (!sp->os)
        return cli_usage(cmd, "'%s' is not an address", text);
    vmic_va_t a;
    vmic_status s = vmic_os_symbol(sp->os, text, &a);
    if (s)
        return cli_fail(cmd, s, "'%s' is neither an address nor a symbol", text);
    *va = a.addr;
    return EXIT_OK;
}

void cli_space_close(cli_space *sp)
{
    if (sp->os)
        vmic_os_close(sp->os);
    if (sp->core)
        vmic_core_close(sp->core);
    sp->os = NULL;
    sp->core = NULL;
}
