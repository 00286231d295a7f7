/* The lookup of libvmic-qemu.so for `vmic boot --plugin` (boot_plugin.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot_plugin.h"
#include "cli.h"

/* Set by CMake: the install's LIBDIR (maybe relative) and PREFIX. */
#ifndef VMIC_INSTALL_LIBDIR
#define VMIC_INSTALL_LIBDIR "lib"
#endif
#ifndef VMIC_INSTALL_PREFIX
#define VMIC_INSTALL_PREFIX "/usr/local"
#endif

static bool usable(const char *path, char *out)
{
    struct stat st;
    return realpath(path, out) && stat(out, &st) == 0 && S_ISREG(st.st_mode);
}

/* A candidate that does not fit PATH_MAX is skipped: it cannot exist. */
static bool put(char *dst, const char *a, const char *b, const char *c)
{
    int n = snprintf(dst, PATH_MAX, "%s%s%s/vmic/" BOOT_PLUGIN_NAME, a, b, c);
    return n > 0 && n < PATH_MAX;
}

/* The candidates 3 to 5, in order; how many were written. */
static int candidates(char list[3][PATH_MAX])
{
    char exe[PATH_MAX];
    int n = 0;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int w = snprintf(list[n], PATH_MAX, "%s/plugin/" BOOT_PLUGIN_NAME, exe);
            if (w > 0 && w < PATH_MAX)
                n++;
            if (VMIC_INSTALL_LIBDIR[0] != '/' && put(list[n], exe, "/../", VMIC_INSTALL_LIBDIR))
                n++;
        }
    }
    if (VMIC_INSTALL_LIBDIR[0] == '/' ? put(list[n], "", "", VMIC_INSTALL_LIBDIR)
                                      : put(list[n], VMIC_INSTALL_PREFIX, "/", VMIC_INSTALL_LIBDIR))
        n++;
    return n;
}

int boot_find_plugin(const char *cmd, const char *given, char *out)
{
    const char *env = getenv("VMIC_PLUGIN");
    if (given && *given) {
        if (!usable(given, out))
            return cli_fail(cmd, VMIC_OK, "--plugin=%s: not a file", given);
    } else if (env && *env) {
        if (!usable(env, out))
            return cli_fail(cmd, VMIC_OK, "VMIC_PLUGIN=%s: not a file", env);
    } else {
        char list[3][PATH_MAX];
        int n = candidates(list), i = 0;
        while (i < n && !usable(list[i], out))
            i++;
        if (i == n)
            return cli_fail(cmd, VMIC_OK, "--plugin: no %s in %s%s%s%s%s (give --plugin=PATH "
                            "or set VMIC_PLUGIN)", BOOT_PLUGIN_NAME, n ? list[0] : "(nowhere)",
                            n > 1 ? ", " : "", n > 1 ? list[1] : "", n > 2 ? ", " : "",
                            n > 2 ? list[2] : "");
    }
    /* QEMU's -plugin splits its argument at commas. */
    if (strchr(out, ','))
        return cli_fail(cmd, VMIC_OK, "%s: QEMU's -plugin cannot take a path with ','", out);
    return EXIT_OK;
}

bool boot_plugin_found(char *out)
{
    const char *env = getenv("VMIC_PLUGIN");
    if (env && *env)
        return usable(env, out) && !strchr(out, ',');
    char list[3][PATH_MAX];
    int n = candidates(list);
    for (int i = 0; i < n; i++)
        if (usable(list[i], out))
            return !strchr(out, ',');
    return false;
}
