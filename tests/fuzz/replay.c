/* replay.c: runs the fuzz target without libFuzzer
 *
 *   fuzz-framer-replay [--random N] [FILE|DIR]...
 *
 * Runs every file given (a directory: every file in it, such as the seed
 * corpus), then N inputs from a fixed pseudo-random sequence, through
 * LLVMFuzzerTestOneInput(). Built with the normal compiler as part of the
 * test suite, so the corpus and a quick random sweep run everywhere; the
 * real fuzzing needs clang (run-fuzz.sh). Speaks TAP.
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static unsigned n_files;

static void
run_file (const char *path)
{
  FILE *f = fopen (path, "rb");
  uint8_t *data = NULL;
  size_t size = 0, cap = 0, n;
  uint8_t chunk[4096];

  if (f == NULL)
    {
      perror (path);
      exit (1);
    }
  while ((n = fread (chunk, 1, sizeof chunk, f)) > 0)
    {
      if (size + n > cap)
        {
          cap = (size + n) * 2;
          data = realloc (data, cap);
          if (data == NULL)
            abort ();
        }
      memcpy (data + size, chunk, n);
      size += n;
    }
  fclose (f);
  LLVMFuzzerTestOneInput (data, size);
  free (data);
  n_files++;
}

static void
run_path (const char *path)
{
  struct stat st;
  DIR *dir;
  struct dirent *entry;

  if (stat (path, &st) < 0)
    {
      perror (path);
      exit (1);
    }
  if (!S_ISDIR (st.st_mode))
    {
      run_file (path);
      return;
    }
  dir = opendir (path);
  while ((entry = readdir (dir)) != NULL)
    {
      char *child;

      if (entry->d_name[0] == '.')
        continue;
      child = malloc (strlen (path) + strlen (entry->d_name) + 2);
      sprintf (child, "%s/%s", path, entry->d_name);
      run_path (child);
      free (child);
    }
  closedir (dir);
}

int
main (int    argc,
      char **argv)
{
  unsigned long n_random = 0, i;
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  int a;

  printf ("1..2\n");
  for (a = 1; a < argc; a++)
    {
      if (strcmp (argv[a], "--random") == 0 && a + 1 < argc)
        n_random = strtoul (argv[++a], NULL, 10);
      else
        run_path (argv[a]);
    }
  printf ("ok 1 - %u corpus inputs\n", n_files);

  for (i = 0; i < n_random; i++)
    {
      uint8_t data[512];
      size_t size, j;

      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      size = (size_t) (state >> 33) % sizeof data;
      for (j = 0; j < size; j++)
        {
          state = state * 6364136223846793005ULL + 1442695040888963407ULL;
          data[j] = (uint8_t) (state >> 56);
        }
      LLVMFuzzerTestOneInput (data, size);
    }
  printf ("ok 2 - %lu pseudo-random inputs\n", n_random);
  return 0;
}
