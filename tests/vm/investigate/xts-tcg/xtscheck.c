// SPDX-License-Identifier: GPL-2.0
/* Run the kernel's AES-XTS assembly (6.12 arch/x86/crypto/aes-xts-avx-x86_64.S)
 * in user space on random inputs; print a digest of every output and check
 * guard bytes around each buffer.  The same binary runs natively and under
 * qemu-x86_64 -cpu max (TCG): any difference is the emulator's. */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct crypto_aes_ctx { uint32_t key_enc[60]; uint32_t key_dec[60]; uint32_t key_length; };
typedef void (*xts_fn)(const struct crypto_aes_ctx *, const uint8_t *, uint8_t *, int, uint8_t *);
void aes_xts_encrypt_iv(const struct crypto_aes_ctx *, uint8_t *);
void aes_xts_encrypt_aesni_avx(const struct crypto_aes_ctx *, const uint8_t *, uint8_t *, int, uint8_t *);
void aes_xts_decrypt_aesni_avx(const struct crypto_aes_ctx *, const uint8_t *, uint8_t *, int, uint8_t *);
void aes_xts_encrypt_vaes_avx2(const struct crypto_aes_ctx *, const uint8_t *, uint8_t *, int, uint8_t *);
void aes_xts_decrypt_vaes_avx2(const struct crypto_aes_ctx *, const uint8_t *, uint8_t *, int, uint8_t *);

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }

static __m128i a256_1(__m128i t1, __m128i t2)
{
	__m128i t4;
	t2 = _mm_shuffle_epi32(t2, 0xff);
	t4 = _mm_slli_si128(t1, 4); t1 = _mm_xor_si128(t1, t4);
	t4 = _mm_slli_si128(t4, 4); t1 = _mm_xor_si128(t1, t4);
	t4 = _mm_slli_si128(t4, 4); t1 = _mm_xor_si128(t1, t4);
	return _mm_xor_si128(t1, t2);
}
static __m128i a256_2(__m128i t1, __m128i t3)
{
	__m128i t2, t4;
	t4 = _mm_aeskeygenassist_si128(t1, 0x0);
	t2 = _mm_shuffle_epi32(t4, 0xaa);
	t4 = _mm_slli_si128(t3, 4); t3 = _mm_xor_si128(t3, t4);
	t4 = _mm_slli_si128(t4, 4); t3 = _mm_xor_si128(t3, t4);
	t4 = _mm_slli_si128(t4, 4); t3 = _mm_xor_si128(t3, t4);
	return _mm_xor_si128(t3, t2);
}
#define KG(r, t1, t3, rc) do { t1 = a256_1(t1, _mm_aeskeygenassist_si128(t3, rc)); r[0] = t1; \
	if (&r[1] < ks + 15) { t3 = a256_2(t1, t3); r[1] = t3; } } while (0)
static void setkey(struct crypto_aes_ctx *c, const uint8_t *k)
{
	__m128i ks[15], t1 = _mm_loadu_si128((void *)k), t3 = _mm_loadu_si128((void *)(k + 16));
	int i;
	ks[0] = t1; ks[1] = t3;
	KG((ks + 2), t1, t3, 0x01); KG((ks + 4), t1, t3, 0x02); KG((ks + 6), t1, t3, 0x04);
	KG((ks + 8), t1, t3, 0x08); KG((ks + 10), t1, t3, 0x10); KG((ks + 12), t1, t3, 0x20);
	ks[14] = a256_1(t1, _mm_aeskeygenassist_si128(t3, 0x40));
	memcpy(c->key_enc, ks, 240);
	/* kernel layout: key_dec[0] = last round key, then InvMixColumns of the middle ones */
	_mm_storeu_si128((void *)&c->key_dec[0], ks[14]);
	for (i = 1; i < 14; i++)
		_mm_storeu_si128((void *)&c->key_dec[4 * i], _mm_aesimc_si128(ks[14 - i]));
	_mm_storeu_si128((void *)&c->key_dec[56], ks[0]);
	c->key_length = 32;
}

#define G 512
static uint8_t buf[2][G + 8192 + G] __attribute__((aligned(64)));

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 20000, it, bad = 0, v, nimpl = argc > 2 ? atoi(argv[2]) : 2;
	struct { const char *n; xts_fn e, d; } impl[] = {
		{ "aesni_avx", aes_xts_encrypt_aesni_avx, aes_xts_decrypt_aesni_avx },
		{ "vaes_avx2", aes_xts_encrypt_vaes_avx2, aes_xts_decrypt_vaes_avx2 },
	};
	uint64_t dig[2] = { 1469598103934665603ull, 1469598103934665603ull };
	static const int lens[] = { 16, 32, 48, 64, 96, 128, 256, 512, 1024, 2048, 4096, 8192 };

	for (it = 0; it < iters; it++) {
		struct crypto_aes_ctx k1, k2;
		uint8_t key[64], iv[16], tw[16], tw0[16];
		int len = rnd() & 1 ? lens[rnd() % 12] : 16 + (int)(rnd() % 8177);
		int so = (int)(rnd() % 64), dof = (int)(rnd() % 64), inplace = rnd() & 1, i;

		for (i = 0; i < 64; i++) key[i] = (uint8_t)rnd();
		for (i = 0; i < 16; i++) iv[i] = (uint8_t)rnd();
		setkey(&k1, key); setkey(&k2, key + 32);
		memcpy(tw0, iv, 16);
		aes_xts_encrypt_iv(&k2, tw0);
		for (v = 0; v < nimpl; v++) {
			uint8_t *src = buf[0] + G + so, *dst = inplace ? src : buf[1] + G + dof, ref[8192];
			memset(buf[0], 0xa5, sizeof(buf[0]));
			memset(buf[1], 0x5a, sizeof(buf[1]));
			for (i = 0; i < len; i++) src[i] = (uint8_t)(i * 7 + it);
			memcpy(ref, src, len);
			memcpy(tw, tw0, 16);
			impl[v].e(&k1, src, dst, len, tw);
			for (i = 0; i < len; i++) dig[v] = (dig[v] ^ dst[i]) * 1099511628211ull;
			memcpy(tw, tw0, 16);
			impl[v].d(&k1, dst, dst, len, tw);
			if (memcmp(dst, ref, len)) { printf("%s it %d len %d: decrypt(encrypt(x)) != x\n", impl[v].n, it, len); bad++; }
			for (i = 0; i < (int)sizeof(buf[0]); i++) {
				uint8_t *p0 = buf[0] + i, *p1 = buf[1] + i;
				int in0 = p0 >= src && p0 < src + len, in1 = p1 >= dst && p1 < dst + len;
				if ((!in0 && *p0 != 0xa5) || (!in1 && *p1 != 0x5a)) {
					printf("%s it %d len %d so %d do %d inplace %d: write outside the buffer at %d\n",
					       impl[v].n, it, len, so, dof, inplace, i);
					bad++;
					break;
				}
			}
		}
	}
	printf("digest");
	for (v = 0; v < nimpl; v++)
		printf(" %s %016llx", impl[v].n, (unsigned long long)dig[v]);
	printf(", %d problems in %d iterations\n", bad, iters);
	return bad != 0;
}
