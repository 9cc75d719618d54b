//! Browser adapters: thin wrappers over the Web APIs the core needs. Each catches the errors its
//! API can throw and turns them into values, so nothing escapes into the host page.

pub mod callbacks;
pub mod config;
pub mod console;
pub mod cookie;
pub mod globals;
pub mod page;
pub mod storage;
pub mod tracker;
pub mod transport;
#[cfg(feature = "triggers")]
pub mod triggers;

/// Page-wide state in a `static`: what `thread_local!` gives with std. wasm32 without the atomics
/// feature runs the page's one thread only, so nothing is ever shared across threads.
pub struct PageLocal<T>(T);

// SAFETY: the browser build has no threads (no atomics, no shared memory): the page's thread is
// the only one that can reach a `PageLocal`. A threaded build is refused below.
unsafe impl<T> Sync for PageLocal<T> {}

#[cfg(target_feature = "atomics")]
compile_error!("PageLocal assumes a single-threaded wasm (no `atomics` target feature)");

impl<T> PageLocal<T> {
    /// A page-wide value.
    pub const fn new(value: T) -> Self {
        PageLocal(value)
    }

    /// Runs `f` on the value, as `LocalKey::with` does.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }
}

/// Unix time in ms.
pub fn now() -> u64 {
    js_sys::Date::now() as u64
}

/// 16 random bytes from `crypto.getRandomValues`, or from `Math.random` where crypto is missing
/// (IDs stay unique enough for a lead; the collector's uid index catches the rest).
pub fn random16() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if globals::Crypto::get_random_values(&mut bytes).is_err() {
        for b in bytes.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes
}
