//! The guest's `memcmp`: long comparisons eight bytes at a time.
//!
//! Every `==` on strings and byte slices, `starts_with`, and every map
//! lookup by string key ends in `memcmp`, and the C library of
//! wasm32-wasip2 compares one byte per loop turn. In a profile of
//! `capstan render` on a 1,000-subchart Helm umbrella it was the guest's
//! hottest function (5 % of the run), partly on long equal texts (template
//! sources matched by content). A word loop for every length measured
//! slower than the C library: most comparisons are short or end at the
//! first bytes. So short ones stay a byte loop, as in C, and only from 16
//! bytes on are words compared first. Linking this definition replaces the
//! C library's for every plugin built with the SDK.
// Raw pointers by definition: the C signature is the contract.
#![allow(unsafe_code)]

/// Below this many bytes, bytes are compared one at a time.
const WORDS_FROM: usize = 16;

/// `memcmp` itself: the sign of the difference of the first differing
/// bytes (as unsigned), or 0 when the `n` bytes are equal.
///
/// # Safety
/// `a` and `b` are valid for `n` bytes of reading.
#[inline(always)]
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    if n >= WORDS_FROM {
        // Skip equal words; the byte loop below finds the difference.
        while i + 8 <= n {
            // SAFETY: i + 8 <= n, and both are readable for n bytes.
            let (x, y) = unsafe { (a.add(i).cast::<u64>().read_unaligned(), b.add(i).cast::<u64>().read_unaligned()) };
            if x != y {
                break;
            }
            i += 8;
        }
    }
    while i < n {
        // SAFETY: i < n.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// C's `memcmp`, on [`compare`].
///
/// # Safety
/// As C's: `a` and `b` are valid for `n` bytes of reading.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract is compare's.
    unsafe { compare(a, b, n) }
}

#[cfg(test)]
mod tests {
    fn compare(a: &[u8], b: &[u8]) -> i32 {
        assert_eq!(a.len(), b.len());
        // SAFETY: both slices hold a.len() bytes.
        unsafe { super::compare(a.as_ptr(), b.as_ptr(), a.len()) }
    }

    #[test]
    fn orders_as_memcmp_does_at_every_length_and_offset() {
        let base: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..base.len() {
            assert_eq!(compare(&base[..len], &base[..len]), 0);
            for at in 0..len {
                for delta in [1u8, 0x80, 0xff] {
                    let mut other = base[..len].to_vec();
                    other[at] = other[at].wrapping_add(delta);
                    let want = base[at].cmp(&other[at]) as i32;
                    assert_eq!(compare(&base[..len], &other).signum(), want, "len {len}, byte {at}, +{delta}");
                    assert_eq!(compare(&other, &base[..len]).signum(), -want);
                }
            }
        }
    }
}
