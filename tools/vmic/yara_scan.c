/* libyara for vmic yara (yara_scan.h). */
#include "yara_scan.h"

#include <stdio.h>

#ifndef VMIC_HAVE_YARA

bool yara_available(char *why, size_t size)
{
    snprintf(why, size, "this vmic was built without libyara: install libyara-dev "
             "(scripts/install-deps.sh does) and build again");
    return false;
}

yara_rules *yara_load(const char *path, char *err, size_t size)
{
    (void)path;
    yara_available(err, size);
    return NULL;
}

void yara_free(yara_rules *r)
{
    (void)r;
}

int yara_scan(yara_rules *r, const uint8_t *buf, size_t len, uint64_t base, yara_match_fn fn,
              void *arg, char *err, size_t size)
{
    (void)r, (void)buf, (void)len, (void)base, (void)fn, (void)arg;
    yara_available(err, size);
    return -1;
}

#else

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yara.h>

struct yara_rules {
    YR_RULES *rules;
};

/* The compiler's errors, one a line, into the caller's buffer. */
typedef struct compile_log {
    char *buf;
    size_t size, used;
} compile_log;

static void on_compile_message(int level, const char *file, int line, const YR_RULE *rule,
                               const char *message, void *user)
{
    (void)rule;
    compile_log *l = user;
    if (level != YARA_ERROR_LEVEL_ERROR || l->used >= l->size)
        return;
    int n = snprintf(l->buf + l->used, l->size - l->used, "%s%s:%d: %s", l->used ? "; " : "",
                     file ? file : "?", line, message);
    if (n > 0)
        l->used += (size_t)n < l->size - l->used ? (size_t)n : l->size - l->used - 1;
}

static bool is_rules_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".yar") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".yara") == 0);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One file into the compiler, its name as the namespace (rules of two
 * files may share identifiers). Returns the errors it had. */
static int add_file(YR_COMPILER *c, const char *path, compile_log *log)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(log->buf, log->size, "%s: %s", path, strerror(errno));
        log->used = strlen(log->buf);
        return 1;
    }
    const char *slash = strrchr(path, '/');
    int errors = yr_compiler_add_file(c, f, slash ? slash + 1 : path, path);
    fclose(f);
    return errors;
}

/* A directory's rules files, in name order (so that a run is repeatable). */
static int add_dir(YR_COMPILER *c, const char *dir, compile_log *log)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(log->buf, log->size, "%s: %s", dir, strerror(errno));
        log->used = strlen(log->buf);
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int errors = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !errors) {
        if (!is_rules_file(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **more = realloc(names, cap * sizeof *names);
            if (!more) {
                errors = 1;
                break;
            }
            names = more;
        }
        if (!(names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2)))
            errors = 1;
        else
            sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (!errors && n == 0) {
        snprintf(log->buf, log->size, "%s: no .yar or .yara file in it", dir);
        log->used = strlen(log->buf);
        errors = 1;
    }
    if (names)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n && !errors; i++)
        errors = add_file(c, names[i], log);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return errors;
}

bool yara_available(char *why, size_t size)
{
    (void)why, (void)size;
    return true;
}

yara_rules *yara_load(const char *path, char *err, size_t size)
{
    compile_log log = {err, size, 0};
    struct stat st;
    YR_COMPILER *c = NULL;
    yara_rules *r = NULL;

    err[0] = '\0';
    if (stat(path, &st) != 0) {
        snprintf(err, size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (yr_initialize() != ERROR_SUCCESS) {
        snprintf(err, size, "libyara did not initialize");
        return NULL;
    }
    if (yr_compiler_create(&c) != ERROR_SUCCESS) {
        snprintf(err, size, "libyara: no memory for a compiler");
        yr_finalize();
        return NULL;
    }
    yr_compiler_set_callback(c, on_compile_message, &log);
    int errors = S_ISDIR(st.st_mode) ? add_dir(c, path, &log) : add_file(c, path, &log);
    if (errors == 0 && (r = calloc(1, sizeof *r)) &&
        yr_compiler_get_rules(c, &r->rules) != ERROR_SUCCESS) {
        snprintf(err, size, "libyara: the rules of %s did not link", path);
        free(r);
        r = NULL;
    }
    yr_compiler_destroy(c);
    if (!r) {
        if (!err[0])
            snprintf(err, size, "%s: the rules did not compile", path);
        yr_finalize();
    }
    return r;
}

void yara_free(yara_rules *r)
{
    if (!r)
        return;
    yr_rules_destroy(r->rules);
    free(r);
    yr_finalize();
}

typedef struct scan {
    uint64_t base;
    yara_match_fn fn;
    void *arg;
    bool stopped;
} scan;

static int on_scan_message(YR_SCAN_CONTEXT *ctx, int message, void *data, void *user)
{
    scan *s = user;
    if (message != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    YR_RULE *rule = data;
    YR_STRING *string;
    yr_rule_strings_foreach(rule, string)
    {
        YR_MATCH *match;
        yr_string_matches_foreach(ctx, string, match)
        {
            yara_match m = {
                .rule = rule->identifier, .ns = rule->ns ? rule->ns->name : "",
                .string = string->identifier,
                .addr = s->base + (uint64_t)match->base + (uint64_t)match->offset,
                .length = (uint32_t)match->match_length,
            };
            if (s->fn(s->arg, &m)) {
                s->stopped = true;
                return CALLBACK_ABORT;
            }
        }
    }
    return CALLBACK_CONTINUE;
}

int yara_scan(yara_rules *r, const uint8_t *buf, size_t len, uint64_t base, yara_match_fn fn,
              void *arg, char *err, size_t size)
{
    scan s = {base, fn, arg, false};
    /* No timeout: guest memory is bounded by the caller, and a rule's cost
     * is the user's choice. */
    int rc = yr_rules_scan_mem(r->rules, buf, len, 0, on_scan_message, &s, 0);
    if (rc == ERROR_SUCCESS || (s.stopped && rc == ERROR_SUCCESS))
        return 0;
    snprintf(err, size, "libyara: scan failed (error %d%s)", rc,
             rc == ERROR_TOO_MANY_MATCHES ? ": too many matches of one string" : "");
    return -1;
}

#endif
