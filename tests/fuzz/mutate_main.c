/* A self-contained mutation fuzzer for the model loader, so that every test
 * run fuzzes it for a few seconds with gcc alone; scripts/fuzz-libfuzzer.sh
 * runs the same target coverage-guided under clang's libFuzzer for longer.
 *
 * Seeds are valid tiny model files (tests/model/st_builder.c). Mutations
 * aim at the JSON header, where the parsing is: bytes and tokens that JSON
 * readers disagree on (quotes, escapes, control characters, \u0000, bad
 * UTF-8, odd numbers, deep nesting) inserted, replaced, deleted and
 * duplicated, with the header length usually fixed up so the parser sees
 * the change; now and then the data region, the length field or the size.
 *
 *   fuzz-model-load [ITERATIONS]        default 2000
 *   fuzz-model-load --write-seeds DIR   the seeds as files (libFuzzer corpus)
 * ADATOSK_FUZZ_SEED picks the random sequence (default 11; printed, so a
 * failure can be replayed). A broken contract aborts (fuzz_model_load.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz_model_load.h"
#include "st_builder.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tokens[] = {
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "\\u00e9",
    "\\\"",
    "\\x",
    "'",
    "\"",
    "\x01",
    "\t",
    "\n",
    "\x7f",
    "\xc0\xaf",
    "\xed\xa0\x80",
    "\xf4\x90\x80\x80",
    "\xc3\xa9",
    ",",
    ",]",
    ",}",
    ":",
    "{}",
    "[]",
    "[[[[[[[[[[[[[[[[",
    "null",
    "true",
    "NaN",
    "-Infinity",
    "01",
    "+1",
    "-0",
    "1e999",
    "1.",
    "0.5",
    "-1",
    "9223372036854775808",
    "18446744073709551616",
    "\"__metadata__\": {},",
    "\"F16\"",
    "\"BF16\"",
    "\"F64\"",
    "\"x\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]},",
};

static const guint8 interesting_bytes[] = {'"', '\'', '\\', 0, 1, 0x1f, 0x7f,
    0x80, 0xc0, 0xff, '{', '}', '[', ']', ',', ':', '-', '0', '9', 'e', '.',
    ' '};

static guint64
header_length (const GByteArray *file)
{
  guint64 length = 0;
  for (int i = 7; i >= 0; i--)
    length = length << 8 | file->data[i];
  return length;
}

static void
set_header_length (GByteArray *file, guint64 length)
{
  for (int i = 0; i < 8; i++)
    file->data[i] = (guint8) (length >> (8 * i));
}

/* One mutation. Returns the change of the header's size in bytes. */
static gint64
mutate_once (GByteArray *file, GRand *rand)
{
  guint64 header = MIN (header_length (file), file->len - 8);
  if (header == 0)
    return 0;
  guint at = 8 + (guint) g_rand_int_range (rand, 0, (gint32) header);
  switch (g_rand_int_range (rand, 0, 10)) {
    case 0:
      file->data[at] ^= (guint8) (1u << g_rand_int_range (rand, 0, 8));
      return 0;
    case 1:
      file->data[at] = interesting_bytes[g_rand_int_range (rand, 0,
          G_N_ELEMENTS (interesting_bytes))];
      return 0;
    case 2:
    case 3:
    case 4: {
      const char *token =
          tokens[g_rand_int_range (rand, 0, G_N_ELEMENTS (tokens))];
      /* g_byte_array has no insert; splice through a copy. */
      GByteArray *tail = g_byte_array_new ();
      g_byte_array_append (tail, file->data + at, file->len - at);
      g_byte_array_set_size (file, at);
      g_byte_array_append (file, (const guint8 *) token, strlen (token));
      g_byte_array_append (file, tail->data, tail->len);
      g_byte_array_unref (tail);
      return (gint64) strlen (token);
    }
    case 5:
    case 6: {
      guint count =
          MIN ((guint) g_rand_int_range (rand, 1, 17), 8 + (guint) header - at);
      g_byte_array_remove_range (file, at, count);
      return -(gint64) count;
    }
    case 7: {
      guint count =
          MIN ((guint) g_rand_int_range (rand, 1, 33), 8 + (guint) header - at);
      GByteArray *tail = g_byte_array_new ();
      g_byte_array_append (tail, file->data + at, file->len - at);
      g_byte_array_set_size (file, at);
      g_byte_array_append (file, tail->data, count);
      g_byte_array_append (file, tail->data, tail->len);
      g_byte_array_unref (tail);
      return count;
    }
    case 8:
      /* The data region or the length field. */
      if (g_rand_boolean (rand) && file->len > 8 + header) {
        guint data_at = 8 + (guint) header
            + (guint) g_rand_int_range (rand, 0,
                (gint32) (file->len - 8 - header));
        file->data[data_at] = (guint8) g_rand_int (rand);
      } else {
        set_header_length (file,
            header + (guint64) g_rand_int_range (rand, -3, 4));
      }
      return 0;
    default:
      /* A truncated file. */
      g_byte_array_set_size (file,
          (guint) g_rand_int_range (rand, 0, (gint32) file->len + 1));
      return 0;
  }
}

static GByteArray *
mutate (const GByteArray *seed, GRand *rand)
{
  GByteArray *file = g_byte_array_sized_new (seed->len + 64);
  g_byte_array_append (file, seed->data, seed->len);
  int rounds = g_rand_int_range (rand, 1, 5);
  for (int i = 0; i < rounds && file->len >= 8; i++) {
    guint64 before = header_length (file);
    gint64 change = mutate_once (file, rand);
    /* Mostly keep the length right, so the JSON parser sees the change
     * rather than a length that points into it. */
    if (change != 0 && file->len >= 8 && g_rand_int_range (rand, 0, 10) > 0)
      set_header_length (file, (guint64) ((gint64) before + change));
  }
  return file;
}

static GPtrArray *
make_seeds (void)
{
  GPtrArray *seeds =
      g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);
  StModel *st = st_model_new_tiny (FALSE);
  g_ptr_array_add (seeds, st_model_serialize (st));
  st_model_free (st);
  st = st_model_new_tiny (TRUE);
  g_ptr_array_add (seeds, st_model_serialize (st));
  st_model_free (st);
  /* Escapes, non-ASCII and a 16-bit tensor, so mutations start from them. */
  st = st_model_new_tiny (FALSE);
  st_model_set_metadata (st, "adatosk.labels",
      "[\"neu\\u0074ral\", \"h\\\"appy\", \"\xc3\xa9\\ud83d\\ude00\"]");
  StTensor *bias = st_model_find (st, "head.bias");
  const uint16_t halves[3] = {0x3c00, 0xbc00, 0x0000};
  st_tensor_set_u16 (bias, "F16", halves, 3);
  g_ptr_array_add (seeds, st_model_serialize (st));
  st_model_free (st);
  return seeds;
}

static int
write_seeds (const char *dir, GPtrArray *seeds)
{
  g_mkdir_with_parents (dir, 0755);
  for (guint i = 0; i < seeds->len; i++) {
    GByteArray *seed = g_ptr_array_index (seeds, i);
    char *path = g_strdup_printf ("%s/seed-%u.safetensors", dir, i);
    GError *error = NULL;
    if (!g_file_set_contents (path, (const char *) seed->data, seed->len,
            &error)) {
      g_printerr ("fuzz-model-load: %s\n", error->message);
      return 1;
    }
    g_free (path);
  }
  g_print ("fuzz-model-load: %u seeds written to %s\n", seeds->len, dir);
  return 0;
}

int
main (int argc, char **argv)
{
  GPtrArray *seeds = make_seeds ();
  if (argc == 3 && strcmp (argv[1], "--write-seeds") == 0) {
    int status = write_seeds (argv[2], seeds);
    g_ptr_array_unref (seeds);
    return status;
  }
  guint iterations = argc > 1 ? (guint) atoi (argv[1]) : 2000;
  const char *seed_text = g_getenv ("ADATOSK_FUZZ_SEED");
  guint32 seed = seed_text ? (guint32) atoi (seed_text) : 11;
  g_print ("fuzz-model-load: seed %u, %u iterations (ADATOSK_FUZZ_SEED)\n",
      seed, iterations);

  /* Every seed must load: otherwise the fuzz would only test rejections. */
  for (guint i = 0; i < seeds->len; i++) {
    GByteArray *file = g_ptr_array_index (seeds, i);
    if (!fuzz_model_load (file->data, file->len))
      g_error ("fuzz-model-load: seed %u is rejected", i);
  }

  GRand *rand = g_rand_new_with_seed (seed);
  gint64 start = g_get_monotonic_time ();
  guint accepted = 0;
  for (guint i = 0; i < iterations; i++) {
    GByteArray *seed_file = g_ptr_array_index (seeds,
        (guint) g_rand_int_range (rand, 0, (gint32) seeds->len));
    GByteArray *file = mutate (seed_file, rand);
    /* An exact-size copy: ASan and valgrind catch a read past the end. */
    gsize size = file->len;
    guint8 *exact = g_memdup2 (file->data, size);
    g_byte_array_unref (file);
    accepted += fuzz_model_load (exact, size);
    g_free (exact);
  }
  g_print ("fuzz-model-load: %u mutated files in %.1f s (%u accepted and "
           "run, %u rejected), contract held\n",
      iterations, (double) (g_get_monotonic_time () - start) / 1e6, accepted,
      iterations - accepted);
  g_rand_free (rand);
  g_ptr_array_unref (seeds);
  return 0;
}
