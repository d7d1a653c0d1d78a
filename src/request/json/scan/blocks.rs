//! Classifying 64 bytes at a time: for each byte of a block, whether it is a quote, a
//! backslash, a control byte, one of the six structural characters or whitespace, as one bit
//! per byte in five words. x86-64 does it with vector compares: SSE2 (16 bytes at a time, part
//! of the architecture's baseline) or AVX2 (32 bytes), chosen at each call from what the CPU
//! has (std caches the answer); `Portable` does it a byte at a time, as the tests' reference.
//!
//! This is one of the crate's reviewed exceptions to `unsafe_code`: the vector loads read
//! through a pointer, and AVX2 code may run only on a CPU that has it. Every `unsafe` block
//! says why it holds, and the tests compare each classifier with [`Portable`] on every length
//! and offset of a block.

/// What the bytes of a block are: bit `k` of each word stands for byte `k`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Masks {
    pub quote: u64,
    pub backslash: u64,
    /// Bytes below 0x20 (not allowed inside strings).
    pub control: u64,
    /// `{`, `}`, `[`, `]`, `:` and `,`.
    pub op: u64,
    /// Space, tab, line feed and carriage return.
    pub ws: u64,
}

use super::structurals::{Blocks, Stop, CAP};

/// A way of classifying blocks.
pub trait Classify: Copy {
    fn classify(self, block: &[u8; 64]) -> Masks;

    /// The positions of the next blocks ([`Blocks::fill`]), classified this way.
    fn fill(self, blocks: &mut Blocks, t: &[u8], out: &mut [u32; CAP]) -> Result<usize, Stop> {
        blocks.fill(t, out, self)
    }
}

/// A byte at a time: the reference the vector classifiers are tested against.
#[cfg(any(test, fuzzing))]
#[derive(Debug, Clone, Copy)]
pub struct Portable;

#[cfg(any(test, fuzzing))]
impl Classify for Portable {
    fn classify(self, block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for (k, &b) in block.iter().enumerate() {
            let bit = 1u64 << k;
            match b {
                b'"' => m.quote |= bit,
                b'\\' => m.backslash |= bit,
                b'{' | b'}' | b'[' | b']' | b':' | b',' => m.op |= bit,
                b' ' => m.ws |= bit,
                b'\t' | b'\n' | b'\r' => {
                    m.ws |= bit;
                    m.control |= bit;
                }
                0..0x20 => m.control |= bit,
                _ => {}
            }
        }
        m
    }
}

#[cfg(all(target_arch = "x86_64", any(test, fuzzing)))]
pub use x86::avx2 as x86_avx2;
#[cfg(target_arch = "x86_64")]
pub use x86::{avx2, Sse2};

#[cfg(target_arch = "x86_64")]
mod x86 {
    #![allow(unsafe_code)]

    use std::arch::asm;
    use std::arch::x86_64::*;

    use super::{Blocks, Classify, Masks, Stop, CAP};

    /// 16 bytes at a time: SSE2 is part of x86-64, so every x86-64 CPU has it.
    #[derive(Debug, Clone, Copy)]
    pub struct Sse2;

    impl Classify for Sse2 {
        #[inline(always)]
        fn classify(self, block: &[u8; 64]) -> Masks {
            // SAFETY: SSE2 is part of the x86-64 baseline: every CPU this code runs on has it.
            unsafe { classify_sse2(block) }
        }
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn classify_sse2(block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for k in 0..4 {
            // SAFETY: bytes 16k to 16k + 15 are within the 64-byte block (k < 4), and an
            // unaligned load has no alignment requirement.
            let x = unsafe { _mm_loadu_si128(block.as_ptr().add(16 * k).cast()) };
            let splat = |b: u8| _mm_set1_epi8(b as i8);
            // `[` and `]` are `{` and `}` with bit 5 clear: one compare finds both.
            let curly = _mm_or_si128(x, splat(0x20));
            let op = _mm_or_si128(
                _mm_or_si128(
                    _mm_cmpeq_epi8(curly, splat(b'{')),
                    _mm_cmpeq_epi8(curly, splat(b'}')),
                ),
                _mm_or_si128(
                    _mm_cmpeq_epi8(x, splat(b':')),
                    _mm_cmpeq_epi8(x, splat(b',')),
                ),
            );
            let ws = _mm_or_si128(
                _mm_or_si128(
                    _mm_cmpeq_epi8(x, splat(b' ')),
                    _mm_cmpeq_epi8(x, splat(b'\t')),
                ),
                _mm_or_si128(
                    _mm_cmpeq_epi8(x, splat(b'\n')),
                    _mm_cmpeq_epi8(x, splat(b'\r')),
                ),
            );
            // Unsigned x <= 0x1f: the minimum of x and 0x1f is x.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(x, splat(0x1f)), x);
            let shift = 16 * k;
            let bits = |v: __m128i| u64::from(opaque(_mm_movemask_epi8(v) as u32)) << shift;
            m.quote |= bits(_mm_cmpeq_epi8(x, splat(b'"')));
            m.backslash |= bits(_mm_cmpeq_epi8(x, splat(b'\\')));
            m.control |= bits(control);
            m.op |= bits(op);
            m.ws |= bits(ws);
        }
        m
    }

    /// 32 bytes at a time, on CPUs that have AVX2: only [`avx2`] makes one.
    #[derive(Debug, Clone, Copy)]
    pub struct Avx2(());

    /// An [`Avx2`], where the CPU has AVX2 (std caches the answer).
    #[inline]
    pub fn avx2() -> Option<Avx2> {
        is_x86_feature_detected!("avx2").then_some(Avx2(()))
    }

    impl Classify for Avx2 {
        #[inline(always)]
        fn classify(self, block: &[u8; 64]) -> Masks {
            // SAFETY: an `Avx2` exists only where the CPU has AVX2 (`avx2` checks it).
            unsafe { classify_avx2(block) }
        }

        fn fill(self, blocks: &mut Blocks, t: &[u8], out: &mut [u32; CAP]) -> Result<usize, Stop> {
            // SAFETY: as above.
            unsafe { fill_avx2(self, blocks, t, out) }
        }
    }

    /// [`Blocks::fill`] compiled for AVX2, so that the classifier is inlined into its loop.
    #[target_feature(enable = "avx2")]
    fn fill_avx2(
        k: Avx2,
        blocks: &mut Blocks,
        t: &[u8],
        out: &mut [u32; CAP],
    ) -> Result<usize, Stop> {
        blocks.fill(t, out, k)
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn classify_avx2(block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for k in 0..2 {
            // SAFETY: bytes 32k to 32k + 31 are within the 64-byte block (k < 2), and an
            // unaligned load has no alignment requirement.
            let x = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * k).cast()) };
            let splat = |b: u8| _mm256_set1_epi8(b as i8);
            let curly = _mm256_or_si256(x, splat(0x20));
            let op = _mm256_or_si256(
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(curly, splat(b'{')),
                    _mm256_cmpeq_epi8(curly, splat(b'}')),
                ),
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(x, splat(b':')),
                    _mm256_cmpeq_epi8(x, splat(b',')),
                ),
            );
            let ws = _mm256_or_si256(
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(x, splat(b' ')),
                    _mm256_cmpeq_epi8(x, splat(b'\t')),
                ),
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(x, splat(b'\n')),
                    _mm256_cmpeq_epi8(x, splat(b'\r')),
                ),
            );
            let control = _mm256_cmpeq_epi8(_mm256_min_epu8(x, splat(0x1f)), x);
            let shift = 32 * k;
            let quote = _mm256_cmpeq_epi8(x, splat(b'"'));
            let backslash = _mm256_cmpeq_epi8(x, splat(b'\\'));
            let bits = |v: __m256i| u64::from(opaque(_mm256_movemask_epi8(v) as u32)) << shift;
            m.quote |= bits(quote);
            m.backslash |= bits(backslash);
            m.control |= bits(control);
            m.op |= bits(op);
            m.ws |= bits(ws);
        }
        m
    }

    /// `x`, through nothing the compiler can see into. A movemask is a vector of booleans to
    /// LLVM, and it joins those of a block's halves (or quarters) into one of 64 booleans,
    /// which without AVX-512 it takes apart again one bit at a time (over 1,000 instructions
    /// per block instead of ~100, measured): here each movemask stays an integer.
    #[inline(always)]
    fn opaque(mut x: u32) -> u32 {
        // SAFETY: the template is an assembler comment, no instruction: `x` comes out as it
        // went in, and no memory, stack or flag is touched.
        unsafe {
            asm!("/* {0:e} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every classifier this CPU has, by name.
    #[cfg(target_arch = "x86_64")]
    fn classifiers() -> Vec<(&'static str, Box<dyn Fn(&[u8; 64]) -> Masks>)> {
        let mut all: Vec<(&'static str, Box<dyn Fn(&[u8; 64]) -> Masks>)> =
            vec![("sse2", Box::new(|b: &[u8; 64]| Sse2.classify(b)))];
        if let Some(k) = x86_avx2() {
            all.push(("avx2", Box::new(move |b: &[u8; 64]| k.classify(b))));
        } else {
            eprintln!("no AVX2 on this CPU: only SSE2 is compared");
        }
        all
    }

    #[test]
    fn portable_classes_are_the_json_classes() {
        let block: [u8; 64] = std::array::from_fn(|k| b"\"\\{}[]:, \t\n\r\x00\x1f\x7fa"[k % 16]);
        let m = Portable.classify(&block);
        let each = |mask: u64| (0..16).filter(|k| mask >> k & 1 == 1).collect::<Vec<_>>();
        assert_eq!(each(m.quote), [0]);
        assert_eq!(each(m.backslash), [1]);
        assert_eq!(each(m.op), [2, 3, 4, 5, 6, 7]);
        assert_eq!(each(m.ws), [8, 9, 10, 11]);
        assert_eq!(each(m.control), [9, 10, 11, 12, 13]);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_classifiers_agree_with_the_portable_one_on_every_byte_at_every_offset() {
        for (name, classify) in classifiers() {
            // Every byte value at every offset of a block, among bytes of each class.
            for b in 0..=255u8 {
                for at in 0..64 {
                    let mut block: [u8; 64] =
                        std::array::from_fn(|k| b"a\" \\{\x01]\n\xff,"[k % 10]);
                    block[at] = b;
                    assert_eq!(
                        classify(&block),
                        Portable.classify(&block),
                        "{name}: byte {b:#x} at {at}"
                    );
                }
            }
            // Blocks of one byte value, and of bytes that differ from JSON's by one bit
            // (`[` | 0x20 is `{`, and 0x1a | 0x20 is `:`: neither may be taken for another).
            for b in 0..=255u8 {
                let block = [b; 64];
                assert_eq!(
                    classify(&block),
                    Portable.classify(&block),
                    "{name}: {b:#x}"
                );
            }
        }
    }
}
