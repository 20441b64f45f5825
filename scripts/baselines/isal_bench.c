/* ISA-L's igzip library called directly, in the shape of the kit's baseline rows: the input
 * cut into independent chunks, each compressed into one gzip member with
 * isal_deflate_stateless and inflated with isal_inflate_stateless, MB/s per core of
 * uncompressed bytes (as `zstd -b` and `lz4 -b` count), best of several timed passes.
 *
 * Built and run by scripts/baselines.sh against Debian's libisal-dev:
 *   cc -O2 -o isal_bench isal_bench.c -lisal
 *   isal_bench FILE CHUNK_BYTES LEVEL MIN_SECONDS
 * Prints one line: level, compress MB/s, decompress MB/s, ratio. */
#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* per core: time descheduled does not count */
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t level_buf_size(int level) {
	switch (level) {
	case 0: return ISAL_DEF_LVL0_DEFAULT;
	case 1: return ISAL_DEF_LVL1_DEFAULT;
	case 2: return ISAL_DEF_LVL2_DEFAULT;
	default: return ISAL_DEF_LVL3_DEFAULT;
	}
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: %s FILE CHUNK_BYTES LEVEL(0..3) MIN_SECONDS\n", argv[0]);
		return 2;
	}
	size_t chunk = strtoull(argv[2], NULL, 10);
	int level = atoi(argv[3]);
	double min_s = atof(argv[4]);
	if (chunk == 0 || level < 0 || level > ISAL_DEF_MAX_LEVEL || !(min_s > 0)) {
		fprintf(stderr, "isal_bench: bad chunk size, level (0..3) or seconds\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "isal_bench: cannot open %s\n", argv[1]);
		return 2;
	}
	fseek(f, 0, SEEK_END);
	size_t len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	len -= len % chunk; /* whole chunks only, as the Rust rows */
	size_t nchunks = len / chunk;
	if (nchunks == 0) {
		fprintf(stderr, "isal_bench: %s is smaller than one chunk\n", argv[1]);
		return 2;
	}
	uint8_t *src = malloc(len);
	if (fread(src, 1, len, f) != len) {
		fprintf(stderr, "isal_bench: short read of %s\n", argv[1]);
		return 2;
	}
	fclose(f);
	size_t cap = chunk + chunk / 8 + 1024;
	uint8_t *packed = malloc(cap * nchunks);
	size_t *packed_len = calloc(nchunks, sizeof(size_t));
	uint8_t *out = malloc(chunk);
	uint8_t *level_buf = malloc(level_buf_size(level));
	struct isal_zstream zs;
	struct inflate_state is;

	double best_c = 1e30, best_d = 1e30, spent = 0;
	size_t total_packed = 0;
	for (int pass = 0; pass < 100 && (pass < 3 || spent < min_s); pass++) {
		double t0 = now_s();
		total_packed = 0;
		for (size_t i = 0; i < nchunks; i++) {
			isal_deflate_stateless_init(&zs);
			zs.level = level;
			zs.level_buf = level_buf;
			zs.level_buf_size = level_buf_size(level);
			zs.gzip_flag = IGZIP_GZIP;
			zs.end_of_stream = 1;
			zs.flush = NO_FLUSH;
			zs.next_in = src + i * chunk;
			zs.avail_in = chunk;
			zs.next_out = packed + i * cap;
			zs.avail_out = cap;
			if (isal_deflate_stateless(&zs) != COMP_OK) {
				fprintf(stderr, "isal_bench: deflate failed\n");
				return 1;
			}
			packed_len[i] = zs.total_out;
			total_packed += zs.total_out;
		}
		double t1 = now_s();
		for (size_t i = 0; i < nchunks; i++) {
			isal_inflate_init(&is);
			is.crc_flag = ISAL_GZIP;
			is.next_in = packed + i * cap;
			is.avail_in = packed_len[i];
			is.next_out = out;
			is.avail_out = chunk;
			if (isal_inflate_stateless(&is) != ISAL_DECOMP_OK || is.total_out != chunk) {
				fprintf(stderr, "isal_bench: inflate failed\n");
				return 1;
			}
			/* The first pass checks every chunk against its source (untimed below). */
			if (pass == 0 && memcmp(out, src + i * chunk, chunk) != 0) {
				fprintf(stderr, "isal_bench: chunk %zu differs after a round trip\n", i);
				return 1;
			}
		}
		double t2 = now_s();
		double d = t2 - t1;
		if (pass == 0) d = 1e30;
		if (t1 - t0 < best_c) best_c = t1 - t0;
		if (d < best_d) best_d = d;
		spent += t2 - t0;
	}
	printf("%d\t%.1f\t%.1f\t%.3f\n", level, len / best_c / 1e6, len / best_d / 1e6,
	       (double)len / (double)total_packed);
	return 0;
}
