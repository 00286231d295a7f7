/*
 * vmic_open_target: the one place that tells a dump path from a live QEMU
 * (target.h), so that the CLI and every program built on libvmic accept the
 * same TARGET strings.
 */
#include <vmic/qemu.h>
#include <vmic/target.h>

vmic_status vmic_open_target(const char *target, const vmic_target_options_t *opt,
                             vmic_driver **out)
{
    vmic_target_options_t none = {0};

    *out = NULL;
    if (!target || !*target)
        return vmic_fail(VMIC_E_INVAL, "no target (a dump path or qemu:DIR)");
    if (!opt)
        opt = &none;
    if (!vmic_qemu_is_target(target))
        return vmic_dump_open(target, opt->format, out);
    if (opt->format != VMIC_DUMP_AUTO)
        return vmic_fail(VMIC_E_INVAL, "%s: a dump format is for dumps, not for a live target",
                         target);
    return vmic_qemu_open_target(target, opt->live, out);
}
