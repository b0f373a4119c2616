//! [`SizeClasses`]: a global allocator for plugins that live for one call.
//!
//! The host gives every call a fresh instance and throws its memory away
//! afterwards, so a guest never needs to give memory back or fight
//! fragmentation over hours. What renderers do instead is allocate and free
//! millions of small blocks (strings, maps, template values), and in
//! wasi-libc's dlmalloc that churn cost about a quarter of the guest's time
//! (`perf` on `capstan render` of a 1,000-subchart umbrella: `dlfree`,
//! `dlmalloc` and their wrappers 26 % of the guest's samples). Measured with
//! the same builds alternated in one process on a quiet machine: builtin:helm
//! umbrella 300 / 1,000 subcharts 0.89 / 0.94 of the time (peak memory 9 → 12
//! and 28 → 36 MiB), builtin:jsonnet 6,000 objects 0.86 (85 MiB either way).
//!
//! Small blocks (up to [`MAX_SMALL`] bytes, alignment up to [`GRANULE`]) are
//! served from per-size free lists, refilled by bumping through chunks taken
//! from the system allocator; a freed block goes back on its list. Whose a
//! freed block is, is decided by its address (a table of the chunks' pages),
//! not its layout: blocks of the C library reach Rust too — a call's
//! parameters are allocated through [`cabi_realloc`] — and must go back to
//! `free`. Nothing coalesces, so memory freed in one size serves only that
//! size again: peak memory can be somewhat higher than with dlmalloc, and
//! the host's memory cap still bounds it. Larger or over-aligned blocks go
//! straight to the system allocator, which handles them well (and grows
//! them in place).
//!
//! A plugin opts in with one declaration, on wasm32 only:
//!
//! ```ignore
//! #[cfg(target_arch = "wasm32")]
//! #[global_allocator]
//! static ALLOCATOR: capstan_plugin::alloc::SizeClasses = capstan_plugin::alloc::SizeClasses::new();
//! ```
// An allocator is raw memory by definition; each unsafe block says why it holds.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Block sizes are multiples of this, and blocks are aligned to it.
pub const GRANULE: usize = 16;
/// Number of small size classes: 16, 32, … [`MAX_SMALL`] bytes.
const CLASSES: usize = 64;
/// The largest block served from a size class.
pub const MAX_SMALL: usize = GRANULE * CLASSES;
/// Ownership is recorded per page of this size: a chunk is whole pages.
const PAGE: usize = 64 << 10;
/// Bytes taken from the system allocator at a time for small blocks,
/// page-aligned (dlmalloc's `memalign` gives back what precedes it).
const CHUNK: usize = 16 * PAGE;
/// Slots of the table of pages: a wasm32 address space holds exactly this
/// many pages, so there each page has a slot of its own (on a 64-bit host,
/// where the tests run, two pages may want one slot; see [`Classes::bump`]).
const PAGE_SLOTS: usize = (u32::MAX as usize / PAGE) + 1;

/// A freed block, linked into its class's list.
struct Free {
    next: *mut Free,
}

/// The allocator's state: one free list per class and the current chunk.
/// Not thread-safe; [`SizeClasses`] wraps it for a single-threaded guest.
pub struct Classes {
    free: [*mut Free; CLASSES],
    bump: usize,
    end: usize,
    /// `pages[slot(a)] == a` for the base `a` of every page of every chunk.
    pages: [usize; PAGE_SLOTS],
}

impl Default for Classes {
    fn default() -> Self {
        Self::new()
    }
}

impl Classes {
    /// Empty lists and no chunk yet.
    pub const fn new() -> Self {
        Self { free: [ptr::null_mut(); CLASSES], bump: 0, end: 0, pages: [0; PAGE_SLOTS] }
    }

    fn slot(page: usize) -> usize {
        (page / PAGE) % PAGE_SLOTS
    }

    /// Whether `block` was cut from one of this allocator's chunks.
    fn owns(&self, block: *mut u8) -> bool {
        let page = block as usize & !(PAGE - 1);
        page != 0 && self.pages[Self::slot(page)] == page
    }

    /// The class serving `layout`, or `None` for the system allocator.
    fn class(layout: Layout) -> Option<usize> {
        (layout.align() <= GRANULE && layout.size() <= MAX_SMALL).then(|| layout.size().max(1).div_ceil(GRANULE) - 1)
    }

    /// Allocates as [`GlobalAlloc::alloc`].
    ///
    /// # Safety
    /// As [`GlobalAlloc::alloc`]: `layout` has a non-zero size.
    pub unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let Some(class) = Self::class(layout) else {
            // SAFETY: the caller's contract is the system allocator's.
            return unsafe { System.alloc(layout) };
        };
        let head = self.free[class];
        if !head.is_null() {
            // SAFETY: `head` is a block of this class that was freed, so it
            // is ours, at least GRANULE bytes and aligned for a `Free`.
            self.free[class] = unsafe { (*head).next };
            return head.cast();
        }
        match self.bump(GRANULE * (class + 1)) {
            Some(block) => block,
            // SAFETY: as above.
            None => unsafe { System.alloc(layout) },
        }
    }

    /// Allocates zeroed memory as [`GlobalAlloc::alloc_zeroed`].
    ///
    /// # Safety
    /// As [`GlobalAlloc::alloc_zeroed`]: `layout` has a non-zero size.
    pub unsafe fn alloc_zeroed(&mut self, layout: Layout) -> *mut u8 {
        if Self::class(layout).is_none() {
            // SAFETY: as in `alloc`. Fresh pages from the system are zero
            // already: let it say so.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // SAFETY: as in `alloc`; a non-null block has `layout.size()` bytes.
        unsafe {
            let block = self.alloc(layout);
            if !block.is_null() {
                block.write_bytes(0, layout.size());
            }
            block
        }
    }

    /// A fresh block of `size` bytes from the current chunk, taking a new
    /// chunk when it is used up (the old one's tail, < [`MAX_SMALL`], is
    /// left unused). `None` when no chunk can be had: out of memory, or (on
    /// a 64-bit host only) the new chunk's slot is another chunk's.
    fn bump(&mut self, size: usize) -> Option<*mut u8> {
        if self.end - self.bump < size {
            // SAFETY: CHUNK is non-zero and a power of two.
            let layout = unsafe { Layout::from_size_align_unchecked(CHUNK, PAGE) };
            // SAFETY: the layout is valid and non-zero.
            let chunk = unsafe { System.alloc(layout) };
            if chunk.is_null() {
                return None;
            }
            let base = chunk as usize;
            let pages = (base..base + CHUNK).step_by(PAGE);
            if pages.clone().any(|page| self.pages[Self::slot(page)] != 0) {
                // SAFETY: just allocated with this layout, and never handed out.
                unsafe { System.dealloc(chunk, layout) };
                return None;
            }
            for page in pages {
                self.pages[Self::slot(page)] = page;
            }
            (self.bump, self.end) = (base, base + CHUNK);
        }
        let block = self.bump as *mut u8;
        self.bump += size;
        Some(block)
    }

    /// Frees as [`GlobalAlloc::dealloc`].
    ///
    /// # Safety
    /// As [`GlobalAlloc::dealloc`]: `block` came from this allocator with
    /// this `layout`.
    pub unsafe fn dealloc(&mut self, block: *mut u8, layout: Layout) {
        match Self::class(layout).filter(|_| self.owns(block)) {
            Some(class) => {
                let node = block.cast::<Free>();
                // SAFETY: a small block is at least GRANULE bytes, aligned to
                // GRANULE, and no longer in use by the caller.
                unsafe { node.write(Free { next: self.free[class] }) };
                self.free[class] = node;
            }
            // SAFETY: not ours, so the system allocator's, with `layout`.
            None => unsafe { System.dealloc(block, layout) },
        }
    }

    /// Resizes as [`GlobalAlloc::realloc`]: in place when the class does not
    /// change, by the system allocator for its own blocks.
    ///
    /// # Safety
    /// As [`GlobalAlloc::realloc`].
    pub unsafe fn realloc(&mut self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to the
        // alignment, does not overflow isize.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !self.owns(block) {
            // SAFETY: not ours, so the system allocator's, with `layout`.
            return unsafe { System.realloc(block, layout, new_size) };
        }
        match (Self::class(layout), Self::class(new)) {
            (Some(a), Some(b)) if a == b => block,
            _ => {
                // SAFETY: `new` is a valid layout (above); the copy stays
                // within both blocks; the old block is then freed once.
                unsafe {
                    let moved = self.alloc(new);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

/// [`Classes`] as the guest's `#[global_allocator]`.
pub struct SizeClasses(UnsafeCell<Classes>);

impl SizeClasses {
    /// For a `static`.
    pub const fn new() -> Self {
        Self(UnsafeCell::new(Classes::new()))
    }
}

impl Default for SizeClasses {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: plugins run on wasm32-wasip2 without the threads proposal: one
// thread, and an allocator call never re-enters another.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for SizeClasses {}

// SAFETY (all four): single-threaded (see the `Sync` impl), so the `&mut`
// to the state is unique for the duration of each call; the contracts are
// passed on unchanged.
unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).alloc(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe { (*self.0.get()).dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { (*self.0.get()).realloc(block, layout, new_size) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).alloc_zeroed(layout) }
    }
}

/// The canonical ABI's allocation function, on C's `malloc` family: the
/// host allocates through it both the parameters of a call (which Rust frees,
/// see [`Classes::dealloc`]) and the results of WASI imports, which
/// wasi-libc frees with `free` (`readlink` does, for one). std's definition
/// is weak and uses the global allocator: with [`SizeClasses`] installed,
/// `free` got blocks it never made and the guest trapped
/// (`tests/integration/tests/jsonnet_app.rs`, a symlink import). For a
/// plugin on the default allocator this is what std's does.
///
/// # Safety
/// Called by the host only, with the canonical ABI's contract: a power-of-two
/// `align`, and a non-null `old` that this function returned with `old_len`.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a power-of-two alignment and, for a
    // non-null `old`, the size and alignment it was allocated with here.
    let block = unsafe {
        if old_len == 0 {
            System.alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            System.realloc(old, Layout::from_size_align_unchecked(old_len, align), new_len)
        }
    };
    if block.is_null() {
        std::process::abort();
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn classes_round_up_and_large_or_over_aligned_blocks_go_to_the_system() {
        assert_eq!(Classes::class(layout(1, 1)), Some(0));
        assert_eq!(Classes::class(layout(16, 8)), Some(0));
        assert_eq!(Classes::class(layout(17, 8)), Some(1));
        assert_eq!(Classes::class(layout(MAX_SMALL, 16)), Some(CLASSES - 1));
        assert_eq!(Classes::class(layout(MAX_SMALL + 1, 8)), None);
        assert_eq!(Classes::class(layout(64, 32)), None);
    }

    #[test]
    fn a_freed_block_is_reused_by_its_class_only() {
        let mut a = Box::new(Classes::new());
        unsafe {
            let x = a.alloc(layout(24, 8));
            x.write_bytes(0xAB, 24);
            a.dealloc(x, layout(24, 8));
            // Another class does not take it; the same class does.
            let y = a.alloc(layout(40, 8));
            assert_ne!(x, y);
            let z = a.alloc(layout(32, 8));
            assert_eq!(x, z);
            a.dealloc(y, layout(40, 8));
            a.dealloc(z, layout(32, 8));
        }
    }

    #[test]
    fn blocks_are_aligned_distinct_and_hold_their_bytes_across_chunks() {
        let mut a = Box::new(Classes::new());
        let mut live = Vec::new();
        // More than one chunk's worth, of every class.
        for i in 0..(3 * CHUNK / MAX_SMALL * CLASSES / 8) {
            let size = 1 + (i * 37) % MAX_SMALL;
            let block = unsafe { a.alloc(layout(size, 16)) };
            assert!(!block.is_null());
            assert_eq!(block as usize % GRANULE, 0, "block {i} misaligned");
            unsafe { block.write_bytes(i as u8, size) };
            live.push((block, size, i as u8));
        }
        for &(block, size, fill) in &live {
            let bytes = unsafe { std::slice::from_raw_parts(block, size) };
            assert!(bytes.iter().all(|&b| b == fill), "a block was overwritten by another");
        }
        for (block, size, _) in live {
            unsafe { a.dealloc(block, layout(size, 16)) };
        }
    }

    #[test]
    fn realloc_keeps_the_prefix_across_classes_and_to_and_from_the_system() {
        let mut a = Box::new(Classes::new());
        unsafe {
            let mut block = a.alloc(layout(10, 1));
            for (i, b) in b"capstan-ok".iter().enumerate() {
                block.add(i).write(*b);
            }
            // Same class: in place.
            assert_eq!(a.realloc(block, layout(10, 1), 16), block);
            // Small → small (other class) → large → larger → small.
            for (old, new) in [(16, 100), (100, 5000), (5000, 70_000), (70_000, 12)] {
                block = a.realloc(block, layout(old, 1), new);
                assert!(!block.is_null());
                assert_eq!(std::slice::from_raw_parts(block, 10), b"capstan-ok", "{old} → {new}");
            }
            a.dealloc(block, layout(12, 1));
        }
    }

    #[test]
    fn blocks_of_the_system_allocator_go_back_to_it_whatever_their_layout() {
        let mut a = Box::new(Classes::new());
        unsafe {
            // As a call's parameters arrive: allocated by the C library,
            // freed by Rust with a small layout. Taken as ours, a 20-byte
            // block would later be handed out as a 32-byte one.
            let foreign = System.alloc(layout(20, 1));
            a.dealloc(foreign, layout(20, 1));
            let mine = a.alloc(layout(32, 1));
            assert_ne!(mine, foreign, "a foreign block was put on a free list");
            assert!(a.owns(mine));
            let grown = System.alloc(layout(20, 1));
            let moved = a.realloc(grown, layout(20, 1), 30);
            assert!(!a.owns(moved));
            a.dealloc(moved, layout(30, 1));
            a.dealloc(mine, layout(32, 1));
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_even_when_reused() {
        let alloc = Box::new(SizeClasses::new());
        unsafe {
            let x = alloc.alloc(layout(48, 8));
            x.write_bytes(0xFF, 48);
            alloc.dealloc(x, layout(48, 8));
            let y = alloc.alloc_zeroed(layout(48, 8));
            assert_eq!(x, y);
            assert!(std::slice::from_raw_parts(y, 48).iter().all(|&b| b == 0));
            alloc.dealloc(y, layout(48, 8));
            let big = alloc.alloc_zeroed(layout(MAX_SMALL * 4, 8));
            assert!(std::slice::from_raw_parts(big, MAX_SMALL * 4).iter().all(|&b| b == 0));
            alloc.dealloc(big, layout(MAX_SMALL * 4, 8));
        }
    }
}
