//! Browser adapters: thin wrappers over the Web APIs the clickscript and the triggers extension
//! need. Each catches the errors its API can throw and turns them into values, so nothing escapes
//! into the host page. No `#[wasm_bindgen]` exports here: a dependency's exports would land in
//! every wasm that links it.
#![deny(missing_docs)]

pub mod callbacks;
pub mod config;
pub mod console;
pub mod cookie;
pub mod globals;
pub mod json;
pub mod page;
pub mod props;
pub mod storage;
pub mod transport;

/// Unix time in ms.
pub fn now() -> u64 {
    js_sys::Date::now() as u64
}

/// Random bytes drawn from `crypto.getRandomValues` 256 at a time: one call per 16 IDs rather
/// than one per ID (a 1,000-event burst spent 13 ms in the calls).
const POOL: usize = 256;

thread_local! {
    static RANDOM: core::cell::RefCell<([u8; POOL], usize)> =
        const { core::cell::RefCell::new(([0; POOL], POOL)) };
}

/// 16 random bytes from `crypto.getRandomValues`, or from `Math.random` where crypto is missing
/// (IDs stay unique enough for a lead; the collector's uid index catches the rest).
pub fn random16() -> [u8; 16] {
    RANDOM.with(|r| {
        // Only a page's crypto or Math.random calling back in could find it borrowed.
        let Ok(mut r) = r.try_borrow_mut() else {
            let mut bytes = [0u8; 16];
            weak_random(&mut bytes);
            return bytes;
        };
        let (pool, used) = &mut *r;
        if *used + 16 > POOL {
            if globals::Crypto::get_random_values(pool).is_err() {
                weak_random(pool);
            }
            *used = 0;
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&pool[*used..*used + 16]);
        *used += 16;
        bytes
    })
}

/// `Math.random` bytes, where crypto is missing.
fn weak_random(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        *b = (js_sys::Math::random() * 256.0) as u8;
    }
}

/// A sorted, coalescing free list instead of std's dlmalloc: 3.3 KB gzip less wasm. The
/// clickscript allocates little (small strings, one outbox) and on one thread, so a free list's
/// O(blocks) search costs nothing measurable here (see tools/bench-triggers.mjs). Every wasm that
/// links these adapters (the clickscript and the triggers extension) uses it.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: wasm32-unknown-unknown without threads: the page's one thread is the only caller.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(target_feature = "atomics")]
compile_error!(
    "the allocator and the page-wide state assume a single-threaded wasm (no `atomics`)"
);
