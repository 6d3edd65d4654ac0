use crate::error::Locator;
use crate::filesystem::{erofs, ext4, vfat};
use crate::partition_type::partition_type;
use crate::schema::{RawContent, RawOverride, RawPartition, RawRecipe};
use crate::units::size_value;
use crate::{capability_xattr, Filesystem, Override, PartitionSpec, Recipe, RecipeError, Seed, SizeSpec, Source};
use ingot_types::TableKind;
use std::ops::Range;
use std::path::Path;
use toml::{Spanned, Value};

/// `table`: GPT unless the recipe says MBR.
fn table_kind(loc: &Locator, raw: &RawRecipe) -> Result<TableKind, RecipeError> {
    let Some(table) = &raw.table else { return Ok(TableKind::Gpt) };
    table.get_ref().parse().map_err(|_| {
        let other = table.get_ref();
        loc.at(table.span().start, format!("table: {other:?} is not a partition table: use \"gpt\" or \"mbr\""))
    })
}

/// The disk's `size` and where it is written: `auto` by default, at most
/// [`ingot_types::ebs::DISK_SIZE_MAX`].
fn disk_size(loc: &Locator, raw: &RawRecipe) -> Result<(SizeSpec, Range<usize>), RecipeError> {
    let (size, size_span) = match &raw.size {
        None => (SizeSpec::Auto, 0..0),
        Some(s) => (size_value(loc, "size", s, false)?, s.span()),
    };
    if let SizeSpec::Bytes(n) = size {
        let max = ingot_types::ebs::DISK_SIZE_MAX;
        if n > max {
            let (n, max) = (crate::format_size(n), crate::format_size(max));
            let why = format!("size: {n} is more than the largest disk, {max} (EBS's largest volume)");
            return Err(loc.at(size_span.start, why));
        }
    }
    Ok((size, size_span))
}

/// The `[[partition]]`s: at least one, at most one `fill`, and no more than the table
/// holds (4 in an MBR, [`ingot_disk::gpt::ENTRIES`] in a GPT).
fn partitions(
    loc: &Locator,
    base: &Path,
    raw: &RawRecipe,
    table: TableKind,
) -> Result<Vec<PartitionSpec>, RecipeError> {
    if raw.partition.is_empty() {
        return Err(loc.whole("the recipe has no [[partition]]: add at least one"));
    }
    let max = match table {
        TableKind::Mbr => 4,
        TableKind::Gpt => ingot_disk::gpt::ENTRIES as usize,
    };
    if raw.partition.len() > max {
        let why = match table {
            TableKind::Mbr => "partition: an MBR table holds at most 4 partitions; use table = \"gpt\"".to_string(),
            TableKind::Gpt => {
                format!("partition: a GPT holds at most {max} partitions (this recipe has {})", raw.partition.len())
            }
        };
        return Err(loc.at(raw.partition[max].span().start, why));
    }
    let (mut partitions, mut wants) = (Vec::new(), Vec::new());
    for (i, p) in raw.partition.iter().enumerate() {
        let (spec, verity) = partition(loc, base, table, i, p.get_ref())?;
        partitions.push(spec);
        wants.push(verity);
    }
    crate::verity::pair(loc, raw, &wants, &mut partitions)?;
    let fills: Vec<_> = partitions.iter().filter(|p| p.size == SizeSpec::Fill).collect();
    if fills.len() > 1 {
        return Err(
            loc.at(fills[1].size_span.start, "size: only one partition may be \"fill\"; give the others a size")
        );
    }
    Ok(partitions)
}

impl Recipe {
    /// Reads, parses and validates the recipe at `path`. `$SOURCE_DATE_EPOCH`, when set,
    /// overrides the recipe's `source_date_epoch`.
    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let text = ingot_types::input::read_to_string(path, ingot_types::input::RECIPE_MAX)?;
        let mut recipe = Recipe::parse(&text, path)?;
        if let Ok(env) = std::env::var("SOURCE_DATE_EPOCH") {
            recipe.source_date_epoch = env.trim().parse().map_err(|_| {
                recipe.loc.whole(format!(
                    "the environment variable SOURCE_DATE_EPOCH={env:?} is not a whole number of seconds"
                ))
            })?;
        }
        Ok(recipe)
    }

    /// Parses and validates recipe `text`; `path` names it in errors and relative source
    /// paths are taken from its directory.
    pub fn parse(text: &str, path: &Path) -> Result<Recipe, RecipeError> {
        let loc = Locator { file: path.to_owned(), text: text.to_owned() };
        let raw: RawRecipe = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            loc.at(at, with_suggestion(e.message()))
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let table = table_kind(&loc, &raw)?;
        let name = raw.name.get_ref().clone();
        if name.is_empty() || name.contains('/') || name.contains(char::is_control) || name.starts_with('.') {
            return Err(loc.at(
                raw.name.span().start,
                "name: must be a non-empty file name without '/' or control characters, not starting with '.'",
            ));
        }
        let (size, size_span) = disk_size(&loc, &raw)?;
        let alignment = match &raw.alignment {
            None => 1 << 20,
            Some(a) => match size_value(&loc, "alignment", a, false)? {
                SizeSpec::Bytes(n) if n >= 512 && n % 512 == 0 => n,
                _ => return Err(loc.at(a.span().start, "alignment: must be a multiple of 512 bytes, like \"1 MiB\"")),
            },
        };
        let seed = Seed::new(raw.seed.as_ref().map_or(name.as_str(), |s| s.get_ref().as_str()));
        let source_date_epoch = raw.source_date_epoch.as_ref().map_or(0, |s| *s.get_ref());
        if source_date_epoch < 0 {
            let span = raw.source_date_epoch.as_ref().map_or(0, |s| s.span().start);
            return Err(loc.at(span, "source_date_epoch: must not be negative"));
        }
        let partitions = partitions(&loc, &base, &raw, table)?;
        let boot = match &raw.boot {
            Some(b) => crate::boot::boot(&loc, b, &partitions, table)?,
            None => None,
        };
        let arch = crate::boot::arch(&loc, raw.boot.as_ref())?;
        let ami = match &raw.ami {
            Some(a) => Some(crate::ami::ami(&loc, a.get_ref(), arch, raw.secure_boot.is_some(), &base)?),
            None => None,
        };
        let uefi = boot.as_ref().and_then(|b| b.uefi);
        let boot_mode = ami.as_ref().map(|a| a.machine.boot_mode);
        let secure_boot = crate::secure_boot::secure_boot(&loc, &raw, &base, uefi, boot_mode)?;
        Ok(Recipe {
            name,
            size,
            table,
            alignment,
            seed,
            source_date_epoch,
            partitions,
            boot,
            ami,
            secure_boot,
            loc,
            size_span,
        })
    }
}

fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else { return message.to_owned() };
    let Some(end) = rest.find('`') else { return message.to_owned() };
    let unknown = &rest[..end];
    let expected: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
    let best = expected
        .iter()
        .map(|k| (strsim::damerau_levenshtein(unknown, k), *k))
        .min()
        .filter(|(d, k)| *d <= 2.max(k.len() / 3));
    match best {
        Some((_, k)) => format!("unknown key `{unknown}`: did you mean `{k}`? (valid keys: {})", expected.join(", ")),
        None => format!("unknown key `{unknown}` (valid keys: {})", expected.join(", ")),
    }
}

fn partition(
    loc: &Locator,
    base: &Path,
    table: TableKind,
    i: usize,
    p: &RawPartition,
) -> Result<(PartitionSpec, bool), RecipeError> {
    let key = |k: &str| format!("partition[{i}].{k}");
    let label = p.label.as_ref().map_or_else(String::new, |l| l.get_ref().clone());
    if label.encode_utf16().count() > 36 {
        let at = p.label.as_ref().map_or(0, |l| l.span().start);
        return Err(loc.at(at, format!("{}: a GPT partition name holds at most 36 UTF-16 units", key("label"))));
    }
    let kind = partition_type(table, p.kind.get_ref())
        .map_err(|m| loc.at(p.kind.span().start, format!("{}: {m}", key("type"))))?;
    let size = size_value(loc, &key("size"), &p.size, true)?;
    if let SizeSpec::Bytes(n) = size {
        if n == 0 || n % 512 != 0 {
            return Err(
                loc.at(p.size.span().start, format!("{}: must be a non-zero multiple of 512 bytes", key("size")))
            );
        }
    }
    let start = match &p.start {
        None => None,
        Some(s) => match size_value(loc, &key("start"), s, false)? {
            SizeSpec::Bytes(n) => Some(n),
            _ => return Err(loc.at(s.span().start, format!("{}: must be an offset like \"1 MiB\"", key("start")))),
        },
    };
    let mut filesystem = match p.filesystem.as_ref().map(|f| f.get_ref().as_str()) {
        None | Some("none") => Filesystem::None,
        Some("vfat") => Filesystem::Vfat(vfat(loc, &key("vfat"), p, &label)?),
        Some("ext4") => Filesystem::Ext4(ext4(loc, &key("ext4"), p, &label)?),
        Some("erofs") => Filesystem::Erofs(erofs(loc, &format!("partition[{i}]"), p, &label)?),
        Some(other) => {
            let at = p.filesystem.as_ref().map_or(0, |f| f.span().start);
            return Err(loc.at(
                at,
                format!(
                    "{}: {other:?} is not a filesystem ingot writes: use \"ext4\", \"erofs\", \"vfat\" or \"none\"",
                    key("filesystem")
                ),
            ));
        }
    };
    let verity = crate::verity::check_data(loc, i, p, table, &filesystem, size)?;
    if let (true, Filesystem::Ext4(e)) = (verity, &mut filesystem) {
        crate::verity::ext4_defaults(loc, i, p, e)?;
    }
    let mut contents = Vec::new();
    for (j, c) in p.contents.iter().enumerate() {
        contents.push(content(loc, base, &format!("partition[{i}].contents[{j}]"), c)?);
    }
    check_contents(loc, &key("contents"), &filesystem, &contents, p)?;
    let mut exclude = Vec::new();
    for e in &p.exclude {
        exclude.push(e.get_ref().clone());
    }
    let overrides = p
        .overrides
        .iter()
        .enumerate()
        .map(|(j, o)| override_(loc, &format!("partition[{i}].override[{j}]"), o))
        .collect::<Result<_, _>>()?;
    let spec = PartitionSpec {
        label,
        kind,
        size,
        start,
        filesystem,
        bootable: p.bootable.unwrap_or(false),
        contents,
        exclude,
        overrides,
        verity: crate::Verity::None,
        size_span: p.size.span(),
        start_span: p.start.as_ref().map_or(p.size.span(), |s| s.span()),
    };
    crate::verity::check_hash(loc, i, &spec, p)?;
    Ok((spec, verity))
}

fn check_contents(
    loc: &Locator,
    key: &str,
    fs: &Filesystem,
    contents: &[Source],
    p: &RawPartition,
) -> Result<(), RecipeError> {
    let images = contents.iter().filter(|c| matches!(c, Source::Image { .. })).count();
    let at = p.contents.first().map_or(p.size.span().start, |c| c.span().start);
    match fs {
        Filesystem::None if contents.len() > images || images > 1 => Err(loc
            .at(at, format!("{key}: a partition with filesystem \"none\" takes one `image` source and nothing else"))),
        Filesystem::Vfat(_) | Filesystem::Ext4(_) | Filesystem::Erofs(_) if images > 0 => {
            Err(loc.at(at, format!("{key}: an `image` source needs filesystem = \"none\"")))
        }
        _ => Ok(()),
    }
}

fn mode_value(loc: &Locator, key: &str, v: &Spanned<Value>) -> Result<u32, RecipeError> {
    let mode = match v.get_ref() {
        Value::Integer(n) => u32::try_from(*n).ok(),
        Value::String(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).ok(),
        _ => None,
    };
    mode.filter(|m| *m <= 0o7777).ok_or_else(|| {
        loc.at(v.span().start, format!("{key}: expected permission bits like \"0755\" (octal, at most 07777)"))
    })
}

fn content(loc: &Locator, base: &Path, key: &str, c: &Spanned<RawContent>) -> Result<Source, RecipeError> {
    let r = c.get_ref();
    let given: Vec<(&str, &Spanned<String>)> =
        [("dir", &r.dir), ("tar", &r.tar), ("file", &r.file), ("image", &r.image)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
    let (kind, value) = match given.as_slice() {
        [one] => *one,
        [] => return Err(loc.at(c.span().start, format!("{key}: give one of `dir`, `tar`, `file` or `image`"))),
        [_, second, ..] => {
            return Err(loc.at(
                second.1.span().start,
                format!("{key}: give only one of `dir`, `tar`, `file` or `image` per source"),
            ))
        }
    };
    let path = base.join(value.get_ref());
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(loc.at(value.span().start, format!("{key}.{kind}: {} does not exist", path.display())));
    }
    let to = r.to.as_ref().map(|t| t.get_ref().clone());
    if kind != "file" && (r.mode.is_some() || r.uid.is_some() || r.gid.is_some()) {
        return Err(loc.at(
            c.span().start,
            format!("{key}: mode, uid and gid apply to `file` sources; use [[partition.override]] for others"),
        ));
    }
    if kind != "dir" && (r.preserve_owner.is_some() || r.preserve_mode.is_some()) {
        return Err(loc.at(c.span().start, format!("{key}: preserve_owner and preserve_mode apply to `dir` sources")));
    }
    Ok(match kind {
        "dir" => Source::Dir {
            path,
            to: to.unwrap_or_else(|| "/".into()),
            preserve_owner: r.preserve_owner.unwrap_or(false),
            preserve_mode: r.preserve_mode.unwrap_or(false),
        },
        "tar" => Source::Tar { path, to: to.unwrap_or_else(|| "/".into()) },
        "image" if to.is_some() => {
            return Err(
                loc.at(c.span().start, format!("{key}: an `image` source fills the partition and takes no `to`"))
            )
        }
        "image" => Source::Image { path },
        _ => {
            let to = to.ok_or_else(|| {
                loc.at(value.span().start, format!("{key}: a `file` source needs `to`, its path in the partition"))
            })?;
            let mode =
                r.mode.as_ref().map(|m| mode_value(loc, &format!("{key}.mode"), m)).transpose()?.unwrap_or(0o644);
            Source::File { path, to, mode, uid: r.uid.unwrap_or(0), gid: r.gid.unwrap_or(0) }
        }
    })
}

fn override_(loc: &Locator, key: &str, o: &Spanned<RawOverride>) -> Result<Override, RecipeError> {
    let r = o.get_ref();
    let mode = r.mode.as_ref().map(|m| mode_value(loc, &format!("{key}.mode"), m)).transpose()?;
    let mut xattrs = Vec::new();
    for (name, value) in &r.xattrs {
        if !["user.", "trusted.", "security.", "system."].iter().any(|p| name.starts_with(p)) {
            return Err(loc.at(
                value.span().start,
                format!("{key}.xattrs: {name:?} needs a namespace prefix: user., trusted., security. or system."),
            ));
        }
        let v = value.get_ref();
        let bytes = match v.strip_prefix("0x") {
            Some(text) => hex::decode(text)
                .ok()
                .ok_or_else(|| loc.at(value.span().start, format!("{key}.xattrs.{name}: bad hex after 0x")))?,
            None => v.as_bytes().to_vec(),
        };
        xattrs.push((name.clone(), bytes));
    }
    if let Some(c) = &r.capabilities {
        let v =
            capability_xattr(c.get_ref()).map_err(|e| loc.at(c.span().start, format!("{key}.capabilities: {e}")))?;
        xattrs.push(("security.capability".into(), v));
    }
    Ok(Override { path: r.path.get_ref().clone(), mode, uid: r.uid, gid: r.gid, xattrs })
}
