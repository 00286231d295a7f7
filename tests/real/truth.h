/*
 * Reading the ground truth a real guest wrote about itself (see
 * scripts/make-fixture.sh): /proc/kallsyms, /proc/iomem, /proc/version, ...
 * Header-only so each real test stays one file.
 */
#ifndef VMIC_TEST_TRUTH_H
#define VMIC_TEST_TRUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct truth_sym {
    uint64_t addr;
    char type;
    char name[128];
    bool module;  /* "[name]" after the symbol */
} truth_sym;

typedef struct truth_range {
    uint64_t start, end; /* inclusive, as /proc/iomem prints */
    int depth;           /* indentation level */
    char name[64];
} truth_range;

static inline FILE *truth_open(const char *dir, const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/truth/%s", dir, file);
    return fopen(path, "r");
}

/* Whether the guest's first CPU lists `flag` among its /proc/cpuinfo flags
 * ("la57": the kernel runs 5-level paging; "pti": page-table isolation). */
static inline bool truth_cpu_flag(const char *dir, const char *flag)
{
    FILE *f = truth_open(dir, "cpuinfo.txt");
    char line[8192];
    bool found = false;
    size_t n = strlen(flag);
    while (f && !found && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        for (char *p = strstr(line, flag); p && !found; p = strstr(p + 1, flag))
            found = p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0');
    }
    if (f)
        fclose(f);
    return found;
}

static inline bool fixture_present(const char *dir)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/DONE", dir);
    return stat(path, &st) == 0;
}

static inline void fixture_path(char *buf, size_t size, const char *dir, const char *file)
{
    snprintf(buf, size, "%s/%s", dir, file);
}

/* Every line of kallsyms.txt; *n gets the count. Caller frees. */
static inline truth_sym *truth_kallsyms(const char *dir, size_t *n)
{
    FILE *f = truth_open(dir, "kallsyms.txt");
    truth_sym *v = NULL;
    size_t cap = 0;
    char line[512];

    *n = 0;
    if (!f)
        return NULL;
    while (fgets(line, sizeof line, f)) {
        truth_sym s = {0};
        char mod[128] = "";
        if (sscanf(line, "%lx %c %127s %127s", &s.addr, &s.type, s.name, mod) < 3)
            continue;
        s.module = mod[0] == '[';
        if (*n == cap) {
            cap = cap ? cap * 2 : 65536;
            v = realloc(v, cap * sizeof *v);
        }
        v[(*n)++] = s;
    }
    fclose(f);
    return v;
}

static inline const truth_sym *truth_find_sym(const truth_sym *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!v[i].module && strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

/* Every line of iomem.txt. Caller frees. */
static inline truth_range *truth_iomem(const char *dir, size_t *n)
{
    FILE *f = truth_open(dir, "iomem.txt");
    truth_range *v = NULL;
    size_t cap = 0;
    char line[256];

    *n = 0;
    if (!f)
        return NULL;
    while (fgets(line, sizeof line, f)) {
        truth_range r = {0};
        int indent = 0;
        while (line[indent] == ' ')
            indent++;
        if (sscanf(line + indent, "%lx-%lx : %63[^\n]", &r.start, &r.end, r.name) != 3)
            continue;
        r.depth = indent / 2;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            v = realloc(v, cap * sizeof *v);
        }
        v[(*n)++] = r;
    }
    fclose(f);
    return v;
}

static inline const truth_range *truth_find_range(const truth_range *v, size_t n,
                                                  const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

/* The first line of a truth file, without its newline. */
static inline bool truth_line(const char *dir, const char *file, char *buf, size_t size)
{
    FILE *f = truth_open(dir, file);
    if (!f)
        return false;
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

#endif
