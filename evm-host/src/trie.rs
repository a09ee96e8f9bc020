//! A persistent Merkle Patricia Trie over 32-byte (hashed) keys, with cached node hashes.
//!
//! Nodes are immutable and shared through [`Arc`]: an update copies only the nodes on the
//! path to the changed leaf, so
//!
//! - a clone of a [`Trie`] is O(1) — a block's post-state, a snapshot and a historical state
//!   are all clones that share every unchanged node;
//! - the root hash after a block rehashes only the nodes the block created, since every node
//!   caches its RLP reference once computed. The cost of a state root therefore depends on
//!   what the block changed, not on the size or the length of the chain.
//!
//! Keys are always 64 nibbles (`keccak256` of an address or a storage slot), so branch
//! nodes never hold values. Node encoding uses `alloy-trie`'s node types, and the tests
//! check every root against `alloy_trie::HashBuilder`.

use alloy_primitives::{B256, keccak256};
use alloy_trie::{
    EMPTY_ROOT_HASH, Nibbles, TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};
use std::sync::{Arc, OnceLock};

/// A value stored in a trie leaf.
pub trait TrieValue: Clone {
    /// Appends the bytes stored in the leaf (for Ethereum tries: an RLP encoding).
    fn encode_value(&self, out: &mut Vec<u8>);
}

type Link<V> = Option<Arc<Node<V>>>;

#[derive(Debug)]
struct Node<V> {
    kind: Kind<V>,
    rlp: OnceLock<RlpNode>,
}

#[derive(Debug)]
enum Kind<V> {
    Leaf { key: Nibbles, value: V },
    Extension { key: Nibbles, child: Arc<Node<V>> },
    Branch { children: Box<[Link<V>; 16]> },
}

/// A persistent Merkle Patricia Trie. Cloning is O(1).
#[derive(Debug)]
pub struct Trie<V> {
    root: Link<V>,
}

impl<V> Clone for Trie<V> {
    fn clone(&self) -> Self {
        Self { root: self.root.clone() }
    }
}

impl<V> Default for Trie<V> {
    fn default() -> Self {
        Self { root: None }
    }
}

/// Nibble `i` of a 32-byte key.
#[inline]
fn nibble(key: &B256, i: usize) -> u8 {
    let byte = key[i / 2];
    if i.is_multiple_of(2) { byte >> 4 } else { byte & 0x0f }
}

/// The nibbles of `key` from `from` to the end.
fn suffix(key: &B256, from: usize) -> Nibbles {
    let mut out = Nibbles::new();
    for i in from..64 {
        out.push_unchecked(nibble(key, i));
    }
    out
}

/// How many nibbles `path` shares with `key` starting at `depth`.
fn common_prefix(path: &Nibbles, key: &B256, depth: usize) -> usize {
    let max = path.len().min(64 - depth);
    (0..max).take_while(|&i| path.get_unchecked(i) == nibble(key, depth + i)).count()
}

fn empty_children<V>() -> Box<[Link<V>; 16]> {
    Box::new(std::array::from_fn(|_| None))
}

impl<V> Node<V> {
    fn new(kind: Kind<V>) -> Arc<Self> {
        Arc::new(Self { kind, rlp: OnceLock::new() })
    }
}

fn leaf<V>(key: Nibbles, value: V) -> Arc<Node<V>> {
    Node::new(Kind::Leaf { key, value })
}

fn extension<V>(key: Nibbles, child: Arc<Node<V>>) -> Arc<Node<V>> {
    debug_assert!(!key.is_empty());
    Node::new(Kind::Extension { key, child })
}

fn branch<V>(children: Box<[Link<V>; 16]>) -> Arc<Node<V>> {
    Node::new(Kind::Branch { children })
}

/// Prepends `prefix` to the path of `node`, merging with a leaf's or extension's own path.
fn with_prefix<V: Clone>(prefix: Nibbles, node: &Arc<Node<V>>) -> Arc<Node<V>> {
    match &node.kind {
        Kind::Leaf { key, value } => leaf(prefix.join(key), value.clone()),
        Kind::Extension { key, child } => extension(prefix.join(key), child.clone()),
        Kind::Branch { .. } => extension(prefix, node.clone()),
    }
}

enum Removal<V> {
    NotFound,
    Emptied,
    Replaced(Arc<Node<V>>),
}

impl<V: TrieValue> Trie<V> {
    /// An empty trie.
    pub const fn new() -> Self {
        Self { root: None }
    }

    /// Whether the trie holds no keys.
    pub const fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// The value at `key`.
    pub fn get(&self, key: &B256) -> Option<&V> {
        let mut node = self.root.as_ref()?;
        let mut depth = 0;
        loop {
            match &node.kind {
                Kind::Leaf { key: path, value } => {
                    return (common_prefix(path, key, depth) == path.len()
                        && depth + path.len() == 64)
                        .then_some(value);
                }
                Kind::Extension { key: path, child } => {
                    if common_prefix(path, key, depth) != path.len() {
                        return None;
                    }
                    depth += path.len();
                    node = child;
                }
                Kind::Branch { children } => {
                    node = children[nibble(key, depth) as usize].as_ref()?;
                    depth += 1;
                }
            }
        }
    }

    /// Whether `other` is this very version: the same root node. Nodes never change (an
    /// insert or a removal makes new ones up to the root), so the same root means the same
    /// contents.
    pub fn same_version(&self, other: &Self) -> bool {
        match (&self.root, &other.root) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: B256, value: V) {
        self.root = Some(Self::insert_at(self.root.as_ref(), &key, 0, value));
    }

    fn insert_at(node: Option<&Arc<Node<V>>>, key: &B256, depth: usize, value: V) -> Arc<Node<V>> {
        let Some(node) = node else { return leaf(suffix(key, depth), value) };
        match &node.kind {
            Kind::Leaf { key: path, value: old } => {
                let common = common_prefix(path, key, depth);
                if common == path.len() {
                    return leaf(*path, value);
                }
                let mut children = empty_children();
                children[path.get_unchecked(common) as usize] =
                    Some(leaf(path.slice(common + 1..), old.clone()));
                children[nibble(key, depth + common) as usize] =
                    Some(leaf(suffix(key, depth + common + 1), value));
                let split = branch(children);
                if common > 0 { extension(path.slice(..common), split) } else { split }
            }
            Kind::Extension { key: path, child } => {
                let common = common_prefix(path, key, depth);
                if common == path.len() {
                    return extension(
                        *path,
                        Self::insert_at(Some(child), key, depth + common, value),
                    );
                }
                let mut children = empty_children();
                let rest = path.slice(common + 1..);
                children[path.get_unchecked(common) as usize] = Some(if rest.is_empty() {
                    child.clone()
                } else {
                    extension(rest, child.clone())
                });
                children[nibble(key, depth + common) as usize] =
                    Some(leaf(suffix(key, depth + common + 1), value));
                let split = branch(children);
                if common > 0 { extension(path.slice(..common), split) } else { split }
            }
            Kind::Branch { children } => {
                let i = nibble(key, depth) as usize;
                let mut children = children.clone();
                children[i] = Some(Self::insert_at(children[i].as_ref(), key, depth + 1, value));
                branch(children)
            }
        }
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&mut self, key: &B256) -> bool {
        let Some(root) = self.root.as_ref() else { return false };
        match Self::remove_at(root, key, 0) {
            Removal::NotFound => false,
            Removal::Emptied => {
                self.root = None;
                true
            }
            Removal::Replaced(node) => {
                self.root = Some(node);
                true
            }
        }
    }

    fn remove_at(node: &Arc<Node<V>>, key: &B256, depth: usize) -> Removal<V> {
        match &node.kind {
            Kind::Leaf { key: path, .. } => {
                if common_prefix(path, key, depth) == path.len() {
                    Removal::Emptied
                } else {
                    Removal::NotFound
                }
            }
            Kind::Extension { key: path, child } => {
                if common_prefix(path, key, depth) != path.len() {
                    return Removal::NotFound;
                }
                match Self::remove_at(child, key, depth + path.len()) {
                    Removal::NotFound => Removal::NotFound,
                    Removal::Emptied => Removal::Emptied,
                    Removal::Replaced(child) => Removal::Replaced(with_prefix(*path, &child)),
                }
            }
            Kind::Branch { children } => {
                let i = nibble(key, depth) as usize;
                let Some(child) = children[i].as_ref() else { return Removal::NotFound };
                let replacement = match Self::remove_at(child, key, depth + 1) {
                    Removal::NotFound => return Removal::NotFound,
                    Removal::Emptied => None,
                    Removal::Replaced(node) => Some(node),
                };
                let mut children = children.clone();
                children[i] = replacement;
                let mut remaining = children.iter().enumerate().filter(|(_, c)| c.is_some());
                match (remaining.next(), remaining.next()) {
                    (None, _) => Removal::Emptied,
                    (Some((only, child)), None) => {
                        let child = child.as_ref().expect("filtered on is_some");
                        Removal::Replaced(with_prefix(Nibbles::from_nibbles([only as u8]), child))
                    }
                    _ => Removal::Replaced(branch(children)),
                }
            }
        }
    }

    /// The root hash: `keccak256(rlp(root node))`, or the empty-trie root.
    pub fn root(&self) -> B256 {
        let Some(root) = self.root.as_ref() else { return EMPTY_ROOT_HASH };
        let rlp = node_rlp(root);
        rlp.as_hash().unwrap_or_else(|| keccak256(rlp.as_slice()))
    }

    /// Visits every `(key, value)` pair in key order.
    pub fn for_each(&self, mut f: impl FnMut(B256, &V)) {
        fn walk<V>(node: &Node<V>, path: Nibbles, f: &mut impl FnMut(B256, &V)) {
            match &node.kind {
                Kind::Leaf { key, value } => {
                    let full = path.join(key);
                    let mut out = B256::ZERO;
                    full.pack_to(out.as_mut_slice());
                    f(out, value);
                }
                Kind::Extension { key, child } => walk(child, path.join(key), f),
                Kind::Branch { children } => {
                    for (i, child) in children.iter().enumerate() {
                        if let Some(child) = child {
                            let mut p = path;
                            p.push_unchecked(i as u8);
                            walk(child, p, f);
                        }
                    }
                }
            }
        }
        if let Some(root) = self.root.as_ref() {
            walk(root, Nibbles::new(), &mut f);
        }
    }

    /// The RLP encodings of the nodes on the path to `key`, root first: an EIP-1186 proof
    /// (of inclusion, or of exclusion when the key is absent).
    pub fn proof(&self, key: &B256) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut next = self.root.as_ref();
        let mut depth = 0;
        while let Some(node) = next {
            out.push(node_encoding(node));
            next = match &node.kind {
                Kind::Leaf { .. } => None,
                Kind::Extension { key: path, child } => {
                    if common_prefix(path, key, depth) != path.len() {
                        None
                    } else {
                        depth += path.len();
                        Some(child)
                    }
                }
                Kind::Branch { children } => {
                    let i = nibble(key, depth) as usize;
                    depth += 1;
                    children[i].as_ref()
                }
            };
        }
        out
    }
}

/// The node's full RLP encoding (not the 32-byte reference).
fn node_encoding<V: TrieValue>(node: &Node<V>) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_node(node, &mut buf);
    buf
}

fn encode_node<V: TrieValue>(node: &Node<V>, buf: &mut Vec<u8>) -> RlpNode {
    match &node.kind {
        Kind::Leaf { key, value } => {
            let mut encoded = Vec::with_capacity(48);
            value.encode_value(&mut encoded);
            LeafNodeRef::new(key, &encoded).rlp(buf)
        }
        Kind::Extension { key, child } => {
            let child = node_rlp(child);
            ExtensionNodeRef::new(key, child.as_slice()).rlp(buf)
        }
        Kind::Branch { children } => {
            let mut stack = Vec::with_capacity(16);
            let mut mask = TrieMask::default();
            for (i, child) in children.iter().enumerate() {
                if let Some(child) = child {
                    stack.push(node_rlp(child).clone());
                    mask.set_bit(i as u8);
                }
            }
            BranchNodeRef::new(&stack, mask).rlp(buf)
        }
    }
}

/// The node's reference: its RLP if shorter than 32 bytes, else `rlp(keccak256(rlp))`.
fn node_rlp<V: TrieValue>(node: &Node<V>) -> &RlpNode {
    node.rlp.get_or_init(|| encode_node(node, &mut Vec::with_capacity(128)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;
    use alloy_trie::HashBuilder;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn reference_root(entries: &BTreeMap<B256, U256>) -> B256 {
        let mut hb = HashBuilder::default();
        for (k, v) in entries {
            let mut value = Vec::new();
            v.encode_value(&mut value);
            hb.add_leaf(Nibbles::unpack(k), &value);
        }
        hb.root()
    }

    fn key(i: u64) -> B256 {
        keccak256(i.to_be_bytes())
    }

    /// The empty trie has the well-known empty root.
    #[test]
    fn empty_root() {
        assert_eq!(Trie::<U256>::new().root(), EMPTY_ROOT_HASH);
    }

    /// Inserting, overwriting and removing keep the root equal to a from-scratch build.
    #[test]
    fn matches_hash_builder_through_updates() {
        let mut trie = Trie::new();
        let mut model = BTreeMap::new();
        for i in 0..500u64 {
            trie.insert(key(i), U256::from(i + 1));
            model.insert(key(i), U256::from(i + 1));
        }
        assert_eq!(trie.root(), reference_root(&model));
        for i in (0..500u64).step_by(3) {
            assert!(trie.remove(&key(i)));
            model.remove(&key(i));
        }
        assert!(!trie.remove(&key(100_000)));
        assert_eq!(trie.root(), reference_root(&model));
        for (k, v) in &model {
            assert_eq!(trie.get(k), Some(v));
        }
        assert_eq!(trie.get(&key(0)), None);
    }

    /// A clone is unaffected by later updates to the original (snapshots stay valid).
    #[test]
    fn clones_are_snapshots() {
        let mut trie = Trie::new();
        trie.insert(key(1), U256::from(1));
        let snapshot = trie.clone();
        let root = snapshot.root();
        trie.insert(key(2), U256::from(2));
        trie.remove(&key(1));
        assert_eq!(snapshot.root(), root);
        assert_eq!(snapshot.get(&key(1)), Some(&U256::from(1)));
        assert_eq!(snapshot.get(&key(2)), None);
    }

    /// Keys sharing long prefixes exercise extension splitting and merging.
    #[test]
    fn shared_prefixes() {
        let mut trie = Trie::new();
        let mut model = BTreeMap::new();
        for last in [0x00u8, 0x01, 0x10, 0xff] {
            let mut k = B256::repeat_byte(0xab);
            k[31] = last;
            trie.insert(k, U256::from(last));
            model.insert(k, U256::from(last));
            assert_eq!(trie.root(), reference_root(&model));
        }
        for last in [0x01u8, 0x00, 0xff] {
            let mut k = B256::repeat_byte(0xab);
            k[31] = last;
            trie.remove(&k);
            model.remove(&k);
            assert_eq!(trie.root(), reference_root(&model));
        }
    }

    /// `for_each` visits exactly the stored pairs, in key order.
    #[test]
    fn iteration_in_key_order() {
        let mut trie = Trie::new();
        let mut model = BTreeMap::new();
        for i in 0..64u64 {
            trie.insert(key(i), U256::from(i));
            model.insert(key(i), U256::from(i));
        }
        let mut seen = Vec::new();
        trie.for_each(|k, v| seen.push((k, *v)));
        assert_eq!(seen, model.into_iter().collect::<Vec<_>>());
    }

    /// A proof's first node hashes to the root and its last node ends the path.
    #[test]
    fn proof_starts_at_root() {
        let mut trie = Trie::new();
        for i in 0..100u64 {
            trie.insert(key(i), U256::from(i));
        }
        let proof = trie.proof(&key(7));
        assert!(!proof.is_empty());
        assert_eq!(keccak256(&proof[0]), trie.root());
    }

    proptest! {
        /// Any sequence of inserts and removes gives the reference root and contents.
        #[test]
        fn random_operations(ops in prop::collection::vec((0u8..40, any::<bool>(), 1u64..1000), 1..120)) {
            let mut trie = Trie::new();
            let mut model = BTreeMap::new();
            for (k, insert, v) in ops {
                let k = key(k as u64);
                if insert {
                    trie.insert(k, U256::from(v));
                    model.insert(k, U256::from(v));
                } else {
                    prop_assert_eq!(trie.remove(&k), model.remove(&k).is_some());
                }
            }
            prop_assert_eq!(trie.root(), reference_root(&model));
            prop_assert_eq!(trie.is_empty(), model.is_empty());
        }
    }
}
