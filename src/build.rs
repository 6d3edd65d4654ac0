use crate::error::{bail, Result, ResultExt};
use crate::hash::{hash_image, ReportDigests};
use crate::staged::{check_output, Staged};
use crate::{Control, PartitionReport, Progress, Report};
use ingot_disk::{gpt, mbr, Image, SECTOR};
use ingot_recipe::{Filesystem, Plan, PlannedPartition, Recipe, Source};
use ingot_tree::Tree;
use ingot_types::{CoreLocation, TableKind};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What to build and where.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The recipe file.
    pub recipe: PathBuf,
    /// The image to write; default `out/NAME.raw` (the `out` directory is created).
    pub out: Option<PathBuf>,
    /// Where progress goes.
    pub progress: Progress,
    /// The digests the report carries: by default the image digest and its blocks'
    /// (cost in proportion to the data); the whole-file SHA-256 on request.
    pub digests: ReportDigests,
    /// The build's cancel token and clean-up list: a stop requested through it ends the
    /// build with [`Error::Stopped`](crate::Error::Stopped) at the next stage (nothing is
    /// left at the output), and its unfinished files are the build's own.
    pub control: Control,
}

/// A partition's content, loaded before layout.
#[derive(Clone)]
enum Loaded {
    Tree(Tree, Filesystem),
    Image(PathBuf, u64),
    Nothing,
}

/// Builds the image a recipe describes: writes it under a temporary name next to the
/// output, then renames it into place with its `OUT.json` report. On error nothing is
/// left at the output path.
pub fn build(opts: &BuildOptions) -> Result<Report> {
    let recipe = Recipe::load(&opts.recipe)?;
    build_recipe(&recipe, opts)
}

/// [`build`] of `recipe`, already loaded from `opts.recipe`.
pub(crate) fn build_recipe(recipe: &Recipe, opts: &BuildOptions) -> Result<Report> {
    let (path, progress, control) = (&opts.recipe, &opts.progress, &opts.control);
    let (out, dir, temp) = output(opts.out.clone(), recipe, control)?;
    let mut loaded = Vec::new();
    for (i, p) in recipe.partitions.iter().enumerate() {
        control.check()?;
        progress.stage(format!("reading the content of partition {}", i + 1));
        loaded.push(load(recipe, p, &dir).with_context(|| format!("{}: partition[{i}]", path.display()))?);
    }
    let mut bios = None;
    let uefi_data = crate::secure_boot::uefi_data(recipe)?;
    if let Some(text) = &uefi_data {
        ingot_aws::check_uefi_data(text).with_context(|| format!("{}: secure_boot", path.display()))?;
    }
    // A root under dm-verity: the boot files are sized with a stand-in root hash, and
    // made again into the ESP as it was once the root is written and hashed.
    let mut esp_before = None;
    if let Some(boot) = &recipe.boot {
        progress.stage("installing the boot loader");
        let verity = verity_root(recipe, boot).map(|_| ingot_boot::VerityRoot::placeholder());
        if let (Some(_), Some(esp)) = (&verity, boot.esp) {
            esp_before = Some((esp, loaded[esp].clone()));
        }
        bios = install_boot(recipe, boot, &mut loaded, &dir, verity).with_context(|| format!("{}", path.display()))?;
    }
    let mut sizes: Vec<Option<u64>> = Vec::with_capacity(loaded.len());
    // EROFS partitions' plans: exactly their size (the writer places every byte, and
    // compresses every file, before writing one), kept for the write.
    let mut erofs_plans: Vec<Option<ingot_erofs::Plan>> = loaded.iter().map(|_| None).collect();
    for (i, l) in loaded.iter().enumerate() {
        sizes.push(match l {
            Loaded::Tree(t, Filesystem::Ext4(e)) => {
                Some(ingot_ext4::estimate_size(t, e.inode_ratio, e.inode_count, e.free_space))
            }
            Loaded::Tree(t, Filesystem::Erofs(e)) => {
                let plan = ingot_erofs::plan(t, &erofs_options(recipe, i + 1, e, &dir))
                    .with_context(|| format!("{}: partition[{i}]", path.display()))?;
                let size = plan.size();
                erofs_plans[i] = Some(plan);
                Some(size)
            }
            Loaded::Tree(t, _) => Some(ingot_fat::estimate_size(t)),
            Loaded::Image(_, n) => Some(*n),
            Loaded::Nothing => None,
        });
    }
    let mut plan = recipe.layout(&sizes)?;
    let mut image = Image::create(temp.path(), plan.disk_size)?;
    let mut reports: Vec<Option<PartitionReport>> = plan.partitions.iter().map(|_| None).collect();
    let write = |image: &mut Image, part: &PlannedPartition, content: &Loaded| {
        control.check()?;
        progress.stage(format!("writing partition {} ({})", part.number, part.spec.label));
        let erofs = erofs_plans[part.number - 1].as_ref().map(|plan| (plan, dir.as_path()));
        write_partition(recipe, image, part, content, erofs)
            .with_context(|| format!("{}: partition[{}]", path.display(), part.number - 1))
    };
    // Verity's data partitions first: their root hashes name them and reach the ESP.
    let mut verity = Vec::new();
    for (data, hash) in recipe.verity_pairs() {
        reports[data] = Some(write(&mut image, &plan.partitions[data], &loaded[data])?);
        progress.stage(format!("hashing partition {} for dm-verity", data + 1));
        let w = write_verity(recipe, &mut image, &mut plan, (data, hash), control)
            .with_context(|| format!("{}: partition[{data}].verity", path.display()))?;
        verity.push(w);
    }
    if let (Some(boot), Some((esp, before))) = (&recipe.boot, esp_before) {
        loaded[esp] = before;
        let root = verity.iter().find(|w| w.report.data_partition == boot.root + 1);
        install_boot(recipe, boot, &mut loaded, &dir, root.map(|w| verity_root_of(w, &plan)))
            .with_context(|| format!("{}", path.display()))?;
    }
    for (part, content) in plan.partitions.iter().zip(&loaded) {
        if reports[part.number - 1].is_none() {
            reports[part.number - 1] = Some(write(&mut image, part, content)?);
        }
    }
    let mut reports: Vec<PartitionReport> = reports.into_iter().flatten().collect();
    for r in &mut reports {
        r.guid = partuuid(recipe, &plan.partitions[r.number - 1]);
    }
    write_table(&mut image, &plan)?;
    let measurements = match recipe.boot.as_ref() {
        Some(boot) => measure_boot(&image, &plan, boot, uefi_data.as_deref())?,
        None => None,
    };
    if let Some(code) = &bios {
        ingot_boot::write_bios(code, &mut image, core_area(&plan, code.location()))
            .with_context(|| format!("{}: boot.bios", path.display()))?;
    }
    control.check()?;
    // The image is complete: the disk writes it while it is hashed.
    image.start_writeback()?;
    let ranges: Vec<(u64, u64)> = plan.partitions.iter().map(|p| (p.offset, p.size)).collect();
    let hashed = hash_image(temp.path(), image.file(), plan.disk_size, &ranges, opts.digests, progress)?;
    for (r, (digest, sha256)) in reports.iter_mut().zip(hashed.ranges) {
        (r.digest, r.sha256) = (digest, sha256);
    }
    control.check()?;
    progress.stage("syncing");
    image.sync()?;
    let zeroed = image.zeroed().iter().collect();
    let mut report = report(&plan, &out, hashed.data_bytes, zeroed, reports);
    report.uefi_data = uefi_data;
    report.verity = verity.into_iter().map(|w| w.report).collect();
    report.measurements = measurements;
    (report.digest, report.blocks, report.sha256) = (hashed.digest, hashed.blocks, hashed.sha256);
    report.uefi_data_sha256 = report.uefi_data.as_deref().map(crate::secure_boot::store_sha256);
    persist(temp, &out, &report, control)?;
    progress.finish();
    Ok(report)
}

/// The output path, its directory (also where spool files go) and the temporary file
/// the image is written to; a missing or unwritable directory is an error naming it.
fn output(out: Option<PathBuf>, recipe: &Recipe, control: &Control) -> Result<(PathBuf, PathBuf, Staged)> {
    let out = match out {
        Some(o) => o,
        None => {
            fs::create_dir_all("out").context("cannot create the output directory `out`")?;
            PathBuf::from("out").join(format!("{}.raw", recipe.name))
        }
    };
    let dir = crate::staged::dir_of(&out)?;
    check_output(&Report::path_of(&out))?;
    check_outside_sources(&dir, recipe)?;
    let temp = Staged::new(&out, None, control)?;
    Ok((out, dir, temp))
}

/// Refuses an output directory inside one of the recipe's `dir` sources: the image (and
/// its temporary files) would be copied into itself.
fn check_outside_sources(out_dir: &Path, recipe: &Recipe) -> Result<()> {
    let Ok(out_dir) = out_dir.canonicalize() else { return Ok(()) };
    for (i, p) in recipe.partitions.iter().enumerate() {
        for (j, source) in p.contents.iter().enumerate() {
            let Source::Dir { path, .. } = source else { continue };
            if path.canonicalize().is_ok_and(|src| out_dir.starts_with(src)) {
                bail!(
                    "partition[{i}].contents[{j}].dir: the output directory {} is inside the source directory {}: the image would be copied into itself; choose an -o outside it",
                    out_dir.display(),
                    path.display()
                );
            }
        }
    }
    Ok(())
}

fn report(
    plan: &Plan,
    out: &Path,
    data_bytes: u64,
    zeroed: Vec<(u64, u64)>,
    partitions: Vec<PartitionReport>,
) -> Report {
    Report {
        image: out.to_path_buf(),
        name: plan.name.clone(),
        disk_size: plan.disk_size,
        table: plan.table.as_str().into(),
        disk_id: match plan.table {
            TableKind::Gpt => plan.disk_guid.to_string(),
            TableKind::Mbr => format!("{:08x}", plan.disk_signature),
        },
        source_date_epoch: plan.source_date_epoch,
        digest: None,
        blocks: Default::default(),
        sha256: None,
        data_bytes,
        zeroed,
        partitions,
        verity: Vec::new(),
        measurements: None,
        uefi_data: None,
        uefi_data_sha256: None,
    }
}

/// The measurements of booting what the build put on the ESP of `image` (a UKI, or
/// systemd-boot and its kernel), read back from it; `None` for GRUB, and when a UKI's
/// stub version cannot be read (Debian 12's arm64 stub describes no `.sdmagic`
/// section), as the kernel's measurement depends on it (`ingot measure` says so as an
/// error).
fn measure_boot(
    image: &Image,
    plan: &Plan,
    boot: &ingot_recipe::Boot,
    uefi_data: Option<&str>,
) -> Result<Option<crate::Measurements>> {
    use ingot_types::UefiLoader;
    if !matches!(boot.uefi, Some(UefiLoader::Uki | UefiLoader::SystemdBoot)) {
        return Ok(None);
    }
    let Some(esp) = boot.esp.map(|i| &plan.partitions[i]) else { bail!("a UEFI boot needs an EFI system partition") };
    match crate::measure::of_esp(image.file(), esp.offset, esp.size, uefi_data, crate::measure::Scope::All) {
        Ok(Some(m)) => Ok(Some(m)),
        Ok(None) => bail!("no {} on the ESP", ingot_boot::removable_path(boot.arch)),
        Err(crate::Error::Boot(ingot_boot::BootError::Measure { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the hash tree of the verity pair `(data, hash)` (partition indexes; the data
/// partition written) and names both partitions by its root hash in `plan`.
fn write_verity(
    recipe: &Recipe,
    image: &mut Image,
    plan: &mut Plan,
    (data, hash): (usize, usize),
    control: &Control,
) -> Result<crate::verity::Written> {
    let id = (&recipe.verity_salt(data + 1), recipe.verity_uuid(hash + 1));
    let w = crate::verity::write_tree(image, &plan.partitions[data], &plan.partitions[hash], id, control)?;
    (plan.partitions[data].guid, plan.partitions[hash].guid) = ingot_verity::partition_uuids(&w.root_hash);
    Ok(w)
}

/// The command line's view of the verity pair `w` placed in `plan`.
fn verity_root_of(w: &crate::verity::Written, plan: &Plan) -> ingot_boot::VerityRoot {
    ingot_boot::VerityRoot {
        root_hash: w.root_hash,
        data_partuuid: plan.partitions[w.report.data_partition - 1].guid,
        hash_partuuid: plan.partitions[w.report.hash_partition - 1].guid,
    }
}

/// The PARTUUID the kernel knows `part` by: its GPT unique GUID as placed (a verity
/// pair's come from its root hash), or the MBR disk signature and number.
fn partuuid(recipe: &Recipe, part: &PlannedPartition) -> String {
    match recipe.table {
        TableKind::Gpt => part.guid.to_string(),
        TableKind::Mbr => recipe.partuuid(part.number),
    }
}

/// The hash partition of `boot`'s root, when the root is under dm-verity.
fn verity_root(recipe: &Recipe, boot: &ingot_recipe::Boot) -> Option<usize> {
    match recipe.partitions[boot.root].verity {
        ingot_recipe::Verity::Data { hash } => Some(hash),
        _ => None,
    }
}

/// The boot chain's configuration for `recipe`'s `[boot]`: the root by its PARTUUID and
/// filesystem UUID (or by `verity`, a root under dm-verity), and with `[secure_boot]` the
/// db key (read and checked against the first db certificate).
pub(crate) fn boot_config(
    recipe: &Recipe,
    boot: &ingot_recipe::Boot,
    verity: Option<ingot_boot::VerityRoot>,
) -> Result<ingot_boot::Config> {
    let number = boot.root + 1;
    Ok(ingot_boot::Config {
        uefi: boot.uefi,
        bios: boot.bios,
        arch: boot.arch,
        table: recipe.table,
        title: recipe.name.clone(),
        kernel: boot.kernel.clone(),
        initrd: boot.initrd.clone(),
        cmdline: boot.cmdline.clone(),
        root_fs: boot.root_fs,
        root_index: boot.root,
        root_partuuid: recipe.partuuid(number),
        root_fs_uuid: recipe.ext4_uuid(number),
        verity,
        source_date_epoch: recipe.source_date_epoch,
        signer: match &recipe.secure_boot {
            Some(sb) => Some(std::sync::Arc::new(
                ingot_boot::keys::read_signer(&sb.db_key, &sb.db[0])
                    .with_context(|| format!("{}: secure_boot", recipe.path().display()))?,
            )),
            None => None,
        },
    })
}

/// Installs what `[boot]` asks for into the trees; returns the BIOS boot code to write
/// once the partition table is in place.
fn install_boot(
    recipe: &Recipe,
    boot: &ingot_recipe::Boot,
    loaded: &mut [Loaded],
    spool: &Path,
    verity: Option<ingot_boot::VerityRoot>,
) -> Result<Option<ingot_boot::BiosCode>> {
    let config = boot_config(recipe, boot, verity)?;
    let (root, esp) = match boot.esp {
        None => (&mut loaded[boot.root], None),
        Some(esp) if esp < boot.root => {
            let (a, b) = loaded.split_at_mut(boot.root);
            (&mut b[0], Some(&mut a[esp]))
        }
        Some(esp) => {
            let (a, b) = loaded.split_at_mut(esp);
            (&mut a[boot.root], Some(&mut b[0]))
        }
    };
    let Loaded::Tree(root, _) = root else { bail!("boot: the root partition needs a filesystem") };
    let esp = match esp {
        None => None,
        Some(Loaded::Tree(esp, _)) => Some(esp),
        Some(_) => bail!("boot: the ESP and the root partition need filesystems"),
    };
    Ok(ingot_boot::install(&config, root, esp, spool)?)
}

/// The sectors GRUB's core.img may take: the BIOS boot partition, or the gap between the
/// MBR and the first partition.
fn core_area(plan: &Plan, location: CoreLocation) -> ingot_boot::CoreArea {
    match location {
        CoreLocation::Partition(i) => {
            let p = &plan.partitions[i];
            ingot_boot::CoreArea { lba: p.offset / SECTOR, sectors: p.size / SECTOR }
        }
        CoreLocation::MbrGap => {
            let first = plan.partitions.iter().map(|p| p.offset / SECTOR).min().unwrap_or(0);
            ingot_boot::CoreArea { lba: 1, sectors: first.saturating_sub(1) }
        }
    }
}

/// Writes the report beside the image and renames both into place, the image first.
fn persist(temp: Staged, out: &Path, report: &Report, control: &Control) -> Result<()> {
    let json_path = Report::path_of(out);
    let json = Staged::new(&json_path, Some(".ingot-report."), control)?;
    serde_json::to_writer_pretty(json.file(), report)?;
    io::Write::write_all(&mut json.file(), b"\n")?;
    // Both are made ready (and their paths checked again) before either is renamed, so
    // that a failed rename of the report cannot follow the image's.
    temp.ready()?;
    json.ready()?;
    temp.rename().context("the finished image")?;
    // Between the two renames the image is in place without its report: unfinished still.
    let _out = control.track(out);
    if let Err(e) = json.rename() {
        // The image is kept, under a name that does not look finished.
        let name = out.file_name().map_or("image".into(), |n| n.to_string_lossy().into_owned());
        let kept = out.with_file_name(format!(".{name}.unreported.partial"));
        let said = match fs::rename(out, &kept) {
            Ok(()) => format!("the image is kept as {}", kept.display()),
            Err(_) => format!("the image at {} has no report", out.display()),
        };
        return Err(e).with_context(|| format!("cannot write {} ({said})", json_path.display()));
    }
    Ok(())
}

fn load(recipe: &Recipe, p: &ingot_recipe::PartitionSpec, spool: &Path) -> Result<Loaded> {
    if let Filesystem::None = p.filesystem {
        return Ok(match p.contents.first() {
            Some(Source::Image { path }) => {
                // One rule with `file =`: a regular file (a FIFO would block, /dev/zero
                // would be read as a 0-byte image).
                let len = ingot_types::input::regular_len(path).context("contents[0].image")?;
                Loaded::Image(path.clone(), len)
            }
            _ => Loaded::Nothing,
        });
    }
    let mut tree = Tree::new(recipe.source_date_epoch);
    for (j, source) in p.contents.iter().enumerate() {
        let r = match source {
            Source::Dir { path, to, preserve_owner, preserve_mode } => {
                tree.add_dir(path, to, *preserve_owner, *preserve_mode)
            }
            Source::Tar { path, to } => tree.add_tar(path, to, spool),
            Source::File { path, to, mode, uid, gid } => tree.add_file(path, to, *mode, *uid, *gid),
            Source::Image { .. } => Ok(()),
        };
        r.with_context(|| format!("contents[{j}]"))?;
    }
    tree.exclude(&p.exclude).context("exclude")?;
    for (j, o) in p.overrides.iter().enumerate() {
        tree.set_meta(&o.path, o.mode, o.uid, o.gid, &o.xattrs).with_context(|| format!("override[{j}]"))?;
    }
    Ok(Loaded::Tree(tree, p.filesystem.clone()))
}

/// `[partition.ext4]` of partition `number` (1-based) as the ext4 writer takes it: what
/// the recipe sets over the writer's defaults (mke2fs's), identifiers from the recipe's
/// seed, times at SOURCE_DATE_EPOCH.
fn ext4_options(recipe: &Recipe, number: usize, e: &ingot_recipe::Ext4) -> ingot_ext4::Options {
    let d = ingot_ext4::Options::new(recipe.ext4_uuid(number), recipe.ext4_hash_seed(number), recipe.source_date_epoch);
    ingot_ext4::Options {
        block_size: e.block_size.or(d.block_size),
        label: e.label.clone(),
        inode_ratio: e.inode_ratio.or(d.inode_ratio),
        inode_count: e.inode_count.or(d.inode_count),
        reserved_percent: e.reserved_percent.unwrap_or(d.reserved_percent),
        journal: e.journal.unwrap_or(d.journal),
        dir_index: e.dir_index.unwrap_or(d.dir_index),
        ext_attr: e.ext_attr.unwrap_or(d.ext_attr),
        metadata_csum_seed: e.metadata_csum_seed.unwrap_or(d.metadata_csum_seed),
        ..d
    }
}

/// `[partition.erofs]` of partition `number` (1-based) as the EROFS writer takes it: the
/// UUID from the recipe's seed, the time of compact inodes at SOURCE_DATE_EPOCH.
fn erofs_options(recipe: &Recipe, number: usize, e: &ingot_recipe::Erofs, spool: &Path) -> ingot_erofs::Options {
    ingot_erofs::Options {
        uuid: recipe.erofs_uuid(number),
        label: e.label.clone(),
        time: recipe.source_date_epoch,
        compression: e.compression,
        spool: spool.to_owned(),
    }
}

/// `[partition.vfat]` of partition `number` (1-based) as the FAT writer takes it: no
/// label is FAT's `NO NAME`, the serial from the recipe's seed.
fn vfat_options(recipe: &Recipe, number: usize, v: &ingot_recipe::Vfat) -> ingot_fat::Options {
    ingot_fat::Options {
        label: v.label.clone().unwrap_or_else(|| ingot_fat::NO_LABEL.to_owned()),
        serial: recipe.vfat_serial(number),
        fat: v.fat,
        time: recipe.source_date_epoch,
    }
}

fn write_partition(
    recipe: &Recipe,
    image: &mut Image,
    part: &PlannedPartition,
    content: &Loaded,
    erofs: Option<(&ingot_erofs::Plan, &Path)>,
) -> Result<PartitionReport> {
    let mut report = PartitionReport {
        number: part.number,
        label: part.spec.label.clone(),
        kind: part.kind().to_string(),
        guid: partuuid(recipe, part),
        offset: part.offset,
        size: part.size,
        filesystem: "none".into(),
        filesystem_uuid: None,
        fat_type: None,
        digest: None,
        sha256: None,
    };
    match (&part.spec.filesystem, content) {
        (Filesystem::Ext4(e), Loaded::Tree(tree, _)) => {
            let opts = ext4_options(recipe, part.number, e);
            let info = ingot_ext4::write(tree, image, part.offset, part.size, &opts)?;
            let free = info.free_blocks * u64::from(info.block_size);
            if free < e.free_space {
                bail!(
                    "the ext4 filesystem keeps {} MiB free but `free_space` asks for {} MiB; make `size` at least {} MiB larger",
                    free >> 20,
                    e.free_space >> 20,
                    (e.free_space - free).div_ceil(1 << 20)
                );
            }
            report.filesystem = part.spec.filesystem.name().into();
            report.filesystem_uuid = Some(info.uuid.to_string());
        }
        (Filesystem::Erofs(e), Loaded::Tree(tree, _)) => {
            let Some((plan, spool)) = erofs else { bail!("the EROFS filesystem was not planned before its write") };
            let opts = erofs_options(recipe, part.number, e, spool);
            let info = ingot_erofs::write_plan(tree, plan, image, part.offset, part.size, &opts)?;
            report.filesystem = part.spec.filesystem.name().into();
            report.filesystem_uuid = Some(info.uuid.to_string());
        }
        (Filesystem::Vfat(v), Loaded::Tree(tree, _)) => {
            let opts = vfat_options(recipe, part.number, v);
            let region = image.region(part.offset, part.size)?;
            let info = ingot_fat::write(tree, region, part.size, &opts)?;
            report.filesystem = part.spec.filesystem.name().into();
            report.filesystem_uuid = Some(ingot_fat::volume_serial(opts.serial));
            report.fat_type = Some(info.fat_type);
        }
        (Filesystem::None, Loaded::Image(path, len)) => {
            if *len > part.size {
                bail!(
                    "image {} is {len} bytes but the partition holds {}; make `size` at least {len} (or \"auto\")",
                    path.display(),
                    part.size
                );
            }
            copy_image(image, part, path)?;
        }
        _ => {}
    }
    Ok(report)
}

/// Copies a raw image file into a partition, data runs only.
fn copy_image(image: &mut Image, part: &PlannedPartition, path: &Path) -> Result<()> {
    let file = fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; 1 << 20];
    for (start, end) in ingot_disk::data_ranges(&file, len)? {
        let mut pos = start;
        while pos < end {
            let n = (end - pos).min(buf.len() as u64) as usize;
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf[..n], pos)
                .with_context(|| format!("{}: read at {pos}", path.display()))?;
            image.write_at(&buf[..n], part.offset + pos)?;
            pos += n as u64;
        }
    }
    Ok(())
}

fn write_table(image: &mut Image, plan: &Plan) -> Result<()> {
    match plan.table {
        TableKind::Gpt => {
            let partitions = plan
                .partitions
                .iter()
                .map(|p| gpt::Partition {
                    type_guid: p.kind().gpt_guid(),
                    guid: p.guid,
                    first_lba: p.offset / SECTOR,
                    last_lba: (p.offset + p.size) / SECTOR - 1,
                    attributes: 0,
                    name: p.spec.label.clone(),
                })
                .collect();
            gpt::write(image, &gpt::Table { disk_guid: plan.disk_guid, partitions })?;
        }
        TableKind::Mbr => {
            let partitions = plan
                .partitions
                .iter()
                .enumerate()
                .map(|(slot, p)| mbr::Partition {
                    slot,
                    kind: p.kind().mbr_byte(),
                    bootable: p.spec.bootable,
                    first_lba: (p.offset / SECTOR) as u32,
                    sectors: (p.size / SECTOR) as u32,
                })
                .collect();
            mbr::write(image, &mbr::Table { disk_signature: plan.disk_signature, partitions })?;
        }
    }
    Ok(())
}
