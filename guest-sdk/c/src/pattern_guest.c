/*
 * The C guest kit: the library exports (`describe`, `call`) built from
 * `pg_the_library`, and the helpers declared in pattern_guest.h.
 */
#include "pattern_guest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest error line pg_fail writes; longer ones are cut. */
#define PG_MAX_ERROR_LEN 1024

/* Most significant digits a double needs to read back exactly. */
#define PG_F64_MAX_DIGITS 17

static void *pg_alloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p) abort();
  return p;
}

/* ------------------------------------------------------------ exports */

static void param_list(exports_pattern_engine_library_list_param_t *out, const pg_param *params, size_t n) {
  out->len = n;
  out->ptr = n ? pg_alloc(n * sizeof(*out->ptr)) : NULL;
  for (size_t i = 0; i < n; i++) {
    pattern_string_dup(&out->ptr[i].name, params[i].name);
    pattern_string_dup(&out->ptr[i].doc, params[i].doc);
    out->ptr[i].optional = params[i].optional;
  }
}

/* A requested budget: none when 0. */
static void budget(pattern_option_u64_t *out, uint64_t value) {
  out->is_some = value != 0;
  out->val = value;
}

void exports_pattern_engine_library_describe(exports_pattern_engine_library_library_info_t *ret) {
  const pg_library *lib = &pg_the_library;
  pattern_string_dup(&ret->name, lib->name);
  pattern_string_dup(&ret->version, lib->version);
  ret->functions.len = lib->n_functions;
  ret->functions.ptr = pg_alloc(lib->n_functions * sizeof(*ret->functions.ptr));
  for (size_t i = 0; i < lib->n_functions; i++) {
    const pg_function *f = &lib->functions[i];
    exports_pattern_engine_library_function_info_t *info = &ret->functions.ptr[i];
    pattern_string_dup(&info->name, f->name);
    pattern_string_dup(&info->summary, f->summary);
    info->read_only = f->read_only;
    info->dynamic_keys = f->dynamic_keys;
    param_list(&info->keys, f->keys, f->n_keys);
    param_list(&info->args, f->args, f->n_args);
  }
  ret->key_prefixes.len = lib->n_key_prefixes;
  ret->key_prefixes.ptr = lib->n_key_prefixes ? pg_alloc(lib->n_key_prefixes * sizeof(*ret->key_prefixes.ptr)) : NULL;
  for (size_t i = 0; i < lib->n_key_prefixes; i++) {
    pattern_string_dup(&ret->key_prefixes.ptr[i], lib->key_prefixes[i]);
  }
  budget(&ret->budgets.deadline_ms, lib->budgets.deadline_ms);
  budget(&ret->budgets.fuel, lib->budgets.fuel);
  budget(&ret->budgets.memory_bytes, lib->budgets.memory_bytes);
  budget(&ret->budgets.max_host_calls, lib->budgets.max_host_calls);
  budget(&ret->budgets.max_reply_bytes, lib->budgets.max_reply_bytes);
}

bool exports_pattern_engine_library_call(pattern_string_t *function, exports_pattern_engine_library_list_bytes_t *keys,
                                         exports_pattern_engine_library_list_bytes_t *args,
                                         exports_pattern_engine_library_reply_t *ret,
                                         exports_pattern_engine_library_error_t *err) {
  const pg_function *found = NULL;
  for (size_t i = 0; i < pg_the_library.n_functions; i++) {
    const char *name = pg_the_library.functions[i].name;
    if (strlen(name) == function->len && memcmp(name, function->ptr, function->len) == 0) {
      found = &pg_the_library.functions[i];
      break;
    }
  }
  ret->ptr = NULL;
  ret->len = 0;
  bool ok;
  if (found) {
    pg_args view = {args->ptr, args->len};
    ok = found->handler(keys, &view, ret, err);
  } else {
    ok = pg_fail(err, "ERR unknown function '%.*s'", (int)function->len, (const char *)function->ptr);
  }
  if (!ok) {
    pattern_engine_types_reply_free(ret);
  }
  /* The inputs are the callee's to free; stdout reaches the log per call. */
  pattern_string_free(function);
  exports_pattern_engine_library_list_bytes_free(keys);
  exports_pattern_engine_library_list_bytes_free(args);
  fflush(stdout);
  return ok;
}

/* ------------------------------------------------------------------ errors */

bool pg_fail(pg_error *err, const char *format, ...) {
  char *line = pg_alloc(PG_MAX_ERROR_LEN);
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(line, PG_MAX_ERROR_LEN, format, ap);
  va_end(ap);
  err->tag = PATTERN_ENGINE_TYPES_ERROR_GUEST;
  err->val.guest.ptr = (uint8_t *)line;
  err->val.guest.len = n < 0 ? 0 : (size_t)n < PG_MAX_ERROR_LEN ? (size_t)n : PG_MAX_ERROR_LEN - 1;
  return false;
}

/* ------------------------------------------------------- keys, arguments */

bool pg_expect_keys(const pg_list *keys, size_t n, const char *usage, pg_error *err) {
  if (keys->len == n) return true;
  return pg_fail(err, "ERR expected %zu key(s): %s", n, usage);
}

bool pg_expect_count(const pg_args *args, size_t min, size_t max, const char *usage, pg_error *err) {
  if (args->len >= min && args->len <= max) return true;
  return pg_fail(err, "ERR wrong number of arguments: expected %s", usage);
}

bool pg_has_arg(const pg_args *args, size_t i) { return i < args->len; }

/* Whether `text` is valid UTF-8 (what Rust's `str::from_utf8` accepts). */
static bool valid_utf8(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= len) return false;
    for (size_t k = 1; k <= extra; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static const uint32_t min_for[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_for[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

/* Argument `i` as text, or the Rust SDK's error for a missing or non-UTF-8 one. */
static bool arg_text(const pg_args *args, size_t i, const char *name, const pg_bytes **out, pg_error *err) {
  if (i >= args->len) return pg_fail(err, "ERR missing argument <%s>", name);
  if (!valid_utf8(args->items[i].ptr, args->items[i].len)) return pg_fail(err, "ERR <%s> must be UTF-8 text", name);
  *out = &args->items[i];
  return true;
}

static bool not_a(const pg_bytes *text, const char *name, const char *what, pg_error *err) {
  return pg_fail(err, "ERR <%s> must be %s, got '%.*s'", name, what, (int)text->len, (const char *)text->ptr);
}

bool pg_parse_u64(const uint8_t *s, size_t len, uint64_t *out) {
  size_t i = 0;
  if (len > 0 && s[0] == '+') i = 1;
  if (i == len) return false;
  uint64_t v = 0;
  for (; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    uint64_t d = s[i] - '0';
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool pg_parse_i64(const uint8_t *s, size_t len, int64_t *out) {
  bool negative = len > 0 && s[0] == '-';
  uint64_t magnitude;
  if (negative) {
    if (len > 1 && s[1] == '+') return false;
    if (!pg_parse_u64(s + 1, len - 1, &magnitude) || magnitude > (uint64_t)INT64_MAX + 1) return false;
    *out = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
    return true;
  }
  if (!pg_parse_u64(s, len, &magnitude) || magnitude > (uint64_t)INT64_MAX) return false;
  *out = (int64_t)magnitude;
  return true;
}

static bool equals_ignore_case(const uint8_t *s, size_t len, const char *word) {
  size_t n = strlen(word);
  if (len != n) return false;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    if (c != (uint8_t)word[i]) return false;
  }
  return true;
}

/* Longest float text pg_parse_f64 reads. */
#define PG_MAX_F64_TEXT 512

bool pg_parse_f64(const uint8_t *s, size_t len, double *out) {
  size_t i = 0;
  bool negative = false;
  if (len > 0 && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    i = 1;
  }
  const uint8_t *rest = s + i;
  size_t rest_len = len - i;
  if (equals_ignore_case(rest, rest_len, "inf") || equals_ignore_case(rest, rest_len, "infinity")) {
    *out = negative ? -INFINITY : INFINITY;
    return true;
  }
  if (equals_ignore_case(rest, rest_len, "nan")) {
    *out = NAN;
    return true;
  }
  /* Rust's grammar: digits [. digits] | . digits, then [eE][+-]digits. */
  size_t j = i, int_digits = 0, frac_digits = 0;
  while (j < len && s[j] >= '0' && s[j] <= '9') j++, int_digits++;
  if (j < len && s[j] == '.') {
    j++;
    while (j < len && s[j] >= '0' && s[j] <= '9') j++, frac_digits++;
  }
  if (int_digits + frac_digits == 0) return false;
  if (j < len && (s[j] == 'e' || s[j] == 'E')) {
    j++;
    if (j < len && (s[j] == '+' || s[j] == '-')) j++;
    size_t exp_digits = 0;
    while (j < len && s[j] >= '0' && s[j] <= '9') j++, exp_digits++;
    if (exp_digits == 0) return false;
  }
  if (j != len || len >= PG_MAX_F64_TEXT) return false;
  char buf[PG_MAX_F64_TEXT];
  memcpy(buf, s, len);
  buf[len] = '\0';
  *out = strtod(buf, NULL);
  return true;
}

bool pg_arg_u64(const pg_args *args, size_t i, const char *name, uint64_t *out, pg_error *err) {
  const pg_bytes *text;
  if (!arg_text(args, i, name, &text, err)) return false;
  if (!pg_parse_u64(text->ptr, text->len, out)) return not_a(text, name, "a non-negative integer", err);
  return true;
}

bool pg_arg_positive(const pg_args *args, size_t i, const char *name, uint64_t *out, pg_error *err) {
  if (!pg_arg_u64(args, i, name, out, err)) return false;
  if (*out == 0) return pg_fail(err, "ERR <%s> must be a positive integer, got '0'", name);
  return true;
}

bool pg_arg_i64(const pg_args *args, size_t i, const char *name, int64_t *out, pg_error *err) {
  const pg_bytes *text;
  if (!arg_text(args, i, name, &text, err)) return false;
  if (!pg_parse_i64(text->ptr, text->len, out)) return not_a(text, name, "an integer", err);
  return true;
}

bool pg_arg_f64(const pg_args *args, size_t i, const char *name, double *out, pg_error *err) {
  const pg_bytes *text;
  if (!arg_text(args, i, name, &text, err)) return false;
  if (!pg_parse_f64(text->ptr, text->len, out)) return not_a(text, name, "a number", err);
  if (!isfinite(*out)) return pg_fail(err, "ERR <%s> must be a finite number", name);
  return true;
}

/* ------------------------------------------------------------ bytes, text */

pg_bytes pg_str(const char *text) {
  pg_bytes b = {(uint8_t *)text, strlen(text)};
  return b;
}

char *pg_format_f64(double value, char *buf, size_t size) {
  for (int digits = 1; digits <= PG_F64_MAX_DIGITS; digits++) {
    snprintf(buf, size, "%.*g", digits, value);
    if (strtod(buf, NULL) == value) break;
  }
  return buf;
}

/* ------------------------------------------------------------------- redis */

bool pg_now_ms(uint64_t *out, pg_error *err) {
  pattern_engine_redis_server_time_t t;
  if (!pattern_engine_redis_time(&t, err)) return false;
  *out = t.seconds * 1000 + t.microseconds / 1000;
  return true;
}

/* ------------------------------------------------------------------ replies */

static pattern_engine_types_node_t *push(pg_reply *reply, uint8_t tag) {
  reply->ptr = realloc(reply->ptr, (reply->len + 1) * sizeof(*reply->ptr));
  if (!reply->ptr) abort();
  pattern_engine_types_node_t *node = &reply->ptr[reply->len++];
  memset(node, 0, sizeof(*node));
  node->tag = tag;
  return node;
}

void pg_reply_nil(pg_reply *reply) { push(reply, PATTERN_ENGINE_TYPES_NODE_NIL); }

void pg_reply_int(pg_reply *reply, int64_t value) {
  push(reply, PATTERN_ENGINE_TYPES_NODE_INTEGER)->val.integer = value;
}

void pg_reply_bool(pg_reply *reply, bool value) {
  push(reply, PATTERN_ENGINE_TYPES_NODE_BOOLEAN)->val.boolean = value;
}

void pg_reply_double(pg_reply *reply, double value) {
  push(reply, PATTERN_ENGINE_TYPES_NODE_DOUBLE)->val.double_ = value;
}

void pg_reply_bulk(pg_reply *reply, const uint8_t *data, size_t len) {
  pattern_engine_types_node_t *node = push(reply, PATTERN_ENGINE_TYPES_NODE_BULK);
  node->val.bulk.ptr = pg_alloc(len);
  memcpy(node->val.bulk.ptr, data, len);
  node->val.bulk.len = len;
}

void pg_reply_status(pg_reply *reply, const char *text) {
  pattern_string_dup(&push(reply, PATTERN_ENGINE_TYPES_NODE_STATUS)->val.status, text);
}

void pg_reply_array(pg_reply *reply, uint32_t n) { push(reply, PATTERN_ENGINE_TYPES_NODE_ARRAY)->val.array = n; }
