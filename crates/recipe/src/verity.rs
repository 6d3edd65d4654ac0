//! dm-verity pairs (`verity = true` on a data partition, `verity_of` on the partition of
//! a `*-verity` type that holds its hash tree): each partition checked alone, then the
//! pairs joined. The hash tree's format is `ingot-verity`'s; docs/verity.md says why each
//! rule is here.

use crate::error::Locator;
use crate::schema::{RawPartition, RawRecipe};
use crate::{Ext4, Filesystem, PartitionSpec, RecipeError, SizeSpec, Verity};
use ingot_types::TableKind;
use toml::Value;

/// dm-verity's data block, which a data partition's size must be a multiple of.
pub(crate) const BLOCK: u64 = ingot_verity::BLOCK_SIZE as u64;

/// Checks a partition that says `verity = true` on its own: a filesystem ingot writes
/// read-only (ext4), a GPT disk, a size in whole verity blocks and content to protect.
/// Returns whether it asks for verity.
pub(crate) fn check_data(
    loc: &Locator,
    i: usize,
    p: &RawPartition,
    table: TableKind,
    filesystem: &Filesystem,
    size: SizeSpec,
) -> Result<bool, RecipeError> {
    let Some(flag) = p.verity.as_ref().filter(|v| *v.get_ref()) else { return Ok(false) };
    let at = flag.span().start;
    let key = format!("partition[{i}].verity");
    if table == TableKind::Mbr {
        let why = "dm-verity's hash partition types exist on GPT only; use table = \"gpt\"";
        return Err(loc.at(at, format!("{key}: {why}")));
    }
    if !matches!(filesystem, Filesystem::Ext4(_) | Filesystem::Erofs(_)) {
        return Err(loc.at(at, format!(
            "{key}: dm-verity protects a filesystem ingot writes read-only, filesystem = \"ext4\" or \"erofs\"; this partition's is {:?}",
            filesystem.name()
        )));
    }
    if p.contents.is_empty() {
        let why =
            "a verity partition is read-only forever, so an empty one is of no use: give it [[partition.contents]]";
        return Err(loc.at(at, format!("partition[{i}].contents: {why}")));
    }
    if let SizeSpec::Bytes(n) = size {
        if n % BLOCK != 0 {
            let why = format!("{n} bytes is not a whole number of dm-verity's 4 KiB blocks");
            return Err(loc.at(p.size.span().start, format!("partition[{i}].size: {why}")));
        }
    }
    Ok(true)
}

/// The ext4 of a data partition, written as it is read under dm-verity: read-only
/// forever, so no journal (nothing to replay) and no reserved blocks (no one to reserve
/// them for) unless asked; 4 KiB blocks, as the dm-verity device's logical block is its
/// data block and the kernel mounts no ext4 with blocks smaller than its device's
/// ("bad block size 1024").
pub(crate) fn ext4_defaults(loc: &Locator, i: usize, p: &RawPartition, e: &mut Ext4) -> Result<(), RecipeError> {
    e.journal.get_or_insert(false);
    e.reserved_percent.get_or_insert(0);
    match p.ext4.as_ref().and_then(|x| x.block_size.as_ref()) {
        Some(b) if u64::from(*b.get_ref()) != BLOCK => Err(loc.at(b.span().start, format!(
            "partition[{i}].ext4.block_size: under dm-verity the device reads in 4096-byte blocks, and Linux mounts no ext4 with smaller blocks on it; use 4096"
        ))),
        _ => {
            e.block_size = Some(BLOCK as u32);
            Ok(())
        }
    }
}

/// Checks a partition of a `*-verity` type on its own: it names its data partition with
/// `verity_of` and holds nothing but the tree, or it copies in a hash device made
/// elsewhere (an `image` source). A `verity_of` on another type is an error.
pub(crate) fn check_hash(loc: &Locator, i: usize, spec: &PartitionSpec, p: &RawPartition) -> Result<(), RecipeError> {
    let hash_type = spec.kind.verity_data().is_some();
    match (&p.verity_of, hash_type) {
        (None, false) => Ok(()),
        (Some(of), false) => Err(loc.at(of.span().start, format!(
            "partition[{i}].verity_of: only a dm-verity hash partition names a data partition; give this one a type such as \"root-x86-64-verity\""
        ))),
        // A hash device made elsewhere, copied in as an `image`.
        (None, true) if !spec.contents.is_empty() => Ok(()),
        (None, true) => Err(loc.at(p.kind.span().start, format!(
            "partition[{i}].type: a dm-verity hash partition needs `verity_of`, the label or index of the partition whose tree ingot writes into it (or an `image` source holding a hash device made elsewhere)"
        ))),
        (Some(of), true) if !matches!(spec.filesystem, Filesystem::None) || !spec.contents.is_empty() => {
            Err(loc.at(of.span().start, format!(
                "partition[{i}]: a dm-verity hash partition holds its tree and nothing else: remove `filesystem` and `contents`"
            )))
        }
        (Some(_), true) => Ok(()),
    }
}

/// Joins each hash partition to the data partition its `verity_of` names, and checks that
/// every data partition got exactly one, of the matching type.
pub(crate) fn pair(
    loc: &Locator,
    raw: &RawRecipe,
    wants: &[bool],
    parts: &mut [PartitionSpec],
) -> Result<(), RecipeError> {
    for (i, p) in raw.partition.iter().enumerate() {
        let Some(of) = &p.get_ref().verity_of else { continue };
        let at = of.span().start;
        let key = format!("partition[{i}].verity_of");
        let data = data_index(of.get_ref(), parts).map_err(|why| loc.at(at, format!("{key}: {why}")))?;
        if !wants[data] {
            let why = format!("partition[{data}] does not say `verity = true`: add it there");
            return Err(loc.at(at, format!("{key}: {why}")));
        }
        if let Verity::Data { hash } = parts[data].verity {
            let why =
                format!("partition[{data}] already has its hash tree in partition[{hash}]; a data partition has one");
            return Err(loc.at(at, format!("{key}: {why}")));
        }
        if let Some(expected) = parts[data].kind.verity_hash().filter(|&t| t != parts[i].kind) {
            let (data_type, hash_type) = (parts[data].kind.name().unwrap_or("?"), expected.name().unwrap_or("?"));
            let why = format!("the hash partition of a {data_type} partition is type = \"{hash_type}\"");
            return Err(loc.at(p.get_ref().kind.span().start, format!("partition[{i}].type: {why}")));
        }
        parts[data].verity = Verity::Data { hash: i };
        parts[i].verity = Verity::Hash { data };
    }
    for (i, p) in raw.partition.iter().enumerate() {
        if wants[i] && parts[i].verity == Verity::None {
            let hash_type = parts[i].kind.verity_hash().and_then(|t| t.name()).unwrap_or("root-x86-64-verity");
            let at = p.get_ref().verity.as_ref().map_or(0, |v| v.span().start);
            return Err(loc.at(at, format!(
                "partition[{i}].verity: no partition holds its hash tree: add a [[partition]] with type = \"{hash_type}\", verity_of = {i} and size = \"auto\""
            )));
        }
    }
    Ok(())
}

/// The partition `verity_of` names: an index, or a label only one partition has.
fn data_index(of: &Value, parts: &[PartitionSpec]) -> Result<usize, String> {
    match of {
        Value::Integer(n) => usize::try_from(*n)
            .ok()
            .filter(|&n| n < parts.len())
            .ok_or_else(|| format!("there is no partition[{n}]: the recipe has {} partitions", parts.len())),
        Value::String(label) => {
            let found: Vec<usize> = (0..parts.len()).filter(|&j| parts[j].label == *label).collect();
            match found.as_slice() {
                [one] => Ok(*one),
                [] => Err(format!("no partition has the label {label:?}")),
                [a, b, ..] => {
                    Err(format!("partition[{a}] and partition[{b}] are both labelled {label:?}: use an index"))
                }
            }
        }
        _ => Err("expected a partition's label (a string) or index (a number)".into()),
    }
}

/// The size of the hash partition of a `data_size`-byte data partition: the superblock's
/// block and the tree.
pub(crate) fn hash_size(data_size: u64) -> u64 {
    ingot_verity::hash_size(data_size / BLOCK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hash_partition_holds_the_superblock_and_the_tree() {
        assert_eq!(super::hash_size(4096), 4096);
        assert_eq!(super::hash_size(129 * 4096), 4 * 4096);
    }
}
