//! What a store holds, for tests that compare a reopened store against old or new contents
//! (shared with `#[path = "support/contents.rs"] mod contents;`). All values are `u32`.
use std::collections::BTreeMap;

use microkv::MicroKV;

/// (namespace, key) -> value of every live entry.
pub type Contents = BTreeMap<(String, String), u32>;

/// Every live entry of the store.
pub fn contents(db: &MicroKV) -> Contents {
    let mut out = Contents::new();
    for ns in db.tree_names().unwrap() {
        let tree = db.namespace(&ns);
        for key in tree.keys().unwrap() {
            if let Some(v) = tree.get::<u32>(&key).unwrap() {
                out.insert((ns.clone(), key), v);
            }
        }
    }
    out
}
