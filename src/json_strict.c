/* A strict RFC 8259 syntax check for untrusted JSON text, run before
 * json-glib parses it. json-glib's scanner (GScanner) is lenient where other
 * safetensors readers are not: it takes 'single-quoted' strings, raw control
 * characters inside strings and \u0000 (which then cuts a C string short, so
 * "a\u0000b" and "a" name the same tensor). A file this loader accepts must
 * be one that every strict reader accepts and reads the same way.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json_strict.h"

#include "error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A valid header nests three levels deep; anything near this is hostile, and
 * the bound keeps this recursive reader's stack small. */
#define MAX_JSON_DEPTH 32

typedef struct
{
  const unsigned char *text;
  size_t length;
  size_t pos;
  int depth;
  char problem[200]; /* what is wrong, in words, once found */
  size_t at;         /* the byte where it was found */
} Reader;

static bool __attribute__ ((format (printf, 3, 4)))
fail (Reader *r, size_t at, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  vsnprintf (r->problem, sizeof r->problem, format, args);
  va_end (args);
  r->at = at;
  return false;
}

static bool
at_end (const Reader *r)
{
  return r->pos >= r->length;
}

static void
skip_space (Reader *r)
{
  while (!at_end (r)) {
    unsigned char c = r->text[r->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      break;
    r->pos++;
  }
}

static int
hex_value (unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Reads the four hex digits after "\u" at r->pos. */
static bool
read_hex4 (Reader *r, size_t escape_at, unsigned *code)
{
  if (r->length - r->pos < 4)
    return fail (r, escape_at, "a \\u escape without four hex digits");
  unsigned value = 0;
  for (int i = 0; i < 4; i++) {
    int digit = hex_value (r->text[r->pos + i]);
    if (digit < 0)
      return fail (r, escape_at, "a \\u escape without four hex digits");
    value = value << 4 | (unsigned) digit;
  }
  r->pos += 4;
  *code = value;
  return true;
}

/* r->pos is just past the backslash. */
static bool
read_escape (Reader *r)
{
  size_t escape_at = r->pos - 1;
  if (at_end (r))
    return fail (r, escape_at, "a string that ends in a backslash");
  unsigned char c = r->text[r->pos++];
  switch (c) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      return true;
    case 'u':
      break;
    default:
      if (c >= 0x20 && c < 0x7f)
        return fail (r, escape_at, "an invalid escape '\\%c' in a string", c);
      return fail (r, escape_at, "an invalid escape in a string");
  }

  unsigned code;
  if (!read_hex4 (r, escape_at, &code))
    return false;
  if (code == 0)
    return fail (r, escape_at,
        "an escaped NUL (\\u0000) in a string (names and labels are C "
        "strings, which a NUL would cut short)");
  if (code >= 0xdc00 && code <= 0xdfff)
    return fail (r, escape_at,
        "an unpaired UTF-16 surrogate \\u%04x in a string (a low surrogate "
        "without a high one before it)",
        code);
  if (code >= 0xd800 && code <= 0xdbff) {
    unsigned low = 0;
    if (r->length - r->pos < 2 || r->text[r->pos] != '\\'
        || r->text[r->pos + 1] != 'u')
      return fail (r, escape_at,
          "an unpaired UTF-16 surrogate \\u%04x in a string (a high "
          "surrogate not followed by a low one)",
          code);
    r->pos += 2;
    if (!read_hex4 (r, r->pos - 2, &low))
      return false;
    if (low < 0xdc00 || low > 0xdfff)
      return fail (r, escape_at,
          "an unpaired UTF-16 surrogate \\u%04x in a string (a high "
          "surrogate not followed by a low one)",
          code);
  }
  return true;
}

/* One UTF-8 sequence starting at r->pos (its first byte is >= 0x80):
 * shortest form, no surrogates, at most U+10FFFF (RFC 3629). */
static bool
read_utf8 (Reader *r)
{
  size_t start = r->pos;
  const unsigned char *s = r->text + start;
  size_t left = r->length - start;
  unsigned char c = s[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0)
      lo = 0xa0; /* overlong */
    if (c == 0xed)
      hi = 0x9f; /* surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0)
      lo = 0x90; /* overlong */
    if (c == 0xf4)
      hi = 0x8f; /* beyond U+10FFFF */
  } else {
    return fail (r, start,
        "a byte (0x%02x) that is not UTF-8 (RFC 8259 "
        "requires UTF-8 text)",
        c);
  }
  if (left < n || s[1] < lo || s[1] > hi)
    return fail (r, start,
        "a byte sequence that is not UTF-8 (RFC 8259 "
        "requires UTF-8 text)");
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return fail (r, start,
          "a byte sequence that is not UTF-8 (RFC 8259 "
          "requires UTF-8 text)");
  r->pos += n;
  return true;
}

/* r->pos is at the opening double quote. */
static bool
read_string (Reader *r)
{
  size_t start = r->pos++;
  for (;;) {
    if (at_end (r))
      return fail (r, start, "a string without its closing double quote");
    unsigned char c = r->text[r->pos];
    if (c == '"') {
      r->pos++;
      return true;
    }
    if (c < 0x20)
      return fail (r, r->pos,
          "a raw control character (0x%02x) inside a string (JSON requires "
          "it escaped, e.g. \\n, \\t or \\u%04x)",
          c, c);
    if (c == '\\') {
      r->pos++;
      if (!read_escape (r))
        return false;
    } else if (c >= 0x80) {
      if (!read_utf8 (r))
        return false;
    } else {
      r->pos++;
    }
  }
}

static bool
is_digit (const Reader *r)
{
  return !at_end (r) && r->text[r->pos] >= '0' && r->text[r->pos] <= '9';
}

static void
skip_digits (Reader *r)
{
  while (is_digit (r))
    r->pos++;
}

/* number = [ "-" ] ( "0" / digit1-9 *digit ) [ "." 1*digit ]
 *          [ ( "e" / "E" ) [ "+" / "-" ] 1*digit ] */
static bool
read_number (Reader *r)
{
  size_t start = r->pos;
  if (r->text[r->pos] == '-')
    r->pos++;
  if (!is_digit (r))
    return fail (r, start,
        "a '-' without digits after it (JSON has no "
        "-Infinity; numbers are decimal)");
  if (r->text[r->pos] == '0') {
    r->pos++;
    if (is_digit (r))
      return fail (r, start, "a number with a leading zero");
  } else {
    skip_digits (r);
  }
  if (!at_end (r) && r->text[r->pos] == '.') {
    r->pos++;
    if (!is_digit (r))
      return fail (r, start, "a number with no digits after its '.'");
    skip_digits (r);
  }
  if (!at_end (r) && (r->text[r->pos] == 'e' || r->text[r->pos] == 'E')) {
    r->pos++;
    if (!at_end (r) && (r->text[r->pos] == '+' || r->text[r->pos] == '-'))
      r->pos++;
    if (!is_digit (r))
      return fail (r, start, "a number with no digits in its exponent");
    skip_digits (r);
  }
  return true;
}

static bool
read_word (Reader *r)
{
  static const char *const words[] = {"true", "false", "null"};
  size_t left = r->length - r->pos;
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen (words[i]);
    if (left >= n && memcmp (r->text + r->pos, words[i], n) == 0) {
      r->pos += n;
      return true;
    }
  }
  return fail (r, r->pos,
      "an unknown word (JSON's only words are true, false and null)");
}

static bool read_value (Reader *r);

static bool
enter (Reader *r)
{
  if (++r->depth > MAX_JSON_DEPTH)
    return fail (r, r->pos,
        "lists/objects nested more than %d levels deep (a model header "
        "needs three)",
        MAX_JSON_DEPTH);
  r->pos++;
  skip_space (r);
  return true;
}

/* After a ',' in an object or list: a closing bracket here is a trailing
 * comma, which JSON does not allow. */
static bool
check_not_closing (Reader *r, char closing)
{
  if (!at_end (r) && r->text[r->pos] == (unsigned char) closing)
    return fail (r, r->pos, "a trailing comma before '%c'", closing);
  return true;
}

static bool
read_object (Reader *r)
{
  if (!enter (r))
    return false;
  if (!at_end (r) && r->text[r->pos] == '}') {
    r->pos++;
    r->depth--;
    return true;
  }
  for (;;) {
    if (at_end (r))
      return fail (r, r->pos, "an object without its closing '}'");
    unsigned char c = r->text[r->pos];
    if (c == '\'')
      return fail (r, r->pos,
          "a string in single quotes (JSON strings use "
          "double quotes)");
    if (c != '"')
      return fail (r, r->pos,
          "an object member name that is not a double-quoted string");
    if (!read_string (r))
      return false;
    skip_space (r);
    if (at_end (r) || r->text[r->pos] != ':')
      return fail (r, r->pos, "an object member name without ':' after it");
    r->pos++;
    if (!read_value (r))
      return false;
    skip_space (r);
    if (at_end (r))
      return fail (r, r->pos, "an object without its closing '}'");
    if (r->text[r->pos] == '}') {
      r->pos++;
      r->depth--;
      return true;
    }
    if (r->text[r->pos] != ',')
      return fail (r, r->pos,
          "an object member followed by neither ',' nor "
          "'}'");
    r->pos++;
    skip_space (r);
    if (!check_not_closing (r, '}'))
      return false;
  }
}

static bool
read_array (Reader *r)
{
  if (!enter (r))
    return false;
  if (!at_end (r) && r->text[r->pos] == ']') {
    r->pos++;
    r->depth--;
    return true;
  }
  for (;;) {
    if (!read_value (r))
      return false;
    skip_space (r);
    if (at_end (r))
      return fail (r, r->pos, "a list without its closing ']'");
    if (r->text[r->pos] == ']') {
      r->pos++;
      r->depth--;
      return true;
    }
    if (r->text[r->pos] != ',')
      return fail (r, r->pos,
          "a list element followed by neither ',' nor "
          "']'");
    r->pos++;
    skip_space (r);
    if (!check_not_closing (r, ']'))
      return false;
  }
}

static bool
read_value (Reader *r)
{
  skip_space (r);
  if (at_end (r))
    return fail (r, r->pos, "the text ends where a value was expected");
  unsigned char c = r->text[r->pos];
  switch (c) {
    case '{':
      return read_object (r);
    case '[':
      return read_array (r);
    case '"':
      return read_string (r);
    case '\'':
      return fail (r, r->pos,
          "a string in single quotes (JSON strings use "
          "double quotes)");
    case '-':
      return read_number (r);
    case 't':
    case 'f':
    case 'n':
      return read_word (r);
    default:
      break;
  }
  if (c >= '0' && c <= '9')
    return read_number (r);
  if (c == '+')
    return fail (r, r->pos, "a number with a '+' sign");
  if (c > 0x20 && c < 0x7f)
    return fail (r, r->pos, "an unexpected '%c' where a value was expected", c);
  return fail (r, r->pos,
      "an unexpected byte 0x%02x where a value was expected", c);
}

AdatoskStatus
adatosk_json_check_strict (const char *text, size_t length, const char *what,
    AdatoskError *error)
{
  Reader r = {.text = (const unsigned char *) text, .length = length};
  skip_space (&r);
  if (at_end (&r))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "%s is empty where JSON was expected", what);
  /* json-glib takes any value at the top, but every text read here is an
   * object or a list, and saying so is the clearer message. */
  if (r.text[r.pos] != '{' && r.text[r.pos] != '[')
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "%s is not a JSON object or list", what);

  bool ok = read_value (&r);
  if (ok) {
    skip_space (&r);
    if (!at_end (&r))
      ok = fail (&r, r.pos, "more text follows the end of its value");
  }
  if (!ok)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "%s is not valid JSON: %s (at byte %zu)", what, r.problem, r.at);
  return ADATOSK_OK;
}
