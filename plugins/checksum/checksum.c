/*
 * checksum.c - a shared-object plugin of dmt (see docs/plugins.md): hashes
 * the variable `text` with SHA-256 or 64-bit FNV-1a and records the hex
 * digest as the output `hash`.
 *
 * Build: cc -shared -fPIC -Iinclude -o build/plugins/checksum.so plugins/checksum/checksum.c
 */
#include <dmt/plugin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* --- SHA-256 (FIPS 180-4) ------------------------------------------------- */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64], a, b, c, d, e, f, g, k;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

/* Writes the hex SHA-256 of data into out (65 bytes). */
static void sha256_hex(const unsigned char *data, size_t len, char out[65]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    unsigned char tail[128] = {0};
    size_t full = len / 64 * 64, rest = len - full;
    for (size_t i = 0; i < full; i += 64)
        sha256_block(h, data + i);
    memcpy(tail, data + full, rest);
    tail[rest] = 0x80;
    size_t tlen = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tlen - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t i = 0; i < tlen; i += 64)
        sha256_block(h, tail + i);
    for (int i = 0; i < 8; i++)
        snprintf(out + 8 * i, 9, "%08x", h[i]);
}

/* --- FNV-1a, 64 bits ------------------------------------------------------ */

static void fnv1a64_hex(const unsigned char *data, size_t len, char out[17]) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= data[i];
        h *= 0x100000001b3ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* --- the plugin ----------------------------------------------------------- */

static const char *const algorithms[] = {"sha256", "fnv1a64", NULL};

static const struct dmt_plugin_var vars[] = {
    {.name = "text", .type = "text", .required = 1, .description = "The text to hash."},
    {.name = "algorithm",
     .type = "enum",
     .default_json = "\"sha256\"",
     .description = "The hash function.",
     .values = algorithms},
};

static int run(const struct dmt_plugin_ctx *ctx) {
    const char *text = ctx->get(ctx, "text");
    const char *algo = ctx->get(ctx, "algorithm");
    char hex[65];
    if (text == NULL) {
        fprintf(stderr, "checksum: the variable 'text' has no value\n");
        return 2;
    }
    if (algo == NULL || strcmp(algo, "sha256") == 0) {
        algo = "sha256";
        sha256_hex((const unsigned char *)text, strlen(text), hex);
    } else if (strcmp(algo, "fnv1a64") == 0) {
        fnv1a64_hex((const unsigned char *)text, strlen(text), hex);
    } else {
        fprintf(stderr, "checksum: unknown algorithm '%s'\n", algo);
        return 2;
    }
    printf("%s %s\n", algo, hex);
    if (ctx->output(ctx, "hash", hex) != 0) {
        perror("checksum: cannot record the output");
        return 1;
    }
    return 0;
}

DMT_PLUGIN_EXPORT const struct dmt_plugin dmt_plugin = {
    .abi = DMT_PLUGIN_ABI,
    .name = "checksum",
    .version = "1.0.0",
    .summary = "Hashes a text (SHA-256 or FNV-1a) into the output 'hash'.",
    .vars = vars,
    .nvars = sizeof(vars) / sizeof(vars[0]),
    .run = run,
};
