//! localStorage with a memory fallback. Safari private mode, a full quota or a sandboxed frame
//! make storage throw; every such error is caught here and the value is kept in memory instead,
//! so the page's events still go out while it is open.

use clickscript_core::event::Fields;
use core::cell::Cell;

use crate::globals::{Storage, Window};

/// Storage for the clickscript's records.
pub struct Store {
    local: Option<Storage>,
    /// Values whose last write to localStorage failed: these win over localStorage.
    memory: Cell<Fields<String>>,
}

impl Store {
    /// Opens localStorage, or memory alone when the page may not use it.
    pub fn open() -> Store {
        Store {
            local: Window::local_storage().ok().flatten(),
            ..Store::memory_only()
        }
    }

    /// Memory only: what a page gets when storage is blocked.
    pub fn memory_only() -> Store {
        Store {
            local: None,
            memory: Cell::default(),
        }
    }

    /// Whether values outlive the page.
    pub fn persistent(&self) -> bool {
        self.local.is_some()
    }

    /// Runs `f` on the values kept in memory (a `Cell` taken and put back rather than a
    /// `RefCell`: nothing here can be re-entered, and a `RefCell`'s borrow panics cost code).
    fn in_memory<R>(&self, f: impl FnOnce(&mut Fields<String>) -> R) -> R {
        let mut memory = self.memory.take();
        let r = f(&mut memory);
        self.memory.set(memory);
        r
    }

    /// Reads `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        if let Some(v) = self.in_memory(|m| m.get(key).cloned()) {
            return Some(v);
        }
        self.local.as_ref()?.get_item(key).ok().flatten()
    }

    /// Writes `key`; `false` when it could only be kept in memory (quota full or blocked).
    pub fn set(&self, key: &str, value: &str) -> bool {
        let stored = self
            .local
            .as_ref()
            .is_some_and(|s| s.set_item(key, value).is_ok());
        self.in_memory(|m| {
            if stored {
                m.remove(key);
            } else {
                m.insert(key.to_owned(), value.to_owned());
            }
        });
        stored
    }

    /// Removes `key`.
    pub fn remove(&self, key: &str) {
        self.in_memory(|m| m.remove(key));
        if let Some(s) = &self.local {
            let _ = s.remove_item(key);
        }
    }

    /// Every stored key that starts with `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self.in_memory(|m| {
            m.iter()
                .map(|(k, _)| k)
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect()
        });
        if let Some(s) = &self.local {
            let n = s.length().unwrap_or(0);
            for i in 0..n {
                if let Ok(Some(k)) = s.key(i) {
                    if k.starts_with(prefix) && !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
        }
        keys
    }
}
